"""Sinkhorn on near pairs: the refined estimate (a second, longer solve of the pairs whose
certified bracket is loose) is within 1% of the exact EMD (p95) on near-duplicate jets, keeps a
valid bracket, and leaves well-determined pairs alone."""

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets
from codec_jax.emd import (
    CloudPair,
    EMDSettings,
    ParticleClouds,
    exact_emd,
    sinkhorn_emd_refined,
    sinkhorn_emd_with_bounds,
)

pytest.importorskip("ot")
SETTINGS = EMDSettings(R=1.0, beta=1.0, norm=False)


def _near_pairs(n=96):
    rng = np.random.default_rng(0)
    pt, xy = make_jets(rng, n, 30)
    return CloudPair(
        ParticleClouds(pt, xy), ParticleClouds(*perturb_jets(rng, pt, xy, scale=0.05, smear=0.1))
    )


def test_near_duplicates_reach_one_percent():
    pair = _near_pairs()
    exact = exact_emd(pair, SETTINGS)
    plain = np.asarray(sinkhorn_emd_with_bounds(pair, SETTINGS).emd)
    refined = sinkhorn_emd_refined(pair, SETTINGS, tolerance=0.01)
    error = np.abs(refined.emd - exact) / exact
    assert np.percentile(error, 95) <= 0.01
    assert np.percentile(error, 95) < np.percentile(np.abs(plain - exact) / exact, 95)
    assert np.all(refined.lower <= exact * (1 + 1e-4)) and np.all(exact <= refined.upper * (1 + 1e-4))


def test_well_determined_pairs_are_not_solved_again():
    rng = np.random.default_rng(1)
    pair = CloudPair(ParticleClouds(*make_jets(rng, 64, 30)), ParticleClouds(*make_jets(rng, 64, 30)))
    first = sinkhorn_emd_with_bounds(pair, SETTINGS)
    refined = sinkhorn_emd_refined(pair, SETTINGS, tolerance=0.01)
    tight = (np.asarray(first.upper) - np.asarray(first.lower)) / 2 <= 0.01 * np.asarray(first.emd)
    assert tight.mean() > 0.9  # random pairs: the first pass already pins them
    np.testing.assert_array_equal(refined.emd[tight], np.asarray(first.emd, np.float64)[tight])
