"""Weighted BCE and mass regression against NumPy references written here, plus gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax.losses import bce, mass_regression

N = 40
# Jitted once per module: one compilation per signature instead of one per eager primitive.
bce_jit = jax.jit(bce)
regression_jit = jax.jit(mass_regression, static_argnames=("log_mass", "huber_delta"))


def bce_reference(logits, labels, weights):
    probability = 1.0 / (1.0 + np.exp(-logits))
    per_jet = -(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    return np.sum(weights * per_jet) / np.sum(weights)


def regression_reference(predictions, mass, weights, log_mass=True, delta=0.1):
    residual = predictions - (np.log(mass) if log_mass else mass)
    if delta is None:
        per_jet = residual**2
    else:
        per_jet = np.array(
            [0.5 * r**2 if abs(r) <= delta else delta * abs(r) - 0.5 * delta**2 for r in residual]
        )
    return np.sum(weights * per_jet) / np.sum(weights)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(4)
    logits = rng.normal(scale=3.0, size=N)
    labels = (rng.uniform(size=N) < 0.5).astype(float)
    weights = rng.uniform(0.1, 3.0, size=N)
    mass = rng.uniform(20.0, 300.0, size=N)
    # Residuals spread on both sides of the Huber transition, none within 1e-3 of it.
    residual = rng.choice([-1, 1], size=N) * rng.uniform(0.0, 0.3, size=N)
    residual = np.where(np.abs(np.abs(residual) - 0.1) < 1e-3, 0.05, residual)
    predictions = np.log(mass) + residual
    return logits, labels, weights, mass, predictions


def _central_differences(function, values, step=1e-6):
    numeric = np.zeros(len(values))
    for i in range(len(values)):
        plus, minus = values.copy(), values.copy()
        plus[i] += step
        minus[i] -= step
        numeric[i] = (function(plus) - function(minus)) / (2 * step)
    return numeric


def test_bce_matches_reference(batch):
    logits, labels, weights, *_ = batch
    loss, aux = bce_jit(jnp.float32(logits), jnp.float32(labels), jnp.float32(weights))
    np.testing.assert_allclose(float(loss), bce_reference(logits, labels, weights), rtol=1e-5)
    expected_accuracy = np.sum(weights * ((logits > 0) == (labels > 0.5))) / weights.sum()
    np.testing.assert_allclose(float(aux["accuracy"]), expected_accuracy, rtol=1e-6)
    # Unweighted, and a [batch, 1] head output.
    loss, _ = bce_jit(jnp.float32(logits[:, None]), jnp.float32(labels))
    np.testing.assert_allclose(float(loss), bce_reference(logits, labels, np.ones(N)), rtol=1e-5)


def test_bce_weights_select_and_scale(batch):
    logits, labels, weights, *_ = batch
    keep = np.arange(N) % 3 != 0
    masked, _ = bce_jit(jnp.float32(logits), jnp.float32(labels), jnp.float32(weights * keep))
    subset, _ = bce_jit(jnp.float32(logits[keep]), jnp.float32(labels[keep]), jnp.float32(weights[keep]))
    np.testing.assert_allclose(float(masked), float(subset), rtol=1e-6)
    scaled, _ = bce_jit(jnp.float32(logits), jnp.float32(labels), jnp.float32(7.0 * weights))
    unscaled, _ = bce_jit(jnp.float32(logits), jnp.float32(labels), jnp.float32(weights))
    np.testing.assert_allclose(float(scaled), float(unscaled), rtol=1e-6)


def test_bce_is_stable_for_large_logits():
    logits = jnp.float32([200.0, -200.0, 200.0, -200.0])
    labels = jnp.float32([1.0, 0.0, 0.0, 1.0])
    loss, _ = bce_jit(logits, labels)
    np.testing.assert_allclose(float(loss), 100.0, rtol=1e-6)  # two perfect jets, two at 200
    grad = jax.jit(jax.grad(lambda x: bce(x, labels)[0]))(logits)
    np.testing.assert_allclose(np.asarray(grad), [0.0, 0.0, 0.25, -0.25], atol=1e-7)


def test_bce_gradient_matches_finite_differences(batch):
    logits, labels, weights, *_ = batch
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(lambda x, y, w: bce(x, y, w)[0]))(
            *map(jnp.asarray, (logits, labels, weights))
        )
    numeric = _central_differences(lambda x: bce_reference(x, labels, weights), logits)
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(("log_mass", "delta"), [(True, 0.1), (True, None), (False, 5.0)])
def test_mass_regression_matches_reference(batch, log_mass, delta):
    *_, weights, mass, predictions = batch
    if not log_mass:
        predictions = mass + np.random.default_rng(1).normal(scale=8.0, size=N)
    loss, aux = regression_jit(
        jnp.float32(predictions),
        jnp.float32(mass),
        jnp.float32(weights),
        log_mass=log_mass,
        huber_delta=delta,
    )
    expected = regression_reference(predictions, mass, weights, log_mass, delta)
    np.testing.assert_allclose(float(loss), expected, rtol=2e-5)
    target = np.log(mass) if log_mass else mass
    expected_mae = np.sum(weights * np.abs(predictions - target)) / weights.sum()
    np.testing.assert_allclose(float(aux["mean_abs_residual"]), expected_mae, rtol=1e-4)


def test_mass_regression_gradient_matches_finite_differences(batch):
    *_, weights, mass, predictions = batch
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(lambda p, m, w: mass_regression(p, m, w)[0]))(
            *map(jnp.asarray, (predictions, mass, weights))
        )
    numeric = _central_differences(lambda p: regression_reference(p, mass, weights), predictions)
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-10)
    assert np.any(np.abs(predictions - np.log(mass)) > 0.1)  # both Huber branches are exercised


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="labels"):
        bce_jit(jnp.zeros(4), jnp.zeros(5))
    with pytest.raises(ValueError, match="weights"):
        bce_jit(jnp.zeros(4), jnp.zeros(4), jnp.ones(3))
    with pytest.raises(ValueError, match="mass"):
        mass_regression(jnp.zeros(4), jnp.ones((4, 2)))
