"""Tests of the mass-sculpting excess (codec_jax.metrics.sculpting): direct histogram
computations, agreement with the existing 1/JSD floor, zero excess for mass-independent taggers
over many toys (with bootstrap errors) and a large excess for a tagger equal to the mass."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax import metrics
from codec_jax.errors import DataError

EDGES = np.linspace(40.0, 300.0, 21)


def falling_background(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smoothly falling QCD-like mass spectrum; some jets fall above the last edge."""
    return 40.0 + rng.exponential(60.0, n)


def test_jsd_and_efficiency_match_a_direct_histogram_computation():
    rng = np.random.default_rng(0)
    signal = rng.normal(1.0, 1.0, 800)
    mass = falling_background(rng, 3000)
    mass[:3] = [EDGES[-1], EDGES[0], 10.0]  # on the last edge (kept), first edge, below (ignored)
    background = rng.normal(0.0, 1.0, mass.size) + 0.01 * (mass - 100)
    for signal_weights, background_weights in (
        (None, None),
        (rng.uniform(0.5, 2, 800), rng.uniform(0, 3, 3000)),
    ):
        result = metrics.jsd_excess(
            signal,
            background,
            mass,
            EDGES,
            0.3,
            signal_weights=signal_weights,
            background_weights=background_weights,
            trials=5,
        )
        w_sig = np.ones(800) if signal_weights is None else signal_weights
        w_bkg = np.ones(3000) if background_weights is None else background_weights
        threshold = metrics.threshold_at_efficiency(
            np.r_[signal, background], np.r_[np.ones(800), np.zeros(3000)], 0.3, weights=np.r_[w_sig, w_bkg]
        )
        passing = background >= threshold
        hist_pass = np.histogram(mass[passing], EDGES, weights=w_bkg[passing])[0]
        hist_fail = np.histogram(mass[~passing], EDGES, weights=w_bkg[~passing])[0]
        assert result.threshold == threshold
        assert result.jsd == pytest.approx(metrics.jsd(hist_pass, hist_fail), rel=1e-9)
        assert result.background_efficiency == pytest.approx(w_bkg[passing].sum() / w_bkg.sum(), rel=1e-12)
        assert result.excess == pytest.approx(result.jsd - result.floor, abs=1e-15)
        assert result.floor > 0 and result.floor_std > 0


def test_floor_agrees_with_random_subsets_and_with_the_weighted_path():
    """The equal-weight floor (hypergeometric histograms) against the existing floor (explicit
    random subsets of the same size) and against the general weighted path (weights ~1)."""
    rng = np.random.default_rng(1)
    mass = falling_background(rng, 4000)
    labels = np.r_[np.zeros(4000), np.ones(1000)]
    scores = rng.normal(labels, 1.0)
    signal, background = scores[labels == 1], scores[labels == 0]
    unit = metrics.jsd_excess(signal, background, mass, EDGES, 0.5, trials=400, seed=2)
    subsets = metrics.inverse_jsd_floor(
        scores, labels, np.r_[mass, np.full(1000, 150.0)], EDGES, 0.5, n_trials=400, seed=3
    )
    subset_jsd = 1.0 / subsets.values
    monte_carlo = np.hypot(unit.floor_std, subset_jsd.std(ddof=1)) / np.sqrt(400)
    assert abs(unit.floor - subset_jsd.mean()) < 4 * monte_carlo
    assert unit.floor_std == pytest.approx(subset_jsd.std(ddof=1), rel=0.2)
    almost_unit = 1.0 + rng.uniform(-1e-6, 1e-6, 4000)
    weighted = metrics.jsd_excess(
        signal, background, mass, EDGES, 0.5, background_weights=almost_unit, trials=400, seed=4
    )
    assert weighted.jsd == pytest.approx(unit.jsd, rel=1e-4)
    assert abs(weighted.floor - unit.floor) < 4 * np.hypot(weighted.floor_std, unit.floor_std) / np.sqrt(400)
    # Deterministic for an integer seed.
    assert metrics.jsd_excess(signal, background, mass, EDGES, 0.5, trials=400, seed=2) == unit


def test_windowed_random_prefix_equals_the_full_sort():
    """The weighted random cut sorts only keys near the expected cut; it must select exactly the
    jets of a full sort, also when the cut falls outside that window (the fallback)."""
    from codec_jax.metrics.sculpting import _prefix_by_keys

    rng = np.random.default_rng(8)
    cases = [(rng.uniform(0.1, 3.0, 5000), f) for f in (0.001, 0.1, 0.5, 0.97, 1.0)]
    heavy = rng.uniform(0.5, 1.5, 2000)
    heavy[:3] = 4000.0  # three jets hold most of the weight: the window misses the cut
    cases += [(heavy, 0.3), (heavy, 0.9), (np.r_[np.zeros(50), np.ones(50)], 0.5)]
    for weights, fraction in cases:
        for _ in range(5):
            keys = rng.random(weights.size)
            target = fraction * weights.sum()
            order = np.argsort(keys)
            n_pass = np.count_nonzero(np.cumsum(weights[order]) < target * (1 - 1e-12)) + 1
            expected = np.zeros(weights.size, dtype=bool)
            expected[order[:n_pass]] = True
            np.testing.assert_array_equal(_prefix_by_keys(keys, weights, target), expected)
            assert weights[expected].sum() >= target * (1 - 1e-12)


def test_mass_independent_tagger_has_no_excess_over_toys_with_bootstrap_errors():
    """50 toys of 3000 QCD + 1000 signal jets; the excess on the full sample over its bootstrap
    error (40 paired resamples): |n_sigma| < 3 in every toy and a mean n_sigma compatible with 0."""
    n_sigma = []
    for toy in range(50):
        rng = np.random.default_rng(100 + toy)
        labels = np.r_[np.zeros(3000, int), np.ones(1000, int)]
        mass = np.r_[falling_background(rng, 3000), rng.normal(175, 15, 1000)]
        scores = rng.normal(labels, 1.0)  # depends on the label, not on the mass
        signal, background = labels == 1, labels == 0

        def excess(indices, scores=scores, mass=mass, signal=signal, background=background):
            jets = indices["test"]  # stratified: the labels stay at their positions
            return metrics.jsd_excess(
                scores[jets][signal],
                scores[jets][background],
                mass[jets][background],
                EDGES,
                trials=10,
                seed=1,
            ).excess

        resamples = metrics.bootstrap_resamples({"test": labels}, 40, seed=toy)
        value = excess(resamples.identity())
        error = metrics.bootstrap_values(excess, resamples).std(ddof=1)
        n_sigma.append(value / error)
    n_sigma = np.array(n_sigma)
    assert np.all(np.abs(n_sigma) < 3)
    assert abs(n_sigma.mean()) < 3 * n_sigma.std(ddof=1) / np.sqrt(n_sigma.size)


def test_weighted_mass_independent_tagger_has_no_excess_on_average():
    excess = []
    for toy in range(200):
        rng = np.random.default_rng(500 + toy)
        mass = falling_background(rng, 2000)
        result = metrics.jsd_excess(
            rng.normal(1.0, 1.0, 500),
            rng.normal(0.0, 1.0, 2000),
            mass,
            EDGES,
            background_weights=rng.uniform(0.2, 3.0, 2000),
            trials=10,
            seed=toy,
        )
        excess.append(result.excess)
    excess = np.array(excess)
    assert abs(excess.mean()) < 3 * excess.std(ddof=1) / np.sqrt(excess.size)


def test_tagger_equal_to_the_mass_has_a_large_excess_on_a_separate_sculpting_sample():
    rng = np.random.default_rng(7)
    test_labels = np.r_[np.zeros(1000, int), np.ones(1000, int)]
    test_mass = np.r_[falling_background(rng, 1000), rng.normal(175, 15, 1000)]
    sculpting_mass = falling_background(rng, 3000)  # a dedicated QCD sample

    def excess(indices):
        signal = indices["test"][test_labels == 1]
        jets = indices["sculpting"]
        return metrics.jsd_excess(
            test_mass[signal], sculpting_mass[jets], sculpting_mass[jets], EDGES, trials=10
        ).excess

    resamples = metrics.bootstrap_resamples({"test": test_labels, "sculpting": np.zeros(3000)}, 40, seed=0)
    value = excess(resamples.identity())
    error = metrics.bootstrap_values(excess, resamples).std(ddof=1)
    assert value / error > 20


def test_undefined_and_invalid_inputs():
    rng = np.random.default_rng(3)
    mass = falling_background(rng, 100)
    # No background passes: both histograms of the pass side are empty, so nan (not an error).
    result = metrics.jsd_excess(np.full(10, 5.0), np.zeros(100), mass, EDGES, trials=3)
    assert result.background_efficiency == 0.0 and np.isnan(result.jsd) and np.isnan(result.excess)
    with pytest.raises(DataError, match="'background_mass' has 99 entries"):
        metrics.jsd_excess(np.ones(10), np.zeros(100), mass[:99], EDGES)
    with pytest.raises(DataError, match="bin_edges"):
        metrics.jsd_excess(np.ones(10), np.zeros(100), mass, EDGES[::-1])
    with pytest.raises(DataError, match="trials"):
        metrics.jsd_excess(np.ones(10), np.zeros(100), mass, EDGES, trials=1)
    with pytest.raises(DataError, match="efficiency"):
        metrics.jsd_excess(np.ones(10), np.zeros(100), mass, EDGES, 0.0)
    with pytest.raises(DataError, match="no background"):
        metrics.jsd_excess(np.ones(10), np.zeros(100), mass, EDGES, background_weights=np.zeros(100))
