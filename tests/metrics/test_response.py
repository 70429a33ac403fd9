"""Response/resolution numerics and the binned calibration map, against direct NumPy computations."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax.baselines.mass_calibration import MSD_FLOOR, BinnedCalibration
from codec_jax.errors import ConfigError, DataError
from codec_jax.metrics.response import (
    bins_away_from,
    response_in_bins,
    response_summary,
    weighted_quantile,
)


def numpy_quantile(values, q, weights):
    return np.quantile(values, q, weights=weights, method="inverted_cdf")


# --------------------------------------------------------------------------- weighted quantiles
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_quantile_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=257)
    weights = rng.exponential(size=257)
    q = np.array([0.0, 0.16, 0.5, 0.84, 1.0])
    np.testing.assert_array_equal(weighted_quantile(values, q, weights), numpy_quantile(values, q, weights))
    np.testing.assert_array_equal(weighted_quantile(values, q), np.quantile(values, q, method="inverted_cdf"))


def test_integer_weights_equal_repeated_values_and_zero_weights_never_count():
    rng = np.random.default_rng(3)
    values = rng.uniform(size=40)
    counts = rng.integers(0, 4, size=40)
    counts[0] = 0
    values[0] = -100.0  # weight 0: must not be the minimum
    q = np.linspace(0, 1, 11)
    repeated = np.repeat(values, counts)
    np.testing.assert_array_equal(
        weighted_quantile(values, q, counts.astype(float)), np.quantile(repeated, q, method="inverted_cdf")
    )
    assert weighted_quantile(values, 0.0, counts.astype(float)) == repeated.min()


def test_weighted_quantile_rejects_bad_inputs():
    with pytest.raises(DataError, match="no values"):
        weighted_quantile(np.array([]), 0.5)
    with pytest.raises(DataError, match="non-negative"):
        weighted_quantile(np.ones(3), 0.5, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(DataError, match="NaN"):
        weighted_quantile(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ConfigError, match="quantiles"):
        weighted_quantile(np.ones(3), 1.5)


# --------------------------------------------------------------------------- response in bins
def test_response_in_bins_matches_a_direct_computation():
    rng = np.random.default_rng(4)
    truth = rng.uniform(30, 220, 3000)
    predicted = truth * rng.normal(1.02, 0.1, truth.size) * (1 + 0.001 * (truth - 100))
    weights = rng.uniform(0.2, 2.0, truth.size)
    edges = np.linspace(40, 200, 9)
    bins = response_in_bins(truth, predicted, edges, weights)
    for b in range(8):
        rows = (truth >= edges[b]) & ((truth < edges[b + 1]) if b < 7 else (truth <= edges[b + 1]))
        ratio, w = predicted[rows] / truth[rows], weights[rows]
        q16, q50, q84 = numpy_quantile(ratio, [0.16, 0.5, 0.84], w)
        assert bins.n[b] == rows.sum()
        assert bins.median[b] == q50 and bins.q16[b] == q16 and bins.q84[b] == q84
        assert bins.resolution[b] == pytest.approx((q84 - q16) / (2 * q50), rel=1e-12)
        assert bins.n_eff[b] == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)
    np.testing.assert_allclose(bins.centres, np.arange(50, 200, 20))
    # The response drifts with the true mass as constructed: 1.02 * (1 + 0.001 (t - 100)).
    np.testing.assert_allclose(bins.median, 1.02 * (1 + 0.001 * (bins.centres - 100)), atol=0.015)
    np.testing.assert_allclose(bins.resolution, 0.1, atol=0.015)


def test_empty_bins_are_nan_and_the_json_form_uses_none():
    truth = np.array([45.0, 50.0, 150.0, 200.0])
    bins = response_in_bins(truth, truth * 1.1, [40, 100, 140, 200])
    assert np.isnan(bins.median[1]) and bins.n[1] == 0
    assert bins.n.tolist() == [2, 0, 2]  # 200 is in the last bin (upper edge included)
    as_dict = bins.to_dict()
    assert as_dict["median"][1] is None and as_dict["median"][0] == pytest.approx(1.1)
    summary = response_summary(bins)
    assert summary["n_bins"] == 2 and summary["mean_abs_bias"] == pytest.approx(0.1)


def test_statistical_errors_match_the_scatter_of_gaussian_repeats():
    """The quoted errors of the median and of the resolution agree with the spread of many
    independent Gaussian samples (asymptotic formulas, 400 jets per sample)."""
    rng = np.random.default_rng(5)
    medians, resolutions, quoted_median, quoted_resolution = [], [], [], []
    for _ in range(400):
        truth = np.full(400, 100.0)
        bins = response_in_bins(truth, truth * rng.normal(1.0, 0.1, 400), [50, 150])
        medians.append(bins.median[0])
        resolutions.append(bins.resolution[0])
        quoted_median.append(bins.median_error[0])
        quoted_resolution.append(bins.resolution_error[0])
    assert np.std(medians) == pytest.approx(np.mean(quoted_median), rel=0.15)
    assert np.std(resolutions) == pytest.approx(np.mean(quoted_resolution), rel=0.15)


def test_response_in_bins_rejects_bad_inputs():
    with pytest.raises(DataError, match="equally long"):
        response_in_bins(np.ones(3), np.ones(4), [0, 2])
    with pytest.raises(DataError, match="NaN"):
        response_in_bins(np.array([1.0, np.nan]), np.ones(2), [0, 2])
    with pytest.raises(DataError, match="positive"):
        response_in_bins(np.array([0.0, 1.0]), np.ones(2), [0, 2])
    with pytest.raises(ConfigError, match="increasing"):
        response_in_bins(np.ones(2), np.ones(2), [2, 1])


@pytest.mark.parametrize(
    "masses, window", [((80.0, 125.0, 170.0), 0.05), ((90.0, 130.0, 170.0), 0.05), ((80.0, 120.0), 0.0)]
)
def test_bins_away_from_matches_a_dense_scan(masses, window):
    edges = np.linspace(40, 200, 9)
    away = bins_away_from(edges, masses, window)
    for b in range(8):
        points = np.concatenate([np.linspace(m * (1 - window), m * (1 + window), 2001) for m in masses])
        inside = (points >= edges[b]) & (points < edges[b + 1])
        assert away[b] == (not inside.any()), b


def test_response_summary_over_a_selection():
    rng = np.random.default_rng(6)
    truth = rng.uniform(40, 200, 4000)
    predicted = truth * rng.normal(1.0, 0.05, truth.size) * np.where(truth > 120, 1.2, 1.0)
    bins = response_in_bins(truth, predicted, np.linspace(40, 200, 5))
    select = np.array([True, True, False, False])
    summary = response_summary(bins, select)
    assert summary["n_bins"] == 2
    assert summary["mean_abs_bias"] == pytest.approx(np.mean(np.abs(bins.median[:2] - 1)))
    assert summary["max_abs_bias"] == pytest.approx(np.max(np.abs(bins.median[:2] - 1)))
    assert summary["mean_resolution"] == pytest.approx(np.mean(bins.resolution[:2]))
    assert response_summary(bins)["max_abs_bias"] == pytest.approx(np.max(np.abs(bins.median - 1)))
    assert response_summary(bins, np.zeros(4, bool))["mean_abs_bias"] is None


# --------------------------------------------------------------------------- calibration map
def toy_jets(rng, n, masses=None):
    """Jets whose soft-drop mass is the true mass times a pT-dependent scale and a 5% smearing."""
    truth = rng.uniform(40, 200, n) if masses is None else rng.choice(masses, n) * rng.normal(1, 0.005, n)
    pt = rng.uniform(400, 800, n)
    msd = truth * (0.8 + 0.2 * (pt - 400) / 400) * rng.normal(1, 0.05, n)
    return msd, pt, truth


def test_cell_corrections_are_the_weighted_medians_of_the_log_ratio():
    rng = np.random.default_rng(7)
    msd, pt, truth = toy_jets(rng, 4000)
    weights = rng.uniform(0.5, 1.5, msd.size)
    msd_edges, pt_edges = np.linspace(0, 250, 11), np.array([400.0, 600.0, 800.0])
    calibration = BinnedCalibration.fit(
        msd, pt, truth, msd_edges=msd_edges, pt_edges=pt_edges, weights=weights, min_jets=20
    )
    for a in range(10):
        for b in range(2):
            rows = (
                (np.clip(msd, 0, 249.999) >= msd_edges[a])
                & (np.clip(msd, 0, 249.999) < msd_edges[a + 1])
                & (pt >= pt_edges[b])
                & (pt < pt_edges[b + 1])
            )
            assert calibration.n_jets[a, b] == rows.sum()
            if rows.sum() >= 20:
                expected = numpy_quantile(
                    np.log(truth[rows] / np.maximum(msd[rows], MSD_FLOOR)), 0.5, weights[rows]
                )
                assert calibration.correction[a, b] == pytest.approx(expected, abs=1e-12)
                assert calibration.filled[a, b]
            else:
                assert not calibration.filled[a, b]
    centres_msd = 0.5 * (msd_edges[1:] + msd_edges[:-1])
    # At a cell centre the interpolation returns the cell's own value.
    assert calibration.factor(np.array([centres_msd[4]]), np.array([500.0]))[0] == pytest.approx(
        calibration.correction[4, 0]
    )
    restored = BinnedCalibration.from_dict(calibration.to_dict())
    np.testing.assert_array_equal(restored.apply(msd, pt), calibration.apply(msd, pt))


def test_flat_calibration_closes_and_peaky_calibration_only_near_its_masses():
    rng = np.random.default_rng(8)
    edges = dict(msd_edges=np.linspace(0, 250, 26), pt_edges=np.linspace(400, 800, 5), min_jets=10)
    flat = BinnedCalibration.fit(*toy_jets(rng, 20000), **edges)
    peaky = BinnedCalibration.fit(*toy_jets(rng, 20000, masses=(80.0, 125.0, 170.0)), **edges)
    assert peaky.filled.sum() < flat.filled.sum()
    msd, pt, truth = toy_jets(rng, 20000)
    truth_edges = np.linspace(40, 200, 9)
    flat_closure = response_in_bins(truth, flat.apply(msd, pt), truth_edges).median
    peaky_closure = response_in_bins(truth, peaky.apply(msd, pt), truth_edges).median
    raw = response_in_bins(truth, msd, truth_edges).median
    # The edge bins feel the window (jets migrate in from one side only): looser there.
    np.testing.assert_allclose(flat_closure[1:-1], 1.0, atol=0.02)
    np.testing.assert_allclose(flat_closure, 1.0, atol=0.05)
    assert np.max(np.abs(raw - 1)) > 0.05
    near = ~bins_away_from(truth_edges, (80.0, 125.0, 170.0), 0.05)
    assert np.max(np.abs(peaky_closure - 1)[~near]) > 0.05


def test_calibration_rejects_bad_inputs():
    rng = np.random.default_rng(9)
    msd, pt, truth = toy_jets(rng, 50)
    with pytest.raises(DataError, match="no \\(m_SD, pT\\) cell"):
        BinnedCalibration.fit(
            msd, pt, truth, msd_edges=np.linspace(0, 250, 51), pt_edges=[400, 800], min_jets=20
        )
    with pytest.raises(DataError, match="positive"):
        BinnedCalibration.fit(msd, pt, truth * 0, msd_edges=[0, 250], pt_edges=[400, 800])
    with pytest.raises(ConfigError, match="msd_edges"):
        BinnedCalibration.fit(msd, pt, truth, msd_edges=[250, 0], pt_edges=[400, 800])
    with pytest.raises(DataError, match="shape"):
        BinnedCalibration.fit(msd[:-1], pt, truth, msd_edges=[0, 250], pt_edges=[400, 800])
