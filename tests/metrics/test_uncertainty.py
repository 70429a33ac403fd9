"""Tests of the paired, stratified bootstrap and the seed + test-set error combination
(codec_jax.metrics.uncertainty) against closed forms and hand computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from codec_jax import metrics
from codec_jax.errors import DataError


# --------------------------------------------------------------------------- resamples
def test_bootstrap_of_a_mean_recovers_sigma_over_sqrt_n():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 1000)
    resamples = metrics.bootstrap_resamples({"test": np.zeros(x.size)}, 2000, seed=1)
    means = metrics.bootstrap_values(lambda idx: x[idx["test"]].mean(), resamples)
    assert means.shape == (2000,)
    # The plug-in standard error; the bootstrap std has a relative precision 1/sqrt(2 R) = 1.6%.
    assert means.std(ddof=1) == pytest.approx(x.std() / math.sqrt(x.size), rel=0.06)
    assert means.mean() == pytest.approx(x.mean(), abs=4 * x.std() / math.sqrt(x.size * 2000))


def test_stratification_keeps_every_class_at_its_positions():
    rng = np.random.default_rng(1)
    labels = {"nominal": rng.permutation(np.r_[np.zeros(70), np.ones(30)]), "sculpting": np.zeros(40)}
    resamples = metrics.bootstrap_resamples(labels, 50, seed=3)
    assert len(resamples) == 50 and resamples.names == ("nominal", "sculpting")
    duplicated = 0
    for indices in resamples:
        assert set(indices) == {"nominal", "sculpting"}
        for name, label in labels.items():
            assert indices[name].shape == label.shape and indices[name].dtype == np.int64
            np.testing.assert_array_equal(label[indices[name]], label)  # class counts and positions
        duplicated += np.unique(indices["nominal"]).size < 100  # with replacement
    assert duplicated == 50
    stacked = resamples.set_indices("nominal")
    assert stacked.shape == (50, 100)
    # Each jet of a class is drawn about equally often (a multinomial of 50 * 30 draws).
    signal = np.flatnonzero(labels["nominal"] == 1)
    counts = np.bincount(stacked[:, signal].ravel(), minlength=100)[signal]
    assert counts.sum() == 50 * 30 and counts.min() > 20 and counts.max() < 90
    np.testing.assert_array_equal(resamples.identity()["sculpting"], np.arange(40))


def test_same_seed_same_resamples_and_sets_are_independent():
    labels = np.r_[np.zeros(60), np.ones(40)]
    first = metrics.bootstrap_resamples({"a": labels, "b": labels}, 20, seed=7)
    again = metrics.bootstrap_resamples({"a": labels.copy(), "b": labels.copy()}, 20, seed=7)
    np.testing.assert_array_equal(first.set_indices("a"), again.set_indices("a"))
    np.testing.assert_array_equal(first.set_indices("b"), again.set_indices("b"))
    other_seed = metrics.bootstrap_resamples({"a": labels}, 20, seed=8)
    assert not np.array_equal(first.set_indices("a"), other_seed.set_indices("a"))
    # Two sets of equal labels are resampled independently, and a set's resamples do not depend on
    # the other sets or on the number of resamples requested.
    assert not np.array_equal(first.set_indices("a"), first.set_indices("b"))
    alone = metrics.bootstrap_resamples({"a": labels}, 5, seed=7)
    np.testing.assert_array_equal(alone.set_indices("a"), first.set_indices("a")[:5])


def test_paired_resamples_give_a_small_error_for_correlated_statistics():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, 2000)
    y = x + rng.normal(0.0, 0.05, x.size)  # a second "model", strongly correlated with the first
    labels = {"test": np.zeros(x.size)}
    paired = metrics.bootstrap_resamples(labels, 400, seed=0)
    both = metrics.bootstrap_values(lambda idx: [x[idx["test"]].mean(), y[idx["test"]].mean()], paired)
    assert both.shape == (400, 2)
    error_x = both[:, 0].std(ddof=1)
    paired_error = (both[:, 0] - both[:, 1]).std(ddof=1)
    assert paired_error < 0.1 * error_x
    # Control: unpaired resamples (another seed for the second model) give sqrt(2) times the error.
    unpaired = metrics.bootstrap_values(
        lambda idx: y[idx["test"]].mean(), metrics.bootstrap_resamples(labels, 400, seed=1)
    )
    assert (both[:, 0] - unpaired).std(ddof=1) == pytest.approx(math.sqrt(2) * error_x, rel=0.15)


def test_bootstrap_error_of_the_fractional_change_matches_the_binomial_error():
    """MACK's delta eps_QCD / eps_QCD at 50% nominal Z' efficiency on a Gaussian toy: the bootstrap
    error agrees with the binomial propagation (600 resamples: about 3% precision)."""
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(4000, int), np.ones(4000, int)]
    nominal = rng.normal(labels * 1.0, 1.0)
    alternate = rng.normal(labels * 1.0 + 0.2 * (labels == 0), 1.0)  # QCD shifted in "data"
    resamples = metrics.bootstrap_resamples({"nominal": labels, "alternate": labels}, 600, seed=0)

    def change(indices):
        n, a = indices["nominal"], indices["alternate"]
        return metrics.fractional_efficiency_change(nominal[n], labels, alternate[a], labels, efficiency=0.5)

    values = metrics.bootstrap_values(change, resamples)
    binomial = metrics.fractional_change_uncertainty(
        nominal, labels, alternate, labels, fixed_label=1, efficiency=0.5
    )
    assert change(resamples.identity()) > 5 * binomial  # a real shift, measured
    assert values.std(ddof=1) == pytest.approx(binomial, rel=0.10)


def test_bootstrap_values_rejects_statistics_of_changing_shape():
    resamples = metrics.bootstrap_resamples({"t": np.zeros(10)}, 3, seed=0)
    shapes = iter([[1.0], [1.0, 2.0], [1.0]])
    with pytest.raises(DataError, match="different shapes"):
        metrics.bootstrap_values(lambda idx: next(shapes), resamples)
    with pytest.raises(DataError, match="n_resamples"):
        metrics.bootstrap_resamples({"t": np.zeros(10)}, 1, seed=0)
    with pytest.raises(DataError, match="seed"):
        metrics.bootstrap_resamples({"t": np.zeros(10)}, 5, seed=-1)
    with pytest.raises(DataError, match="'labels_by_set.t' holds 1 NaN"):
        metrics.bootstrap_resamples({"t": [0.0, np.nan]}, 5, seed=0)
    with pytest.raises(DataError, match="unknown test set 'x'"):
        resamples.set_indices("x")


# --------------------------------------------------------------------------- combined errors
def test_combined_error_against_a_hand_computation():
    bootstrap = np.array([0.10, 0.14, 0.12, 0.09, 0.15])
    seeds = np.array([0.11, 0.13, 0.16])
    boot_var = sum((b - 0.12) ** 2 for b in bootstrap) / 4  # mean 0.12
    seed_var = sum((s - 0.4 / 3) ** 2 for s in seeds) / 2
    expected = math.sqrt(boot_var + seed_var / 3)
    assert metrics.combined_error(bootstrap, seeds) == pytest.approx(expected, rel=1e-12)

    result = metrics.measurement(seeds, bootstrap)
    assert result.value == pytest.approx(0.4 / 3, rel=1e-12)
    assert result.error == pytest.approx(expected, rel=1e-12)
    assert result.bootstrap_error == pytest.approx(math.sqrt(boot_var), rel=1e-12)
    assert result.seed_error == pytest.approx(math.sqrt(seed_var / 3), rel=1e-12)
    assert (result.n_seeds, result.n_resamples) == (3, 5)

    # A difference A - B: paired bootstrap of the difference plus both seed spreads.
    seeds_b = np.array([0.05, 0.02])
    seed_var_b = (0.015**2 * 2) / 1
    difference = metrics.difference_measurement(seeds, seeds_b, bootstrap)
    expected_difference = math.sqrt(boot_var + seed_var / 3 + seed_var_b / 2)
    assert difference.value == pytest.approx(0.4 / 3 - 0.035, rel=1e-12)
    assert difference.error == pytest.approx(expected_difference, rel=1e-12)
    assert metrics.combined_difference_error(bootstrap, seeds, seeds_b) == pytest.approx(
        expected_difference, rel=1e-12
    )
    assert difference.n_seeds == 5


def test_measurements_without_seeds_and_undefined_errors():
    bootstrap = np.array([1.0, 2.0, 3.0])
    fixed = metrics.measurement(None, bootstrap, value=2.5)  # a baseline without training noise
    assert (fixed.value, fixed.error, fixed.seed_error, fixed.n_seeds) == (2.5, 1.0, 0.0, 0)
    assert metrics.combined_error(bootstrap, None) == 1.0
    with pytest.raises(DataError, match="seed_values"):
        metrics.measurement(None, bootstrap)
    # One seed: the training noise is unknown, so the error is nan (no claim rests on one seed).
    assert math.isnan(metrics.combined_error(bootstrap, [0.3]))
    # A statistic undefined on one resample makes the error undefined, not smaller.
    undefined = metrics.measurement([1.0, 1.2], [1.0, np.nan, 2.0])
    assert math.isnan(undefined.bootstrap_error) and math.isnan(undefined.error)
    as_dict = undefined.to_dict()
    assert as_dict["error"] is None and as_dict["n_resamples"] == 3
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    difference = metrics.difference_measurement([1.0, 1.4], None, bootstrap, value_b=0.5)
    assert difference.value == pytest.approx(0.7)
    assert difference.seed_error == pytest.approx(math.sqrt(0.08 / 2))
