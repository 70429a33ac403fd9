"""EMD: Sinkhorn against the exact solver, closed forms, bounds, gradients, value types, errors."""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets
from codec_jax.emd import (
    CloudPair,
    EMDSettings,
    ParticleClouds,
    emd_lower_bound,
    exact_emd,
    exact_emd_pair,
    pairwise_sinkhorn_emd,
    sinkhorn_emd,
    sinkhorn_emd_bounds,
    sinkhorn_emd_with_bounds,
)
from codec_jax.errors import ConfigError

pytest.importorskip("ot")

# One batch shape for every Sinkhorn call here (49 pairs = 7 x 7 for the pairwise blocks) so the
# solver compiles once per setting: 32 random pairs, 16 near-duplicates, 1 identical pair.
N_RANDOM, N_CLOSE, P = 32, 16, 30


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    pt, xy = make_jets(rng, 2 * N_RANDOM + N_CLOSE, P, min_particles=8)
    close_pt, close_xy = perturb_jets(rng, pt[-N_CLOSE:], xy[-N_CLOSE:])
    a_pt = np.concatenate([pt[:N_RANDOM], pt[-N_CLOSE:], pt[:1]])
    a_xy = np.concatenate([xy[:N_RANDOM], xy[-N_CLOSE:], xy[:1]])
    b_pt = np.concatenate([pt[N_RANDOM : 2 * N_RANDOM], close_pt, pt[:1]])
    b_xy = np.concatenate([xy[N_RANDOM : 2 * N_RANDOM], close_xy, xy[:1]])
    return _pair(a_pt, a_xy, b_pt, b_xy)


def _pair(a_pt, a_xy, b_pt, b_xy) -> CloudPair:
    return CloudPair(ParticleClouds(a_pt, a_xy), ParticleClouds(b_pt, b_xy))


@pytest.fixture(scope="module", params=[False, True], ids=["norm=False", "norm=True"])
def solved(request, batch):
    norm = request.param
    result = sinkhorn_emd_with_bounds(batch, EMDSettings(norm=norm))
    exact = exact_emd(batch, EMDSettings(norm=norm))
    return norm, {k: np.asarray(v, np.float64) for k, v in result._asdict().items()}, exact


def test_sinkhorn_matches_exact_within_tolerance(solved):
    _, result, exact = solved
    rel = (result["emd"] - exact)[:N_RANDOM] / exact[:N_RANDOM]
    assert abs(np.median(rel)) <= 0.005
    assert np.percentile(np.abs(rel), 95) <= 0.02
    # Near-duplicates (small EMD) are harder; still within a few percent.
    close = slice(N_RANDOM, N_RANDOM + N_CLOSE)
    assert np.max(np.abs(result["emd"][close] - exact[close]) / exact[close]) <= 0.05
    # Identical jets: exactly 0 for the exact solver, tiny for Sinkhorn.
    assert exact[-1] == pytest.approx(0.0, abs=1e-9)
    assert result["emd"][-1] <= 1e-3 * exact[:N_RANDOM].min()


def test_bounds_bracket_exact(solved):
    norm, result, exact = solved
    scale = 1.0 if norm else 1e3
    slack = 1e-5 * scale
    assert np.all(result["lower"] <= exact + slack)
    assert np.all(result["upper"] >= exact - slack)
    assert np.all(result["lower"] <= result["emd"] + slack) and np.all(
        result["emd"] <= result["upper"] + slack
    )
    # The bracket is informative: on random pairs it is within 2% of the value.
    width = (result["upper"] - result["lower"])[:N_RANDOM] / exact[:N_RANDOM]
    assert np.median(width) < 0.02


def test_sinkhorn_emd_and_bounds_wrappers_agree(batch, solved):
    norm, result, _ = solved
    settings = EMDSettings(norm=norm)
    lower, upper = sinkhorn_emd_bounds(batch, settings)
    np.testing.assert_allclose(np.asarray(sinkhorn_emd(batch, settings)), result["emd"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(lower), result["lower"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(upper), result["upper"], rtol=1e-6)


def test_symmetric_and_nonnegative(batch):
    forward = sinkhorn_emd_with_bounds(batch)
    backward = sinkhorn_emd_with_bounds(batch.swapped())
    assert np.all(np.asarray(forward.emd) >= 0) and np.all(np.asarray(backward.emd) >= 0)
    # Both estimates are midpoints of brackets holding the same exact value.
    half_widths = 0.5 * (forward.upper - forward.lower + backward.upper - backward.lower)
    assert np.all(np.abs(np.asarray(forward.emd - backward.emd)) <= np.asarray(half_widths) + 1e-3)
    np.testing.assert_allclose(forward.emd[:N_RANDOM], backward.emd[:N_RANDOM], rtol=0.01)
    exact_forward = exact_emd(batch)
    np.testing.assert_allclose(exact_emd(batch.swapped()), exact_forward, rtol=1e-9, atol=1e-9)
    assert np.all(exact_forward >= 0)


def test_gradient_finite_and_matches_finite_differences(batch):
    (a_pt, a_xy), (b_pt, b_xy) = batch
    grad = jax.grad(lambda xy: sinkhorn_emd(_pair(a_pt, xy, b_pt, b_xy)).sum())(jnp.asarray(a_xy))
    grad = np.asarray(grad)
    assert np.all(np.isfinite(grad))  # includes the identical pair (theta = 0) and padding
    assert np.all(grad[a_pt == 0] == 0)
    # Directional derivative of pair 0 against central differences of the exact EMD.
    rng = np.random.default_rng(3)
    direction = np.where(a_pt[:1, :, None] > 0, rng.normal(size=a_xy[:1].shape), 0.0)
    step = 1e-5

    def exact_at(h):
        return exact_emd(_pair(a_pt[:1], a_xy[:1] + h * direction, b_pt[:1], b_xy[:1]))[0]

    numeric = (exact_at(step) - exact_at(-step)) / (2 * step)
    analytic = float(np.sum(grad[0] * direction[0]))
    assert analytic == pytest.approx(numeric, rel=0.03)


def test_pairwise_grid_matches_exact(batch):
    n, m = 9, 10  # 2 x 2 blocks of 7, the last ones padded
    grid = pairwise_sinkhorn_emd(batch.a.take(slice(n)), batch.b.take(slice(m)), block_size=7)
    assert grid.shape == (n, m)
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    exact = exact_emd(CloudPair(batch.a.take(ii.ravel()), batch.b.take(jj.ravel()))).reshape(n, m)
    rel = np.abs(grid - exact) / exact
    assert np.median(rel) < 0.005 and rel.max() < 0.03


# --------------------------------------------------------------------------- exact: closed forms
def _one(pt, eta, phi):
    return ParticleClouds(np.array([[pt, 0.0]]), np.array([[[eta, phi], [0.0, 0.0]]]))


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
def test_exact_single_particles_closed_form(beta):
    pair = CloudPair(_one(300.0, 0.1, -0.2), _one(200.0, -0.2, 0.2))
    theta = np.hypot(0.3, 0.4)
    expected = 200.0 * (theta / 0.8) ** beta + 100.0
    assert exact_emd(pair, EMDSettings(beta=beta))[0] == pytest.approx(expected, rel=1e-9)
    assert exact_emd(pair, EMDSettings(beta=beta, norm=True))[0] == pytest.approx(
        (theta / 0.8) ** beta, rel=1e-9
    )
    # One pair without batch axis gives the same.
    assert exact_emd_pair(pair.take(0), EMDSettings(beta=beta)) == pytest.approx(expected, rel=1e-9)


def test_exact_wraps_phi():
    pair = CloudPair(_one(100.0, 0.0, 3.1), _one(100.0, 0.0, -3.1))
    assert exact_emd(pair, EMDSettings(R=1.0))[0] == pytest.approx(100.0 * (2 * np.pi - 6.2), rel=1e-9)


def test_exact_identical_scaled_and_empty_jets():
    rng = np.random.default_rng(0)
    pt, xy = make_jets(rng, 4, 12)
    assert np.allclose(exact_emd(_pair(pt, xy, pt, xy)), 0.0, atol=1e-9)
    # Same particles with 70% of the pT: only the energy difference remains.
    emd = exact_emd(_pair(pt, xy, 0.7 * pt, xy))
    np.testing.assert_allclose(emd, 0.3 * pt.sum(axis=1), rtol=1e-6)
    assert np.allclose(exact_emd(_pair(pt, xy, 0.7 * pt, xy), EMDSettings(norm=True)), 0.0, atol=1e-7)
    # Padding and particle order do not matter.
    jets = ParticleClouds(pt, xy)
    other = ParticleClouds(pt[::-1].copy(), xy[::-1].copy())
    reference = exact_emd(CloudPair(jets, other))
    padded = CloudPair(jets.pad_to(pt.shape[1] + 5), other.pad_to(pt.shape[1] + 5))
    assert padded.a.pt.shape == (4, 17) and padded.b.xy.shape == (4, 17, 2)
    np.testing.assert_allclose(exact_emd(padded), reference, rtol=1e-9)
    reordered = ParticleClouds(other.pt[:, ::-1], other.xy[:, ::-1])
    np.testing.assert_allclose(exact_emd(CloudPair(jets, reordered)), reference, rtol=1e-9)
    # An empty jet: the whole energy of the other one.
    empty = ParticleClouds(np.zeros_like(pt), np.zeros_like(xy))
    np.testing.assert_allclose(exact_emd(CloudPair(jets, empty)), pt.sum(axis=1, dtype=np.float64), rtol=1e-9)


def test_exact_parallel_equals_serial():
    rng = np.random.default_rng(1)
    pt, xy = make_jets(rng, 40, 10)
    pair = _pair(pt[:20], xy[:20], pt[20:], xy[20:])
    serial = exact_emd(pair, workers=1)
    for executor in ("threads", "processes"):
        parallel = exact_emd(pair, workers=2, chunk_size=3, executor=executor)
        np.testing.assert_array_equal(serial, parallel)


# --------------------------------------------------------------------------- lower bound
@pytest.mark.parametrize("norm", [False, True])
def test_cheap_lower_bound_holds(batch, norm):
    settings = EMDSettings(R=1.0, norm=norm)
    bound = emd_lower_bound(batch, settings)
    exact = exact_emd(batch, settings)
    assert bound.shape == (batch.n_pairs,)
    assert np.all(bound <= exact * (1 + 1e-6) + 1e-9)
    assert np.mean(bound > 0) > 0.5


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("field", "kwargs"), [("R", {"R": 0.0}), ("R", {"R": -1.0}), ("beta", {"beta": 0.0}), ("R", {"R": "big"})]
)
def test_settings_are_validated_naming_the_field(field, kwargs):
    with pytest.raises(ConfigError, match=rf"\b{field} must be"):
        EMDSettings(**kwargs)
    # A frozen value: it cannot be changed in place, a replacement is validated again.
    settings = EMDSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, field, next(iter(kwargs.values())))
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(settings, **kwargs)


def test_settings_are_hashable_values_for_jit():
    assert EMDSettings(R=1, beta=1) == EMDSettings(R=1.0, beta=1.0)
    assert hash(EMDSettings(R=1.0)) == hash(EMDSettings(R=1.0)) != hash(EMDSettings(R=0.5))
    checked = EMDSettings(R=1, beta=2, norm=0).checked()
    assert (type(checked.R), type(checked.beta), checked.norm) == (float, float, False)


# --------------------------------------------------------------------------- errors
def test_bad_shapes_and_types_raise_one_clear_error(batch):
    (a_pt, a_xy), (b_pt, b_xy) = batch
    message = r"pair\.a: pt must be \[batch, particles\] and xy \[batch, particles, 2\]; got \(49, 30\)"
    for solver in (sinkhorn_emd, exact_emd, emd_lower_bound):
        with pytest.raises(ValueError, match=message):
            solver(_pair(a_pt, a_xy[..., :1], b_pt, b_xy))
        with pytest.raises(ValueError, match=r"pair\.b: .* got \(49, 30\) and \(49, 30\)$"):
            solver(_pair(a_pt, a_xy, b_pt, b_xy[:, :, 0]))
        with pytest.raises(ValueError, match="same batch size, got 3 and 49"):
            solver(_pair(a_pt[:3], a_xy[:3], b_pt, b_xy))
        with pytest.raises(TypeError, match="CloudPair"):
            solver((a_pt, a_xy, b_pt, b_xy))
        with pytest.raises(TypeError, match="EMDSettings"):
            solver(batch, 0.8)
    with pytest.raises(ValueError, match=r"pair\.a: pt must be \[particles\]"):
        exact_emd_pair(batch)
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_emd(batch, epsilon=0.0)


def test_missing_pot_names_the_package(batch, monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)
    with pytest.raises(ImportError, match="POT"):
        exact_emd(batch)
