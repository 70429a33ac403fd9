"""Fewer exact solves: the lower bound never exceeds the exact EMD, a pruned candidate is never a
pair, and pruning gives exactly the pairs and cutoff of solving every candidate."""

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, emd_lower_bound, exact_emd
from codec_jax.errors import ConfigError
from codec_jax.pairing import PairingConfig, find_pairs
from codec_jax.pairing.evaluate import EMDResult
from codec_jax.pairing.pruning import evaluate_pruned

pytest.importorskip("ot")


@pytest.mark.parametrize("kind", ["random", "near-duplicate"])
@pytest.mark.parametrize("R", [0.8, 1.0])
def test_the_bound_never_exceeds_the_exact_emd(kind, R):
    rng = np.random.default_rng(3)
    pt, xy = make_jets(rng, 300, 30)
    if kind == "random":
        other_pt, other_xy = make_jets(rng, 300, 30)
    else:
        other_pt, other_xy = perturb_jets(rng, pt, xy, scale=0.05, smear=0.05)
    pair = CloudPair(ParticleClouds(pt, xy), ParticleClouds(other_pt, other_xy))
    settings = EMDSettings(R=R, beta=1.0, norm=False)
    exact = exact_emd(pair, settings)
    bound = emd_lower_bound(pair, settings)
    assert np.all(bound <= exact * (1 + 1e-9) + 1e-6)
    energy = np.abs(pt.sum(1) - other_pt.sum(1))
    assert np.mean(bound > energy + 1e-3) > 0.2  # the radial terms tighten the energy bound


def test_pruned_evaluation_reproduces_the_quantile_of_all_values():
    rng = np.random.default_rng(0)
    values = rng.gamma(3.0, 20.0, 5000)
    bound = values * rng.uniform(0.6, 1.0, 5000)
    calls = []

    def evaluate(rows):
        calls.append(len(rows))
        return EMDResult(values[rows])

    for quantile in (0.05, 0.2, 0.5):
        calls.clear()
        rows, result, cutoff = evaluate_pruned(bound, evaluate, cutoff=None, quantile=quantile, chunk=256)
        assert cutoff == np.quantile(values, quantile)
        np.testing.assert_array_equal(result.emd, values[rows])
        assert np.all(np.diff(rows) > 0) and sum(calls) == len(rows) < 5000
        unsolved = np.setdiff1d(np.arange(5000), rows)
        assert np.all(values[unsolved] >= cutoff)  # never a pair


def _samples(seed=1, n=120):
    rng = np.random.default_rng(seed)
    pt, xy = make_jets(rng, n, 30)
    nominal = relative_sample(pt, xy)
    alternate = relative_sample(*perturb_jets(rng, pt, xy, scale=0.1, smear=0.1))
    return nominal, alternate


@pytest.mark.parametrize("cut", [{"cutoff_quantile": 0.2}, {"cutoff": 60.0, "cutoff_quantile": None}])
def test_pruning_gives_the_pairs_of_solving_every_candidate(cut):
    nominal, alternate = _samples()
    base = PairingConfig(strategy="random", candidates=11, backend="exact", **cut)
    full = find_pairs(4, nominal, alternate, base, progress=False)
    pruned = find_pairs(
        4, nominal, alternate, PairingConfig(**{**base.__dict__, "prune": True}), progress=False
    )
    assert pruned.settings["cutoff"] == full.settings["cutoff"]
    np.testing.assert_array_equal(pruned.nominal_index, full.nominal_index)
    np.testing.assert_array_equal(pruned.alternate_index, full.alternate_index)
    np.testing.assert_array_equal(pruned.emd, full.emd)
    assert pruned.settings["n_skipped_by_bound"] > 0.3 * pruned.settings["n_candidates"]


def test_pruning_cannot_be_combined_with_ot_plan():
    with pytest.raises(ConfigError, match="pairing.prune cannot be used with pairing.strategy='ot_plan'"):
        PairingConfig(strategy="ot_plan", prune=True)


@pytest.mark.generate
def test_no_pruned_candidate_is_below_the_cutoff_on_pythia_jets(tmp_path):
    from codec_jax.data.generate import generate_sample

    nominal = generate_sample("qcd", n_jets=40, seed=3, chunk_jets=40)
    alternate = generate_sample("qcd", n_jets=40, seed=4, chunk_jets=40, variant="fsr_had_alt")
    config = PairingConfig(strategy="random", candidates=11, backend="exact", prune=True)
    pruned = find_pairs(0, nominal, alternate, config, progress=False)
    full = find_pairs(
        0, nominal, alternate, PairingConfig(**{**config.__dict__, "prune": False}), progress=False
    )
    assert pruned.settings["cutoff"] == full.settings["cutoff"]
    np.testing.assert_array_equal(pruned.emd, full.emd)
    # every candidate the bound skipped has an exact EMD at or above the cutoff
    evaluated = set(zip(pruned.nominal_index.tolist(), pruned.alternate_index.tolist()))
    assert set(zip(full.nominal_index.tolist(), full.alternate_index.tolist())) == evaluated
    assert np.all(
        full.candidate_emd[np.argsort(full.candidate_emd)][len(pruned.candidate_emd) :]
        >= full.settings["cutoff"]
    )
