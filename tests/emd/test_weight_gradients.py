"""EMD differentiated in the pT weights (``weight_gradients=True``) against finite differences of
the exact EMD, padding, and gradient descent of a particle set onto a target jet."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, exact_emd, sinkhorn_emd

pytest.importorskip("ot")


def _pairs(seed: int, n_pairs: int = 4, particles: int = 30):
    rng = np.random.default_rng(seed)
    pt, xy = make_jets(rng, 2 * n_pairs, particles, min_particles=particles)  # distinct, no padding
    return ParticleClouds(pt[:n_pairs], xy[:n_pairs]), ParticleClouds(pt[n_pairs:], xy[n_pairs:])


def _exact(a_pt, a, b, settings):
    return exact_emd(CloudPair(ParticleClouds(a_pt, a.xy), b), settings)


def _finite_differences(a, b, settings, relative_step):
    """Central differences of the exact EMD of every pair in every pT of jet a, float64."""
    base = a.pt.astype(np.float64)
    grad = np.zeros_like(base)
    for k in range(base.shape[1]):
        step = relative_step * base[:, k]
        up, down = base.copy(), base.copy()
        up[:, k] += step
        down[:, k] -= step
        grad[:, k] = (_exact(up, a, b, settings) - _exact(down, a, b, settings)) / (2 * step)
    return grad


@pytest.mark.parametrize(("norm", "relative_step"), [(False, 1e-3), (True, 1e-2)])
def test_weight_gradients_match_finite_differences_of_the_exact_emd(norm, relative_step):
    a, b = _pairs(3)
    settings = EMDSettings(R=1.0, beta=1.0, norm=norm)

    def total(a_pt):
        return sinkhorn_emd(CloudPair(ParticleClouds(a_pt, a.xy), b), settings, weight_gradients=True).sum()

    grad = np.asarray(jax.grad(total)(jnp.asarray(a.pt)))
    reference = _finite_differences(a, b, settings, relative_step)
    for row in range(len(grad)):
        error = np.linalg.norm(grad[row] - reference[row]) / np.linalg.norm(reference[row])
        assert error < 0.05, (row, error)


def test_padding_is_finite_and_inert_and_the_default_leaves_weights_alone():
    a, b = _pairs(4, particles=12)
    pad = np.zeros((a.n_jets, 6), np.float32)
    padded = ParticleClouds(
        np.concatenate([a.pt, pad], 1), np.concatenate([a.xy, np.zeros((a.n_jets, 6, 2), np.float32)], 1)
    )
    settings = EMDSettings(R=1.0)

    def total(a_pt, **options):
        return sinkhorn_emd(CloudPair(ParticleClouds(a_pt, padded.xy), b), settings, **options).sum()

    grad = np.asarray(jax.grad(lambda p: total(p, weight_gradients=True))(jnp.asarray(padded.pt)))
    assert np.all(np.isfinite(grad)) and np.all(grad[:, 12:] == 0.0) and np.any(grad[:, :12] != 0.0)
    unpadded = jax.grad(
        lambda p: sinkhorn_emd(CloudPair(ParticleClouds(p, a.xy), b), settings, weight_gradients=True).sum()
    )(jnp.asarray(a.pt))
    np.testing.assert_allclose(grad[:, :12], np.asarray(unpadded), rtol=1e-4, atol=1e-6)
    assert np.all(np.asarray(jax.grad(total)(jnp.asarray(padded.pt))) == 0.0)  # coordinates only


def test_gradient_descent_moves_a_particle_set_onto_a_target_jet():
    """The worked example of docs/emd.md: weights and positions of 20 particles follow the EMD."""
    rng = np.random.default_rng(0)
    target_pt, target_xy = make_jets(rng, 1, 20, min_particles=20)
    target = ParticleClouds(target_pt, target_xy)
    pt = jnp.full((1, 20), float(target_pt.sum()) / 20 * 0.7)  # uniform and 30% too light
    xy = jnp.asarray(rng.normal(0.0, 0.3, (1, 20, 2)), jnp.float32)
    settings = EMDSettings(R=1.0)

    @jax.jit
    def emd(pt, xy):
        return sinkhorn_emd(CloudPair(ParticleClouds(pt, xy), target), settings, weight_gradients=True)[0]

    step = jax.jit(jax.value_and_grad(emd, argnums=(0, 1)))
    start = float(emd(pt, xy))
    for _ in range(150):
        value, (grad_pt, grad_xy) = step(pt, xy)
        pt = jnp.maximum(pt - 2.0 * grad_pt, 1e-3)
        xy = xy - 0.002 * grad_xy
    final = float(emd(pt, xy))
    exact_final = float(
        exact_emd(CloudPair(ParticleClouds(np.asarray(pt), np.asarray(xy)), target), settings)[0]
    )
    assert final < 0.3 * start, (start, final)
    assert exact_final == pytest.approx(final, rel=0.02)
    # the energy term pulled the mass up: the 30% deficit shrinks below 10%
    assert abs(float(pt.sum()) - float(target_pt.sum())) < 0.1 * float(target_pt.sum())
