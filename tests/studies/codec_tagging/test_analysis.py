"""The CoDec tagging measurement on toys: the excess JSD with its combined error (paired bootstrap
over test and sculpting jets + seeds) is consistent with zero for a mass-independent tagger and
large for a tagger that is the mass; the claims pick the matched scan points and orient effects."""

import numpy as np
import pytest

from codec_jax import metrics
from codec_jax.studies.codec_tagging.analysis import StudyJets, TaggerScores, measure, tagging_claims
from codec_jax.studies.codec_tagging.config import ClaimsConfig

EDGES = np.linspace(40.0, 200.0, 9)


def _toy(seed: int, n_test: int = 600, n_sculpting: int = 4000):
    """Test jets (Z' flat in mass, QCD falling) and a separate QCD sculpting sample, and the
    scores of a mass-blind tagger (3 seeds: independent noise) and of the mass itself."""
    rng = np.random.default_rng(seed)
    falling = lambda n: 40.0 + np.minimum(rng.exponential(45.0, n), 159.9)  # noqa: E731
    label = np.repeat([1, 0], n_test)
    test_mass = np.concatenate([rng.uniform(40, 200, n_test), falling(n_test)])
    sculpting_mass = falling(n_sculpting)
    jets = StudyJets(
        label, rng.uniform(0.5, 1.5, 2 * n_test) * (label == 1) + (label == 0), sculpting_mass, EDGES
    )
    blind = {
        str(s): TaggerScores(label + rng.normal(size=2 * n_test), rng.normal(size=n_sculpting))
        for s in range(3)
    }
    mass = {"fixed": TaggerScores(test_mass, sculpting_mass)}
    return jets, {"blind": blind, "mass": mass}


def test_excess_of_a_mass_independent_tagger_is_consistent_with_zero_and_the_mass_sculpts():
    pulls = []
    for toy in range(12):
        jets, scores = _toy(toy)
        table = measure(
            jets,
            scores,
            working_points=(0.5,),
            floor_trials=10,
            n_resamples=30,
            seed=toy,
            without_seeds=["mass"],
        )
        blind = table.measurement("blind", "excess_jsd50")
        pulls.append(blind.value / blind.error)
        sculpting = table.measurement("mass", "excess_jsd50")
        assert sculpting.value / sculpting.error > 10  # the mass itself: a large positive excess
        assert blind.seed_error > 0 and sculpting.seed_error == 0
    pulls = np.asarray(pulls)
    assert np.all(np.abs(pulls) < 3), pulls
    assert abs(pulls.mean()) < 3 / np.sqrt(len(pulls))


def _table(means: dict[str, dict[str, float]]) -> metrics.SeedMeanBootstrap:
    """A table with the given seed means, a spread of 0.001 (AUC) / 1e-4 (excess) / 0.1 (R) over
    two seeds and no bootstrap noise."""
    spreads = {"auc": 0.001, "sculpting_r50": 0.1, "excess_jsd50": 1e-4}
    quantities = tuple(spreads)
    per_seed = {
        model: np.array([[values[q] + sign * spreads[q] for q in quantities] for sign in (-1, 1)])
        for model, values in means.items()
    }
    boot = np.repeat(np.array([[[values[q] for q in quantities] for values in means.values()]]), 10, axis=0)
    return metrics.SeedMeanBootstrap(quantities, tuple(means), per_seed, boot, frozenset())


def test_claims_use_matched_scan_points_and_orient_effects():
    entry = lambda auc, r, excess: {"auc": auc, "sculpting_r50": r, "excess_jsd50": excess}  # noqa: E731
    table = _table(
        {
            "supervised_peaky": entry(0.78, 8.0, 0.010),
            "supervised_flat_1d": entry(0.83, 11.0, 0.004),
            "vicreg_flat": entry(0.82, 10.0, 0.001),
            "mode0_flat_w1": entry(0.83, 10.5, 0.003),
            "mode0_flat_w100": entry(0.80, 6.0, 0.0012),
            "disco_flat_w3": entry(0.81, 9.0, 0.0005),
        }
    )
    claims, matches = tagging_claims(table, ClaimsConfig(), 0.5)
    found = {claim.id: claim for claim in claims}
    assert set(found) == {
        "supervised_flat_1d:vs:supervised_peaky",
        "vicreg_flat:vs:supervised_flat_1d",
        "vicreg_flat:vs:mode0_at_matched_r50",
        "vicreg_flat:vs:disco_at_matched_r50",
        "vicreg_flat:auc_vs_mode0_at_matched_decorrelation",
    }
    assert found["supervised_flat_1d:vs:supervised_peaky"].effect == pytest.approx(0.006)
    assert found["supervised_flat_1d:vs:supervised_peaky"].verdict == "supported"
    # Matched in R50: mode0_flat_w1 (10.5 vs 10.0), which sculpts more than vicreg_flat.
    assert matches["vicreg_flat:vs:mode0_at_matched_r50"]["model"] == "mode0_flat_w1"
    assert found["vicreg_flat:vs:mode0_at_matched_r50"].effect == pytest.approx(0.002)
    # DisCo sculpts less than vicreg_flat at about the same R50: contradicted.
    assert found["vicreg_flat:vs:disco_at_matched_r50"].verdict == "contradicted"
    # Matched in decorrelation: mode0_flat_w100 (excess 0.0012 vs 0.001); AUC 0.82 vs 0.80 + 0.01.
    assert matches["vicreg_flat:auc_vs_mode0_at_matched_decorrelation"]["model"] == "mode0_flat_w100"
    assert found["vicreg_flat:auc_vs_mode0_at_matched_decorrelation"].effect == pytest.approx(0.03)
    for claim in claims:
        assert set(claim.to_dict()) >= {"id", "statement", "effect", "error", "n_sigma", "verdict", "rule"}
        assert claim.n_sigma == pytest.approx(claim.effect / claim.error)
