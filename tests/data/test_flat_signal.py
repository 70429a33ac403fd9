"""Flattening one sample in its true mass (no background): counts, weights, flatness, errors."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax.data.flat_signal import flatten_signal
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample


def falling_sample(n: int, seed: int = 0) -> JetSample:
    """Jets with an exponentially falling true mass (scale 60 GeV) from 30 GeV on."""
    rng = np.random.default_rng(seed)
    truth = 30.0 + rng.exponential(60.0, n)
    parts = np.zeros((n, 2, 4), np.float32)
    mask = np.zeros((n, 2), bool)
    jets = {"truth_mass": truth, "msd": truth * 0.9, "pt": rng.uniform(400, 800, n), "label": np.ones(n, int)}
    return JetSample.from_arrays(parts, mask, ABSOLUTE_FEATURES, jets)


def test_every_jet_in_range_is_kept_and_each_bin_weighs_the_fullest_count():
    sample = falling_sample(20000)
    flat = flatten_signal(1, sample, mass_range=(40.0, 200.0), bins=8)
    inside = (sample.truth_mass >= 40) & (sample.truth_mass <= 200)
    assert len(flat) == inside.sum()
    np.testing.assert_array_equal(np.sort(flat.truth_mass), np.sort(sample.truth_mass[inside]))
    edges = np.linspace(40, 200, 9)
    counts, _ = np.histogram(sample.truth_mass[inside], edges)
    sums, _ = np.histogram(flat.truth_mass, edges, weights=flat.weight.astype(np.float64))
    np.testing.assert_allclose(sums, counts.max(), rtol=1e-5)
    # Inside the bins too the weighted spectrum is flat (finer bins, within statistics): the
    # falling spectrum drops by a factor 14 over the range.
    fine, _ = np.histogram(flat.truth_mass, np.linspace(40, 200, 33), weights=flat.weight.astype(np.float64))
    raw, _ = np.histogram(flat.truth_mass, np.linspace(40, 200, 33))
    assert raw[0] / raw[-1] > 8
    np.testing.assert_allclose(fine / fine.mean(), 1.0, atol=0.25)
    assert flat.metadata["flat_signal"]["jets_per_bin"] == counts.max()


def test_jets_per_bin_draws_at_most_that_many_per_bin_deterministically():
    sample = falling_sample(5000, seed=2)
    edges = np.linspace(40, 200, 5)
    counts, _ = np.histogram(sample.truth_mass, edges)
    flat = flatten_signal(3, sample, mass_range=(40.0, 200.0), bins=4, jets_per_bin=300)
    selected, _ = np.histogram(flat.truth_mass, edges)
    np.testing.assert_array_equal(selected, np.minimum(counts, 300))
    again = flatten_signal(3, sample, mass_range=(40.0, 200.0), bins=4, jets_per_bin=300)
    np.testing.assert_array_equal(again.truth_mass, flat.truth_mass)
    other = flatten_signal(4, sample, mass_range=(40.0, 200.0), bins=4, jets_per_bin=300)
    assert not np.array_equal(other.truth_mass, flat.truth_mass)


def test_flatten_signal_errors_name_the_problem():
    sample = falling_sample(300)
    with pytest.raises(DataError, match="min_jets_per_bin"):
        flatten_signal(0, sample, mass_range=(40.0, 400.0), bins=40, min_jets_per_bin=5)
    with pytest.raises(ConfigError, match="not a jet field"):
        flatten_signal(0, sample, mass_range=(40.0, 200.0), field="m_truth")
    qcd = sample.replace(truth_mass=np.zeros(len(sample), np.float32))
    with pytest.raises(DataError, match="zero for every jet"):
        flatten_signal(0, qcd, mass_range=(40.0, 200.0))
