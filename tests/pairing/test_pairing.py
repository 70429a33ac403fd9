"""Positive-pair search: strategies, cutoffs, certification, the config and its overrides, files, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample
from codec_jax.emd import CloudPair, EMDSettings, emd_lower_bound, exact_emd
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample, wrap_phi
from codec_jax.pairing import PairingConfig, PairSet, find_pairs, jet_particles, load_pairs, save_pairs
from codec_jax.pairing.candidates import random_candidates
from codec_jax.studies import apply_study_overrides, load_study_config

pytest.importorskip("ot")

MACK_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "mack.py"
MACK_EMD = EMDSettings(R=1.0, beta=1.0, norm=False)


def _below(cutoff: float, **settings) -> PairingConfig:
    """A search config with the cutoff ``C`` given directly (no quantile)."""
    return PairingConfig(cutoff=cutoff, cutoff_quantile=None, **settings)


def _absolute_sample(pt, xy, rng):
    jet_eta, jet_phi = rng.uniform(-1.5, 1.5, len(pt)), rng.uniform(-np.pi, np.pi, len(pt))
    eta = xy[..., 0] + jet_eta[:, None]
    phi = wrap_phi(xy[..., 1] + jet_phi[:, None])
    parts = np.stack([pt, eta, phi, pt * np.cosh(eta)], axis=-1) * (pt > 0)[..., None]
    jets = {"pt": pt.sum(axis=1), "eta": jet_eta, "phi": jet_phi}
    return JetSample.from_arrays(parts, pt > 0, ("pt", "eta", "phi", "energy"), jets)


@pytest.fixture(scope="module")
def samples():
    """24 nominal and 20 alternate jets (12 of them perturbed copies of nominal jets)."""
    rng = np.random.default_rng(11)
    pt, xy = make_jets(rng, 32, 30, min_particles=10)
    close_pt, close_xy = perturb_jets(rng, pt[:12], xy[:12], scale=0.1, smear=0.3)
    alt_pt, alt_xy = np.concatenate([close_pt, pt[24:]]), np.concatenate([close_xy, xy[24:]])
    labels = np.zeros(24)
    labels[[3, 17]] = 1
    nominal = relative_sample(pt[:24], xy[:24], labels)
    alternate = relative_sample(alt_pt, alt_xy)
    # The full 24 x 20 grid of exact EMDs, as the independent reference.
    ii, jj = np.meshgrid(np.arange(24), np.arange(20), indexing="ij")
    grid_pairs = CloudPair(jet_particles(nominal).take(ii.ravel()), jet_particles(alternate).take(jj.ravel()))
    grid = exact_emd(grid_pairs, MACK_EMD).reshape(24, 20)
    return nominal, alternate, grid


def _pair_set(pairs: PairSet) -> set[tuple[int, int]]:
    return set(zip(pairs.nominal_index.tolist(), pairs.alternate_index.tolist()))


def _expected(grid, cutoff, include_signal=True, labels=None):
    rows = range(grid.shape[0]) if include_signal else [i for i in range(grid.shape[0]) if labels[i] != 1]
    return {(i, j) for i in rows for j in range(grid.shape[1]) if grid[i, j] < cutoff}


def test_full_grid_pairs_are_exactly_those_below_cutoff(samples):
    nominal, alternate, grid = samples
    cutoff = float(np.quantile(grid, 0.3))
    # nearest with k >= n_alternate evaluates the whole grid
    config = _below(cutoff, strategy="nearest", candidates=20, include_signal=True, backend="exact")
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    assert _pair_set(pairs) == _expected(grid, cutoff)
    np.testing.assert_allclose(pairs.emd, grid[pairs.nominal_index, pairs.alternate_index], rtol=1e-6)
    assert pairs.settings["n_evaluated"] == 24 * 20


def test_certified_sinkhorn_equals_exact(samples):
    nominal, alternate, grid = samples
    cutoff = float(np.median(grid))
    config = _below(cutoff, strategy="nearest", candidates=20, certified=True, include_signal=True,
                    backend="sinkhorn", batch_size=49)  # fmt: skip
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    assert _pair_set(pairs) == _expected(grid, cutoff)
    assert pairs.settings["n_exact_for_certification"] + pairs.settings["n_certified_by_bounds"] == 480
    assert pairs.settings["fraction_decided_by_bounds"] > 0.8


def test_exclude_signal_and_quantile_cutoff(samples):
    nominal, alternate, grid = samples
    config = PairingConfig(strategy="nearest", candidates=20, cutoff_quantile=0.25, backend="exact")
    pairs = find_pairs(1, nominal, alternate, config, progress=False)
    background = [i for i in range(24) if nominal.label[i] != 1]
    expected_cutoff = np.quantile(grid[background], 0.25)
    assert pairs.settings["cutoff"] == pytest.approx(expected_cutoff, rel=1e-9)
    assert _pair_set(pairs) == _expected(grid, expected_cutoff, include_signal=False, labels=nominal.label)
    assert not set(pairs.nominal_index.tolist()) & {3, 17}


def test_random_pairs_are_subset_and_balanced(samples):
    nominal, alternate, grid = samples
    cutoff = float(np.quantile(grid, 0.4))
    config = _below(cutoff, candidates=4, include_signal=True, backend="exact")
    pairs = find_pairs(5, nominal, alternate, config, progress=False)
    assert _pair_set(pairs) <= _expected(grid, cutoff)
    assert pairs.settings["n_candidates"] <= 24 * 4
    rng = np.random.default_rng(0)
    nominal_index, alternate_index = random_candidates(rng, 100, 30, 3)
    counts = np.bincount(alternate_index, minlength=30)
    assert counts.max() - counts.min() <= 6  # each round deals every alternate jet 3-4 times
    assert len(set(zip(nominal_index.tolist(), alternate_index.tolist()))) == len(nominal_index)


def test_nearest_beats_random_at_equal_budget():
    rng = np.random.default_rng(2)
    pt, xy = make_jets(rng, 160, 20, jet_pt=(300.0, 900.0))
    nominal, alternate = relative_sample(pt[:60], xy[:60]), relative_sample(pt[60:], xy[60:])
    best = {}
    for strategy in ("random", "nearest"):
        config = _below(1e9, strategy=strategy, candidates=5, backend="exact")
        pairs = find_pairs(0, nominal, alternate, config, progress=False)
        assert pairs.settings["n_candidates"] <= 60 * 5
        per_jet = np.full(60, np.inf)
        np.minimum.at(per_jet, pairs.nominal_index, pairs.emd)
        best[strategy] = np.median(per_jet)
    assert best["nearest"] < best["random"]


@pytest.mark.parametrize("norm", [False, True])
def test_cheap_lower_bound_holds_and_prefilter_skips(samples, norm):
    nominal, alternate, grid = samples
    ii, jj = np.meshgrid(np.arange(24), np.arange(20), indexing="ij")
    grid_pairs = CloudPair(jet_particles(nominal).take(ii.ravel()), jet_particles(alternate).take(jj.ravel()))
    settings = EMDSettings(R=1.0, beta=1.0, norm=norm)
    exact = grid.ravel() if not norm else exact_emd(grid_pairs, settings)
    bound = emd_lower_bound(grid_pairs, settings)
    assert np.all(bound <= exact * (1 + 1e-6) + 1e-9)
    assert np.mean(bound > 0) > 0.9
    cutoff = float(np.quantile(exact, 0.2))
    config = _below(cutoff, strategy="prefiltered", candidates=6, emd=settings, include_signal=True,
                    backend="exact")  # fmt: skip
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    exact_grid = exact.reshape(24, 20)
    assert all(exact_grid[i, j] < cutoff for i, j in _pair_set(pairs))
    if not norm:
        assert pairs.settings["n_skipped_by_bound"] > 0


def test_relative_and_absolute_samples_give_same_particles(samples):
    rng = np.random.default_rng(4)
    pt, xy = make_jets(rng, 6, 15)
    rel_pt, rel_xy = jet_particles(relative_sample(pt, xy))
    abs_pt, abs_xy = jet_particles(_absolute_sample(pt, xy, rng))
    np.testing.assert_allclose(abs_pt, rel_pt, rtol=1e-5)
    np.testing.assert_allclose(abs_xy, rel_xy, atol=2e-5)


def test_save_load_round_trip_and_plot(samples, tmp_path):
    nominal, alternate, grid = samples
    config = _below(float(np.median(grid)), candidates=5, backend="exact")
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    path = save_pairs(pairs, tmp_path / "pairs.npz")
    loaded = load_pairs(path)
    for name in ("nominal_index", "alternate_index", "emd", "candidate_emd"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(pairs, name))
    assert loaded.nominal_index.dtype == np.int64 and loaded.emd.dtype == np.float32
    assert loaded.settings == json.loads(json.dumps(pairs.settings))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.npz"]  # no temporary files left
    from codec_jax.pairing.plots import plot_pair_emd

    png = plot_pair_emd(loaded, tmp_path / "pairs.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_files_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_pairs(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        load_pairs(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", nominal_index=np.zeros(2, np.int64), emd=np.zeros(2, np.float32))
    with pytest.raises(DataError, match="'alternate_index' missing"):
        load_pairs(tmp_path / "partial.npz")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": "closest"}, "pairing.strategy must be one of"),
        ({"cutoff": 1.0}, r"pairing.cutoff=1.0 and pairing.cutoff_quantile=0.2 are both set"),
        ({"cutoff_quantile": None}, "pairing.cutoff and pairing.cutoff_quantile are both None"),
        ({"cutoff_quantile": 1.5}, r"pairing.cutoff_quantile must be in \(0, 1\)"),
        ({"cutoff": 0.0, "cutoff_quantile": None}, "pairing.cutoff must be > 0"),
        ({"candidates": 0}, "pairing.candidates must be >= 1"),
        ({"backend": "gpu"}, "pairing.backend"),
        ({"emd": EMDSettings(R=1.0, beta=1.0)}, None),
    ],
)
def test_config_is_validated_naming_the_field(samples, changes, message):
    nominal, alternate, _ = samples
    if message is None:  # a valid change
        PairingConfig(**changes)
        return
    with pytest.raises(ConfigError, match=message):
        PairingConfig(**changes)
    # Changed in place (as study overrides do), the search refuses it before any work.
    config = PairingConfig()
    for name, value in changes.items():
        setattr(config, name, value)
    with pytest.raises(ConfigError, match=message):
        find_pairs(0, nominal, alternate, config, progress=False)


def test_bad_arguments_raise(samples):
    nominal, alternate, _ = samples
    with pytest.raises(ConfigError, match=r"R must be > 0"):
        PairingConfig(emd=EMDSettings(R=-1.0))
    with pytest.raises(TypeError, match="PairingConfig"):
        find_pairs(0, nominal, alternate, {"cutoff": 1.0})
    with pytest.raises(DataError, match="jets in both samples"):
        find_pairs(0, nominal[np.asarray(nominal.label) == 1], alternate, _below(1.0))
    broken = nominal.replace(pt=np.zeros(len(nominal)))
    with pytest.raises(DataError, match="'pt'"):
        find_pairs(0, broken, alternate, _below(1.0))


def test_study_overrides_reach_the_search(samples):
    """``--set pairing.*`` overrides of the MACK config change what find_pairs does and records."""
    nominal, alternate, grid = samples
    mack = load_study_config(MACK_CONFIG, "smoke")
    assert mack.pairing == PairingConfig(cutoff_quantile=0.3)  # MACK: R = 1, beta = 1, GeV
    overrides = ["pairing.cutoff=60", "pairing.cutoff_quantile=none", "pairing.emd.R=0.8",
                 "pairing.backend=exact", "pairing.include_signal=true"]  # fmt: skip
    config = apply_study_overrides(mack, overrides).pairing
    assert config.cutoff == 60.0 and config.cutoff_quantile is None and config.emd == EMDSettings(R=0.8)
    assert mack.pairing.emd.R == 1.0  # the original is untouched
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    assert pairs.settings["cutoff"] == 60.0 and pairs.settings["cutoff_quantile"] is None
    assert (pairs.settings["R"], pairs.settings["beta"], pairs.settings["norm"]) == (0.8, 1.0, False)
    assert len(pairs) > 0 and np.all(pairs.emd < 60.0)
    chosen = CloudPair(
        jet_particles(nominal).take(pairs.nominal_index), jet_particles(alternate).take(pairs.alternate_index)
    )
    np.testing.assert_allclose(pairs.emd, exact_emd(chosen, EMDSettings(R=0.8)), rtol=1e-6)
    with_r1 = grid[pairs.nominal_index, pairs.alternate_index]
    assert np.all(pairs.emd >= with_r1 * (1 - 1e-6)) and np.any(pairs.emd > 1.01 * with_r1)  # R = 0.8 < 1
    # The cutoff alone leaves the default quantile set too: refused, naming both fields.
    both = apply_study_overrides(mack, ["pairing.cutoff=30"]).pairing
    with pytest.raises(ConfigError, match="pairing.cutoff=30.0 and pairing.cutoff_quantile=0.3"):
        find_pairs(0, nominal, alternate, both, progress=False)
    with pytest.raises(ConfigError, match=r"override 'pairing.emd.R': .*R must be > 0"):
        apply_study_overrides(mack, ["pairing.emd.R=0"])
    with pytest.raises(ConfigError, match="pairing.emd.radius"):
        apply_study_overrides(mack, ["pairing.emd.radius=1"])


def test_cli_pair(samples, tmp_path):
    pytest.importorskip("uproot")
    from codec_jax.cli import main
    from codec_jax.data.io import write_root

    rng = np.random.default_rng(9)
    pt, xy = make_jets(rng, 30, 20)
    write_root(_absolute_sample(pt[:15], xy[:15], rng), tmp_path / "nominal.root")
    write_root(_absolute_sample(pt[15:], xy[15:], rng), tmp_path / "alternate.root")
    out = tmp_path / "pairs.npz"
    status = main(["pair", "--nominal", str(tmp_path / "nominal.root"), "--alternate", str(tmp_path / "alternate.root"),
                   "--candidates", "4", "--cutoff-quantile", "0.5", "--backend", "exact", "--out", str(out)])  # fmt: skip
    assert status == 0
    pairs = load_pairs(out)
    assert 0 < len(pairs) <= 15 * 4 and pairs.settings["strategy"] == "random"
    assert (tmp_path / "pairs.png").is_file()
    assert main(["pair", "--nominal", str(tmp_path / "missing.root"), "--alternate", str(out), "--cutoff", "1",
                 "--out", str(tmp_path / "x.npz")]) == 2  # fmt: skip
