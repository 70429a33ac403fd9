"""Tests of codec_jax.metrics against independent computations written here (brute-force scans,
the Mann-Whitney statistic, scipy's Jensen-Shannon distance, explicit distance matrices)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import spatial, stats

from codec_jax import metrics
from codec_jax.errors import DataError


@pytest.fixture(scope="module")
def sample() -> dict[str, np.ndarray]:
    """600 background and 400 signal jets; scores rounded to 0.02 so that many are tied, integer
    weights 1..3, a mass that the score partly depends on."""
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(600, int), np.ones(400, int)]
    mass = rng.uniform(50, 250, labels.size)
    scores = np.round(rng.normal(labels * 1.2 + 0.004 * (mass - 150), 1.0) / 0.02) * 0.02
    weights = rng.integers(1, 4, labels.size).astype(float)
    return {"scores": scores, "labels": labels, "mass": mass, "weights": weights}


def brute_force_cut(scores, labels, efficiency, weights, of_label=1):
    """The highest candidate threshold (a score value) keeping >= efficiency of class ``of_label``,
    and the efficiencies of both classes there, by a scan over every distinct score."""
    best = None
    for threshold in np.unique(scores):
        passing = scores >= threshold
        eff = {c: weights[passing & (labels == c)].sum() / weights[labels == c].sum() for c in (0, 1)}
        if eff[of_label] >= efficiency and (best is None or threshold > best[0]):
            best = (threshold, eff[0], eff[1])
    return best


def mann_whitney_auc(scores, labels, weights):
    sig, bkg = labels == 1, labels == 0
    s, b = scores[sig][:, None], scores[bkg][None, :]
    pair_weight = weights[sig][:, None] * weights[bkg][None, :]
    wins = (s > b) + 0.5 * (s == b)
    return (pair_weight * wins).sum() / pair_weight.sum()


# --------------------------------------------------------------------------- ROC, AUC, rejection
def test_auc_equals_mann_whitney_with_ties_and_weights(sample):
    scores, labels, weights = sample["scores"], sample["labels"], sample["weights"]
    assert metrics.roc_auc(scores, labels, weights) == pytest.approx(
        mann_whitney_auc(scores, labels, weights), abs=1e-12
    )
    unweighted = metrics.roc_auc(scores, labels)
    u_statistic = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert unweighted == pytest.approx(u_statistic / (400 * 600), abs=1e-12)
    # Integer weights are the same as repeating jets.
    repeat = weights.astype(int)
    repeated = metrics.roc_auc(np.repeat(scores, repeat), np.repeat(labels, repeat))
    assert metrics.roc_auc(scores, labels, weights) == pytest.approx(repeated, abs=1e-12)
    assert metrics.roc_auc(-scores, labels) == pytest.approx(1.0 - unweighted, abs=1e-12)


def test_roc_curve_matches_direct_efficiencies(sample):
    scores, labels, weights = sample["scores"], sample["labels"], sample["weights"]
    eps_bkg, eps_sig, thresholds = metrics.roc_curve(scores, labels, weights)
    assert thresholds[0] == np.inf and (eps_bkg[0], eps_sig[0]) == (0.0, 0.0)
    assert eps_bkg[-1] == pytest.approx(1.0) and eps_sig[-1] == pytest.approx(1.0)
    assert np.all(np.diff(thresholds) < 0) and np.all(np.diff(eps_sig) >= 0)
    np.testing.assert_array_equal(thresholds[1:], np.unique(scores)[::-1])
    for i in range(1, thresholds.size, 7):
        passing = scores >= thresholds[i]
        for eps, label in ((eps_bkg, 0), (eps_sig, 1)):
            direct = weights[passing & (labels == label)].sum() / weights[labels == label].sum()
            assert eps[i] == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize("efficiency", [0.3, 0.5, 0.77])
def test_rejection_and_threshold_match_a_brute_force_scan(sample, efficiency):
    scores, labels, weights = sample["scores"], sample["labels"], sample["weights"]
    threshold, eps_bkg, eps_sig = brute_force_cut(scores, labels, efficiency, weights)
    assert metrics.threshold_at_efficiency(scores, labels, efficiency, weights=weights) == threshold
    assert metrics.background_rejection(scores, labels, efficiency, weights) == pytest.approx(
        1.0 / eps_bkg, rel=1e-12
    )
    assert metrics.efficiency(scores[labels == 1], threshold, weights[labels == 1]) == pytest.approx(eps_sig)
    assert eps_sig >= efficiency  # ties: at least the target is kept
    threshold_bkg, eps_bkg, _ = brute_force_cut(scores, labels, efficiency, weights, of_label=0)
    assert (
        metrics.threshold_at_efficiency(scores, labels, efficiency, label=0, weights=weights) == threshold_bkg
    )
    # Unweighted, continuous scores: R50 is exact to one jet.
    continuous = sample["mass"] / 250 + 0.1 * labels
    threshold, eps_bkg, eps_sig = brute_force_cut(continuous, labels, efficiency, np.ones(labels.size))
    assert metrics.background_rejection(continuous, labels, efficiency) == pytest.approx(1.0 / eps_bkg)
    assert eps_sig == pytest.approx(np.ceil(efficiency * 400) / 400)


def test_rejection_is_infinite_when_no_background_passes():
    scores = np.r_[np.zeros(50), np.ones(50)]
    labels = np.r_[np.zeros(50), np.ones(50)]
    assert metrics.background_rejection(scores, labels, 0.5) == np.inf
    assert metrics.roc_auc(scores, labels) == 1.0
    # Everything tied: every cut keeps everything, so eps_bkg = 1.
    assert metrics.background_rejection(np.ones(100), labels, 0.5) == 1.0
    assert metrics.roc_auc(np.ones(100), labels) == 0.5


# --------------------------------------------------------------------------- sculpting
def test_jsd_is_the_squared_scipy_distance_and_a_direct_sum():
    rng = np.random.default_rng(0)
    p, q = rng.random(12), rng.random(12)
    p[3] = 0.0
    expected = spatial.distance.jensenshannon(p, q) ** 2
    pn, qn = p / p.sum(), q / q.sum()
    m = (pn + qn) / 2
    direct = 0.5 * sum(a * np.log(a / c) for a, c in zip(pn, m) if a > 0) + 0.5 * sum(
        b * np.log(b / c) for b, c in zip(qn, m) if b > 0
    )
    assert metrics.jsd(p, q) == pytest.approx(expected, rel=1e-10)
    assert metrics.jsd(p, q) == pytest.approx(direct, rel=1e-12)
    assert metrics.jsd(q, p) == pytest.approx(metrics.jsd(p, q), rel=1e-12)
    assert metrics.jsd(p, 3 * p) == pytest.approx(0.0, abs=1e-15)
    assert metrics.jsd([1, 0], [0, 1]) == pytest.approx(np.log(2))


def test_inverse_jsd_matches_a_direct_computation(sample):
    scores, labels, mass, weights = sample["scores"], sample["labels"], sample["mass"], sample["weights"]
    edges = np.linspace(50, 250, 11)
    threshold, _, _ = brute_force_cut(scores, labels, 0.5, weights)
    bkg = labels == 0
    passing = scores[bkg] >= threshold
    hist_pass = np.histogram(mass[bkg][passing], edges, weights=weights[bkg][passing])[0]
    hist_fail = np.histogram(mass[bkg][~passing], edges, weights=weights[bkg][~passing])[0]
    expected = 1.0 / spatial.distance.jensenshannon(hist_pass, hist_fail) ** 2
    assert metrics.inverse_jsd(scores, labels, mass, edges, 0.5, weights) == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def large_background() -> dict[str, np.ndarray]:
    """20k background jets with a falling mass spectrum and 2k signal jets."""
    rng = np.random.default_rng(11)
    mass = np.r_[40 + rng.exponential(60, 20_000), rng.normal(175, 15, 2_000)]
    labels = np.r_[np.zeros(20_000, int), np.ones(2_000, int)]
    return {"mass": mass, "labels": labels, "rng_scores": rng.normal(labels, 1.0)}


def test_mass_independent_score_reaches_the_floor_and_mass_score_sculpts(large_background):
    mass, labels = large_background["mass"], large_background["labels"]
    edges = np.linspace(40, 300, 21)
    independent = large_background["rng_scores"]  # depends on the label only, not on mass
    value = metrics.inverse_jsd(independent, labels, mass, edges)
    floor = metrics.inverse_jsd_floor(independent, labels, mass, edges, n_trials=30, seed=1)
    assert abs(value - floor.mean) < 4 * floor.std
    # The floor against its closed form E[JSD] ~ (B - 1) / 8 * (1 / k + 1 / (n - k)).
    bkg_mass = mass[labels == 0]
    populated = np.count_nonzero(np.histogram(bkg_mass, edges)[0])
    threshold = metrics.threshold_at_efficiency(independent, labels, 0.5)
    k = np.count_nonzero(independent[labels == 0] >= threshold)
    n = bkg_mass.size
    expected_jsd = (populated - 1) / 8 * (1 / k + 1 / (n - k))
    assert np.mean(1.0 / floor.values) == pytest.approx(expected_jsd, rel=0.2)
    # Deterministic for an int seed.
    again = metrics.inverse_jsd_floor(independent, labels, mass, edges, n_trials=30, seed=1)
    np.testing.assert_array_equal(again.values, floor.values)
    # A score equal to the mass sculpts maximally: 1/JSD is tiny, far below the floor.
    sculpted = metrics.inverse_jsd(mass, labels, mass, edges)
    assert sculpted < 5.0 < floor.mean / 20


def test_efficiency_vs_mass_matches_a_loop_over_bins(sample):
    scores, mass, weights = sample["scores"], sample["mass"], sample["weights"]
    edges = np.array([0.0, 50.0, 100, 150, 200, 250])  # the first bin is empty
    result = metrics.efficiency_vs_mass(scores, mass, 0.4, edges, weights)
    assert np.isnan(result.efficiency[0]) and result.weight[0] == 0
    for i in range(1, 5):
        in_bin = (
            (mass >= edges[i]) & (mass < edges[i + 1])
            if i < 4
            else (mass >= edges[i]) & (mass <= edges[i + 1])
        )
        w = weights[in_bin]
        eff = w[scores[in_bin] >= 0.4].sum() / w.sum()
        n_eff = w.sum() ** 2 / (w**2).sum()
        assert result.efficiency[i] == pytest.approx(eff, rel=1e-12)
        assert result.uncertainty[i] == pytest.approx(np.sqrt(eff * (1 - eff) / n_eff), rel=1e-12)
        assert result.weight[i] == pytest.approx(w.sum())


# --------------------------------------------------------------------------- MACK robustness
def test_fractional_change_is_zero_for_identical_samples(sample):
    scores, labels, weights = sample["scores"], sample["labels"], sample["weights"]
    for fixed in ("signal", "background"):
        change = metrics.fractional_efficiency_change(
            scores,
            labels,
            scores.copy(),
            labels.copy(),
            fixed=fixed,
            weights_nominal=weights,
            weights_alternate=weights,
        )
        assert change == 0.0
        curve = metrics.fractional_efficiency_change_curve(
            scores, labels, scores, labels, fixed=fixed, efficiencies=[0.2, 0.5, 0.8]
        )
        np.testing.assert_array_equal(curve.change, 0.0)


@pytest.mark.parametrize("fixed", ["signal", "background"])
def test_fractional_change_matches_a_direct_computation(sample, fixed):
    scores, labels, weights = sample["scores"], sample["labels"], sample["weights"]
    rng = np.random.default_rng(5)
    alt_labels = np.r_[np.zeros(500, int), np.ones(300, int)]
    alt_scores = rng.normal(alt_labels * 1.0 + 0.2, 1.1)  # a shifted, wider alternate sample
    alt_weights = rng.uniform(0.5, 2.0, alt_labels.size)
    fixed_label, other = (1, 0) if fixed == "signal" else (0, 1)
    for efficiency in (0.3, 0.5):
        threshold, *_ = brute_force_cut(scores, labels, efficiency, weights, of_label=fixed_label)
        nominal = weights[(labels == other) & (scores >= threshold)].sum() / weights[labels == other].sum()
        alt_pass = (alt_labels == other) & (alt_scores >= threshold)
        alternate = alt_weights[alt_pass].sum() / alt_weights[alt_labels == other].sum()
        change = metrics.fractional_efficiency_change(
            scores,
            labels,
            alt_scores,
            alt_labels,
            fixed=fixed,
            efficiency=efficiency,
            weights_nominal=weights,
            weights_alternate=alt_weights,
        )
        assert change == pytest.approx((alternate - nominal) / nominal, rel=1e-12)
        assert change != 0.0
    curve = metrics.fractional_efficiency_change_curve(
        scores,
        labels,
        alt_scores,
        alt_labels,
        fixed=fixed,
        weights_nominal=weights,
        weights_alternate=alt_weights,
    )
    np.testing.assert_allclose(curve.efficiency, np.linspace(0.05, 0.95, 19))
    point = metrics.fractional_efficiency_change(
        scores,
        labels,
        alt_scores,
        alt_labels,
        fixed=fixed,
        efficiency=0.45,
        weights_nominal=weights,
        weights_alternate=alt_weights,
    )
    assert curve.change[8] == pytest.approx(point, rel=1e-12)


# --------------------------------------------------------------------------- latent space
def distance_correlation_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Szekely's V-statistic from explicit double-centred distance matrices."""

    def centred(v):
        d = np.abs(v[:, None] - v[None, :])
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(y)
    return np.sqrt((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean()))


def test_latent_mass_correlation_against_references():
    rng = np.random.default_rng(9)
    mass = rng.uniform(-1, 1, 300)
    latent = np.stack(
        [2 * mass + rng.normal(0, 0.3, 300), mass**2, rng.normal(size=300), np.full(300, 4.0)], axis=1
    )
    result = metrics.latent_mass_correlation(latent, mass)
    for dim in range(3):
        assert result.pearson[dim] == pytest.approx(np.corrcoef(latent[:, dim], mass)[0, 1], abs=1e-12)
        assert result.distance[dim] == pytest.approx(
            distance_correlation_reference(mass, latent[:, dim]), rel=1e-9
        )
    assert result.pearson[0] > 0.9
    assert abs(result.pearson[1]) < 0.15 < 0.4 < result.distance[1]  # non-linear: only dCorr sees it
    assert result.distance[2] < 0.15  # independent
    assert result.pearson[3] == 0.0 and result.distance[3] == 0.0  # constant dimension
    # Integer weights are the same as repeating jets.
    repeat = rng.integers(1, 4, 300)
    weighted = metrics.latent_mass_correlation(latent, mass, repeat.astype(float))
    repeated = metrics.latent_mass_correlation(np.repeat(latent, repeat, axis=0), np.repeat(mass, repeat))
    np.testing.assert_allclose(weighted.pearson, repeated.pearson, atol=1e-12)
    np.testing.assert_allclose(weighted.distance, repeated.distance, rtol=1e-9)
    # Above max_samples the distance correlation uses a seeded subset.
    subset = metrics.latent_mass_correlation(latent, mass, max_samples=200, seed=4)
    np.testing.assert_allclose(subset.distance[:2], result.distance[:2], atol=0.08)
    again = metrics.latent_mass_correlation(latent, mass, max_samples=200, seed=4)
    np.testing.assert_array_equal(subset.distance, again.distance)


# --------------------------------------------------------------------------- errors
def test_invalid_inputs_raise_data_errors_naming_the_argument():
    scores, labels = np.array([0.1, 0.9, 0.5]), np.array([0, 1, 1])
    with pytest.raises(DataError, match="'scores' is empty"):
        metrics.roc_auc([], [])
    with pytest.raises(DataError, match="'labels' has 2 entries, expected 3"):
        metrics.roc_auc(scores, labels[:2])
    with pytest.raises(DataError, match="'scores' holds 1 NaN"):
        metrics.background_rejection(np.array([0.1, np.nan, 0.5]), labels)
    with pytest.raises(DataError, match="'labels' must hold only 0"):
        metrics.roc_auc(scores, [0, 1, 2])
    with pytest.raises(DataError, match="'weights' holds negative"):
        metrics.roc_auc(scores, labels, [1.0, -1.0, 1.0])
    with pytest.raises(DataError, match="no background"):
        metrics.roc_auc(scores, [1, 1, 1])
    with pytest.raises(DataError, match="'mass' holds"):
        metrics.inverse_jsd(scores, labels, [1.0, np.inf, 2.0], [0, 1, 2])
    with pytest.raises(DataError, match="bin_edges"):
        metrics.inverse_jsd(scores, labels, [1.0, 1.5, 2.0], [2, 1])
    with pytest.raises(DataError, match="efficiency"):
        metrics.background_rejection(scores, labels, 0.0)
    with pytest.raises(DataError, match="'scores_alternate' is empty"):
        metrics.fractional_efficiency_change(scores, labels, [], [])
    with pytest.raises(DataError, match="fixed"):
        metrics.fractional_efficiency_change(scores, labels, scores, labels, fixed="both")
    with pytest.raises(DataError, match="'latent' must be"):
        metrics.latent_mass_correlation(np.ones(3), np.ones(3))


def test_participation_ratio_closed_forms():
    from codec_jax.metrics import participation_ratio

    rng = np.random.default_rng(5)
    variances = np.array([4.0, 1.0, 1.0, 0.25])
    z = rng.standard_normal((200_000, 4)) * np.sqrt(variances)
    rotation = np.linalg.qr(rng.standard_normal((4, 4)))[0]  # invariant under rotations
    expected = variances.sum() ** 2 / np.sum(variances**2)
    assert participation_ratio(z @ rotation) == pytest.approx(expected, rel=0.02)
    isotropic_in_3_of_8 = np.concatenate([rng.standard_normal((50_000, 3)), np.zeros((50_000, 5))], axis=1)
    assert participation_ratio(isotropic_in_3_of_8) == pytest.approx(3.0, rel=0.02)
    line = np.outer(rng.standard_normal(1000), rng.standard_normal(6))  # rank one
    assert participation_ratio(line) == pytest.approx(1.0, rel=1e-6)
    assert np.isnan(participation_ratio(np.ones((10, 4))))
    with pytest.raises(DataError, match="embeddings"):
        participation_ratio(np.zeros(5))
