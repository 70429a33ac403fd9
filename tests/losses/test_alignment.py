"""The Sinkhorn-divergence alignment loss against a NumPy Sinkhorn, finite differences and the
properties it must have (zero for identical batches, smaller when the batches move together)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from codec_jax.losses import configured_loss, sinkhorn_alignment


def _entropic_ot(x: np.ndarray, y: np.ndarray, epsilon: float, iterations: int = 5000) -> float:
    """min_P <P, C> + eps KL(P | a b^T), uniform a and b, log-domain Sinkhorn in float64."""
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    log_a, log_b = np.full(len(x), -np.log(len(x))), np.full(len(y), -np.log(len(y)))
    f, g = np.zeros(len(x)), np.zeros(len(y))
    for _ in range(iterations):
        f = -epsilon * logsumexp((g[None, :] - cost) / epsilon + log_b[None, :], axis=1)
        g = -epsilon * logsumexp((f[:, None] - cost) / epsilon + log_a[:, None], axis=0)
    log_plan = (f[:, None] + g[None, :] - cost) / epsilon + log_a[:, None] + log_b[None, :]
    plan = np.exp(log_plan)
    kl = np.sum(plan * (log_plan - log_a[:, None] - log_b[None, :])) - plan.sum() + 1.0
    return float(np.sum(plan * cost) + epsilon * kl)


def _numpy_divergence(x: np.ndarray, y: np.ndarray, epsilon: float) -> float:
    scale = np.sqrt(np.mean(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)))
    x, y = x / scale, y / scale
    return _entropic_ot(x, y, epsilon) - 0.5 * _entropic_ot(x, x, epsilon) - 0.5 * _entropic_ot(y, y, epsilon)


def _clouds(seed: int = 0, n: int = 24, m: int = 20, d: int = 5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(loc=0.7, scale=1.3, size=(m, d))


def test_matches_a_numpy_sinkhorn_divergence():
    x, y = _clouds()
    with jax.enable_x64(True):
        value, aux = sinkhorn_alignment(
            jnp.asarray(x), jnp.asarray(y), epsilon=0.1, threshold=1e-10, max_iterations=5000
        )
    expected = _numpy_divergence(x, y, 0.1)
    assert expected > 0.05
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(aux["scale"]), np.sqrt(np.mean(((x[:, None] - y[None]) ** 2).sum(-1))), rtol=1e-10
    )


def test_zero_for_identical_batches_and_positive_otherwise():
    x, y = _clouds(1)
    same, _ = sinkhorn_alignment(jnp.asarray(x, jnp.float32), jnp.asarray(x, jnp.float32))
    different, _ = sinkhorn_alignment(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    assert abs(float(same)) < 1e-4
    assert float(different) > 100 * abs(float(same)) + 1e-3


def test_decreases_as_the_alternate_batch_moves_towards_the_nominal_one():
    x, y = _clouds(2, n=32, m=32)
    values = [
        float(sinkhorn_alignment(jnp.asarray(x, jnp.float32), jnp.asarray(x + t * (y - x), jnp.float32))[0])
        for t in (1.0, 0.6, 0.3, 0.1)
    ]
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_invariant_to_a_common_rescaling():
    x, y = _clouds(3)
    value, _ = sinkhorn_alignment(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    scaled, _ = sinkhorn_alignment(jnp.asarray(7 * x, jnp.float32), jnp.asarray(7 * y, jnp.float32))
    np.testing.assert_allclose(float(scaled), float(value), rtol=1e-3)


def test_gradients_match_finite_differences():
    x, y = _clouds(4, n=10, m=12, d=3)
    with jax.enable_x64(True):

        def loss(x, y):
            return sinkhorn_alignment(x, y, epsilon=0.2, threshold=1e-12, max_iterations=10000)[0]

        grad_x, grad_y = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(y))
        rng = np.random.default_rng(5)
        for _ in range(4):
            dx, dy = rng.normal(size=x.shape), rng.normal(size=y.shape)
            h = 1e-5
            numeric = (loss(x + h * dx, y + h * dy) - loss(x - h * dx, y - h * dy)) / (2 * h)
            analytic = np.sum(np.asarray(grad_x) * dx) + np.sum(np.asarray(grad_y) * dy)
            np.testing.assert_allclose(analytic, float(numeric), rtol=2e-3)


def test_registered_as_an_alignment_term_with_checked_arguments():
    bound = configured_loss("sinkhorn", "alignment", {"epsilon": 0.1})
    x, y = _clouds(6)
    value, _ = bound(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    assert float(value) > 0
    with pytest.raises(Exception, match="loss.alignment_kwargs"):
        configured_loss("sinkhorn", "alignment", {"eps": 0.1})
    with pytest.raises(Exception, match="loss.alignment='nope'"):
        configured_loss("nope", "alignment", {})


def test_refuses_embeddings_of_different_width():
    with pytest.raises(ValueError, match=r"\[n, d\] and \[m, d\]"):
        sinkhorn_alignment(jnp.zeros((4, 3)), jnp.zeros((4, 2)))
