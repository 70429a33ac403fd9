"""Supervised losses with per-jet weights: binary cross entropy on logits and mass regression.

Per-jet weights (flattening weights, class balance, or 0 for padded jets of the last batch) enter
as a weighted mean ``sum_i w_i l_i / sum_i w_i``. With weights normalised to mean 1 over the batch
this equals the ``mean(w_i l_i)`` of Keras ``sample_weight`` and of PyTorch's
``BCEWithLogitsLoss(weight=...)``; unlike it, it does not change when all weights are rescaled.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["bce", "mass_regression"]

#: Smallest total weight used as a denominator (a batch whose weights are all 0 gives loss 0).
_TINY_WEIGHT = 1e-12


def _weighted_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    """Weighted mean of ``values: [n]`` with ``weights: [n]`` (plain mean if ``None``)."""
    if weights is None:
        return jnp.mean(values)
    weights = jnp.asarray(weights, values.dtype)
    if weights.shape != values.shape:
        raise ValueError(f"weights must have shape {values.shape} like the predictions; got {weights.shape}")
    return jnp.sum(weights * values) / jnp.maximum(jnp.sum(weights), _TINY_WEIGHT)


def _as_flat(name: str, array: jax.Array) -> jax.Array:
    """Accept ``[n]`` or ``[n, 1]`` (a head with one output) and return ``[n]``."""
    array = jnp.asarray(array)
    if array.ndim == 2 and array.shape[-1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape [batch] or [batch, 1]; got {array.shape}")
    return array


def bce(
    logits: jax.Array, labels: jax.Array, weights: jax.Array | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted binary cross entropy on logits.

    ``l_i = -[y_i log sigmoid(x_i) + (1 - y_i) log(1 - sigmoid(x_i))]``, computed stably as
    ``max(x, 0) - x y + log(1 + exp(-|x|))``; ``loss = sum_i w_i l_i / sum_i w_i``.

    Args:
        logits: ``[batch]`` or ``[batch, 1]`` classifier outputs before the sigmoid.
        labels: ``[batch]`` targets in [0, 1] (1 = signal).
        weights: optional ``[batch]`` non-negative per-jet weights.

    Returns:
        ``(loss, aux)`` with ``aux = {"bce": loss, "accuracy": weighted fraction of jets with
        (logit > 0) == (label > 0.5)}``.
    """
    logits = _as_flat("logits", logits)
    labels = _as_flat("labels", labels).astype(logits.dtype)
    if labels.shape != logits.shape:
        raise ValueError(f"labels must have shape {logits.shape} like the logits; got {labels.shape}")
    per_jet = jnp.maximum(logits, 0.0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    loss = _weighted_mean(per_jet, weights)
    correct = ((logits > 0) == (labels > 0.5)).astype(logits.dtype)
    accuracy = jax.lax.stop_gradient(_weighted_mean(correct, weights))
    return loss, {"bce": loss, "accuracy": accuracy}


def mass_regression(
    predictions: jax.Array,
    mass: jax.Array,
    weights: jax.Array | None = None,
    *,
    log_mass: bool = True,
    huber_delta: float | None = 0.1,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted Huber (or squared-error) loss for regressing the jet mass.

    The target is ``t = log(mass)`` when ``log_mass`` (the network then predicts the log of the
    mass in GeV, so the residual ``r = prediction - t`` is a relative error: 0.1 is about 10%),
    otherwise ``t = mass``. Per jet, ``l = r^2 / 2`` for ``|r| <= delta`` and
    ``delta * (|r| - delta / 2)`` beyond (Huber; robust to the long tails of badly reconstructed
    jets), or ``l = r^2`` when ``huber_delta`` is None (plain MSE). ``loss = sum w l / sum w``.

    Args:
        predictions: ``[batch]`` or ``[batch, 1]`` network outputs (log-mass if ``log_mass``).
        mass: ``[batch]`` target mass in GeV (positive if ``log_mass``), e.g. ``truth_mass``.
        weights: optional ``[batch]`` per-jet weights (e.g. flattening weights).
        log_mass: regress ``log(mass)`` instead of ``mass``.
        huber_delta: Huber transition point in units of the target; None for MSE.

    Returns:
        ``(loss, aux)`` with ``aux = {"regression": loss, "mean_abs_residual": weighted mean |r|}``.
    """
    predictions = _as_flat("predictions", predictions)
    mass = _as_flat("mass", mass).astype(predictions.dtype)
    if mass.shape != predictions.shape:
        raise ValueError(f"mass must have shape {predictions.shape} like the predictions; got {mass.shape}")
    target = jnp.log(mass) if log_mass else mass
    residual = predictions - target
    if huber_delta is None:
        per_jet = residual**2
    else:
        abs_residual = jnp.abs(residual)
        quadratic = jnp.minimum(abs_residual, huber_delta)
        per_jet = 0.5 * quadratic**2 + huber_delta * (abs_residual - quadratic)
    loss = _weighted_mean(per_jet, weights)
    mean_abs_residual = jax.lax.stop_gradient(_weighted_mean(jnp.abs(residual), weights))
    return loss, {"regression": loss, "mean_abs_residual": mean_abs_residual}
