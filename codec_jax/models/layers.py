"""Building blocks shared by the encoders: MLP stacks, masked pooling, the pair-factorised Dense.

Shape conventions: ``[batch, particles, features]`` for particle arrays and ``[batch, particles]``
(bool, True for real particles) for masks. Every pooling function ignores padded slots with
``jnp.where`` (never by multiplying with the mask), so padded slots holding huge or infinite
values cannot leak into the result as ``inf * 0 = nan``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "MLP",
    "PairDense",
    "masked_sum",
    "masked_mean",
    "zero_padding",
    "off_diagonal",
    "wrapped_angle",
]


def zero_padding(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Set padded particles to zero. ``x: [batch, particles, features]``, ``mask: [batch, particles]``.

    Encoders call this first, so whatever a data pipeline leaves in padded slots has no effect.
    """
    return jnp.where(mask[..., None], x, jnp.zeros((), x.dtype))


def masked_sum(values: jax.Array, mask: jax.Array, axis: int = 1) -> jax.Array:
    """Sum of ``values`` over ``axis`` keeping only entries where ``mask`` is True.

    Args:
        values: ``[..., n, ..., channels]``, e.g. ``[batch, particles, channels]``.
        mask: boolean, the shape of ``values`` without its last axis, e.g. ``[batch, particles]``.
        axis: the axis to reduce (of ``values``; must not be the channel axis).

    Returns:
        ``values`` with ``axis`` summed out, e.g. ``[batch, channels]``.
    """
    return jnp.sum(jnp.where(mask[..., None], values, jnp.zeros((), values.dtype)), axis=axis)


def masked_mean(values: jax.Array, mask: jax.Array, axis: int = 1) -> jax.Array:
    """Mean of ``values`` over the True entries of ``mask`` along ``axis`` (0 when there are none).

    Shapes as in :func:`masked_sum`.
    """
    count = jnp.sum(mask, axis=axis).astype(values.dtype)[..., None]
    return masked_sum(values, mask, axis=axis) / jnp.maximum(count, 1.0)


class MLP(nn.Module):
    """A stack of Dense layers, ``activation`` after each (after the last too if ``activate_final``).

    Works on any leading shape: ``[..., in_features] -> [..., features[-1]]``. Layers are named
    ``layer_0``, ``layer_1``, ... in the parameter tree. An empty ``features`` is the identity.
    """

    features: Sequence[int]
    activate_final: bool = True
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for index, width in enumerate(self.features):
            x = nn.Dense(width, name=f"layer_{index}")(x)
            if self.activate_final or index < len(self.features) - 1:
                x = self.activation(x)
        return x


class PairDense(nn.Module):
    """The first Dense layer of an edge network, factorised over the two ends of each pair.

    A Dense layer on the concatenated pair ``[x_i, x_j]`` (receiver ``i``, sender ``j``) is
    ``W [x_i, x_j] + b = (W_r x_i + b) + W_s x_j`` with ``W = [W_r; W_s]``. This module computes
    the two per-particle parts once (``particles`` products instead of ``particles**2``); the caller
    broadcasts and adds them. Its parameters are exactly those of ``nn.Dense(features)`` applied to
    the concatenated pair: ``kernel [2 * in_features, features]`` (receiver rows first) and
    ``bias [features]``.

    Args (call):
        x: ``[batch, particles, in_features]``.

    Returns:
        ``(receiver, sender)``, each ``[batch, particles, features]``; the bias is in ``receiver``.
        The pre-activation of pair ``(i, j)`` is ``receiver[:, i] + sender[:, j]``.
    """

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        in_features = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (2 * in_features, self.features), jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        receiver = x @ kernel[:in_features] + bias
        sender = x @ kernel[in_features:]
        return receiver, sender


def off_diagonal(n: int) -> jax.Array:
    """``[n, n]`` bool, True off the diagonal (pairs of distinct particles). Built from index
    comparisons rather than ``jnp.eye`` so that exported ONNX graphs need no boolean ``EyeLike``
    (which ONNX Runtime does not implement)."""
    index = jnp.arange(n)
    return index[:, None] != index[None, :]


def wrapped_angle(dphi: jax.Array) -> jax.Array:
    """An azimuthal difference wrapped into [-pi, pi] (``dphi - 2 pi round(dphi / 2 pi)``; the same
    as the ``mod`` form except exactly at +-pi, where only the sign may differ). Written without
    ``rem`` so that ONNX export works with a symbolic batch size."""
    return dphi - 2.0 * jnp.pi * jnp.round(dphi / (2.0 * jnp.pi))
