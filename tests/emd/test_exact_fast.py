"""The batched exact EMD (vectorised NumPy set-up, POT's compiled ``emd_c`` per pair) against
POT's ``ot.emd2`` on problems built here with plain NumPy, and parallel against serial."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, exact_emd, exact_emd_pair
from codec_jax.emd import exact as exact_module

ot = pytest.importorskip("ot")


def _reference(a_pt, a_xy, b_pt, b_xy, R, beta, norm) -> float:
    """EMD of one pair with ``ot.emd2``: dummy particle at distance 1 on the lighter jet."""
    a_keep, b_keep = a_pt > 0, b_pt > 0
    a = a_pt[a_keep].astype(np.float64)
    b = b_pt[b_keep].astype(np.float64)
    xa, xb = a_xy[a_keep].astype(np.float64), b_xy[b_keep].astype(np.float64)
    d_eta = xa[:, None, 0] - xb[None, :, 0]
    d_phi = np.mod(xa[:, None, 1] - xb[None, :, 1] + np.pi, 2 * np.pi) - np.pi
    cost = (np.hypot(d_eta, d_phi) / R) ** beta
    if norm:
        return float(ot.emd2(a / a.sum(), b / b.sum(), cost, numItermax=10**7))
    scale = max(a.sum(), b.sum())
    extra = abs(a.sum() - b.sum())
    if a.sum() < b.sum():
        a, cost = np.append(a, extra), np.vstack([cost, np.ones((1, len(b)))])
    elif b.sum() < a.sum():
        b, cost = np.append(b, extra), np.hstack([cost, np.ones((len(a), 1))])
    a, b = a / scale, b / scale
    b = b * a.sum() / b.sum()
    return scale * float(ot.emd2(a, b, np.ascontiguousarray(cost), numItermax=10**7))


def _pairs(kind: str, n: int = 24, particles: int = 20) -> CloudPair:
    rng = np.random.default_rng({"random": 0, "near": 1, "padded": 2}[kind])
    pt, xy = make_jets(rng, 2 * n, particles)
    if kind == "near":  # near-duplicates: the positives of a pair search
        b_pt, b_xy = perturb_jets(rng, pt[:n], xy[:n], scale=0.01, smear=0.01)
        return CloudPair(ParticleClouds(pt[:n], xy[:n]), ParticleClouds(b_pt, b_xy))
    if kind == "padded":  # padding in the middle, wider padding on one side, phi across the cut
        a_pt, a_xy = pt[:n].copy(), xy[:n].copy()
        a_pt[:, 1::4] = 0.0
        a_xy[:, :3, 1] += np.pi - 0.05
        b_pt = np.pad(pt[n:], ((0, 0), (0, 7)))
        b_xy = np.pad(xy[n:], ((0, 0), (0, 7), (0, 0)))
        b_xy[:, :3, 1] -= np.pi - 0.05
        return CloudPair(ParticleClouds(a_pt, a_xy), ParticleClouds(b_pt, b_xy))
    return CloudPair(ParticleClouds(pt[:n], xy[:n]), ParticleClouds(pt[n:], xy[n:]))


@pytest.mark.parametrize(
    "kind, settings",
    [
        ("random", EMDSettings()),
        ("random", EMDSettings(R=0.4, beta=2.0)),
        ("random", EMDSettings(beta=0.5, norm=True)),
        ("near", EMDSettings()),
        ("near", EMDSettings(norm=True)),
        ("padded", EMDSettings(R=1.0)),
        ("padded", EMDSettings(R=1.0, norm=True)),
    ],
)
def test_batched_path_equals_pot_emd2(kind, settings):
    pair = _pairs(kind)
    (a_pt, a_xy), (b_pt, b_xy) = pair
    expected = np.array(
        [
            _reference(a_pt[i], a_xy[i], b_pt[i], b_xy[i], settings.R, settings.beta, settings.norm)
            for i in range(pair.n_pairs)
        ]
    )
    got = exact_module._solve_chunk(pair, settings.checked())
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exact_emd(pair, settings), expected, rtol=1e-12, atol=1e-12)
    for i in range(3):
        assert exact_emd_pair(pair.take(i), settings) == pytest.approx(expected[i], rel=1e-12, abs=1e-12)


def test_empty_and_identical_jets():
    pt, xy = make_jets(np.random.default_rng(3), 2, 12)
    empty = ParticleClouds(np.zeros_like(pt), np.zeros_like(xy))
    jets = ParticleClouds(pt, xy)
    for settings, expected in (
        (EMDSettings(), [pt[0].sum(dtype=np.float64), pt[1].sum(dtype=np.float64)]),
        (EMDSettings(norm=True), [1.0, 1.0]),
    ):
        got = exact_module._solve_chunk(CloudPair(jets, empty), settings)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert np.all(exact_module._solve_chunk(CloudPair(empty, empty), settings) == 0.0)
        same = exact_module._solve_chunk(CloudPair(jets, jets), settings)
        np.testing.assert_allclose(same, 0.0, atol=1e-12)


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_parallel_equals_serial_exactly(executor):
    pair = _pairs("random", n=50, particles=30)
    serial = exact_emd(pair, workers=1)
    parallel = exact_emd(pair, workers=2, chunk_size=7, executor=executor)
    np.testing.assert_array_equal(parallel, serial)


def test_chunk_longer_than_one_block_equals_pot_emd2():
    """A chunk set up in several blocks of ``_BLOCK`` pairs (the last one partial)."""
    pair = _pairs("random", n=exact_module._BLOCK + 13, particles=12)
    (a_pt, a_xy), (b_pt, b_xy) = pair
    expected = [_reference(a_pt[i], a_xy[i], b_pt[i], b_xy[i], 0.8, 1.0, False) for i in range(pair.n_pairs)]
    got = exact_emd(pair, workers=1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
