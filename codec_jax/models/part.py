"""ParT: the Particle Transformer of Qu, Li and Qian (arXiv:2202.03772), sized for a CPU by default.

Architecture, as in the paper, with every size configurable:

1. **Particle embedding**: per particle ``(ln pT_rel, eta_rel, phi_rel)`` -> an MLP (GELU) of
   width ``embed_dim``.
2. **Interaction embedding**: for every pair of real particles the four pairwise features of
   :func:`pairwise_features` -- ln Delta, ln kT, ln z, ln m^2 -- pass a pointwise MLP
   (``pair_dims``, GELU) to ``num_heads`` numbers ``U[b, h, i, j]``, the same for every
   particle-attention block.
3. **Particle attention blocks** (``num_layers``): pre-LayerNorm multi-head self-attention whose
   logits are ``q_i . k_j / sqrt(d) + U[h, i, j]``, padded particles masked out as keys, then a
   GELU MLP (``mlp_dim``), both residual.
4. **Class attention blocks** (``num_class_layers``): a learned class token attends to
   ``[class token; particles]`` (the particles' real/padded mask applied), then an MLP, both
   residual; the particles are not updated.
5. LayerNorm of the class token and a linear ``output_dim`` layer.

Dropout and the paper's extra LayerNorms inside the attention/MLP are left out.

Input convention: the encoder needs the *physical* relative features ``(pt_rel, eta_rel,
phi_rel)`` (columns ``feature_indices``), because the pairwise features are logarithms of
momenta and distances. Its class attribute ``standardize_inputs = False`` tells the engine
(:mod:`codec_jax.train.runs`) to store an identity standardisation for its runs instead of the
usual per-feature ``(x - mean) / std``.

``x [batch, particles, features], mask [batch, particles] -> [batch, output_dim]``; the output
does not depend on the order of the particles or on what padded slots hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from codec_jax.models.layers import MLP, off_diagonal, wrapped_angle, zero_padding

__all__ = ["ParT", "pairwise_features", "PAIRWISE_FEATURES"]

#: The pairwise features of :func:`pairwise_features`, in order.
PAIRWISE_FEATURES: tuple[str, ...] = ("ln_delta", "ln_kt", "ln_z", "ln_m2")

#: Floor inside every logarithm (momenta are pT fractions of the jet, distances in eta-phi).
_EPS = 1e-8
#: Logit of a masked key: finite, so a row without real keys stays finite (and is never read).
_MASKED_LOGIT = -1e9


def pairwise_features(
    x: jax.Array, mask: jax.Array, feature_indices: tuple[int, int, int] = (0, 1, 2)
) -> jax.Array:
    """ParT's pairwise interaction features of every pair of particles.

    With ``pt`` the particle pT (any common scale: the relative pT of codec_jax's inputs), ``Delta
    = sqrt(deta^2 + dphi^2)`` (dphi wrapped into [-pi, pi)), for particles a and b:

    * ``ln Delta``;
    * ``ln kT = ln(min(pt_a, pt_b) Delta)``;
    * ``ln z = ln(min(pt_a, pt_b) / (pt_a + pt_b))``;
    * ``ln m^2 = ln(2 pt_a pt_b (cosh deta - cos dphi))``, the invariant mass squared of two
      massless particles.

    Each argument is floored at 1e-8 before the logarithm (a particle with itself has Delta = 0).
    Pairs with a padded particle, and the diagonal, are set to 0.

    Args:
        x: ``[batch, particles, features]``; ``feature_indices`` are the columns of pt, eta, phi.
        mask: ``[batch, particles]`` bool.

    Returns:
        ``[batch, particles, particles, 4]`` in the order of :data:`PAIRWISE_FEATURES`.
    """

    pt_col, eta_col, phi_col = feature_indices
    pt = jnp.where(mask, x[..., pt_col], 0.0)
    eta, phi = x[..., eta_col], x[..., phi_col]
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = wrapped_angle(phi[:, :, None] - phi[:, None, :])
    delta = jnp.sqrt(deta**2 + dphi**2 + _EPS**2)
    pt_a, pt_b = pt[:, :, None], pt[:, None, :]
    pt_min = jnp.minimum(pt_a, pt_b)
    m2 = 2.0 * pt_a * pt_b * (jnp.cosh(deta) - jnp.cos(dphi))
    features = jnp.stack(
        [
            jnp.log(jnp.maximum(delta, _EPS)),
            jnp.log(jnp.maximum(pt_min * delta, _EPS)),
            jnp.log(jnp.maximum(pt_min / jnp.maximum(pt_a + pt_b, _EPS), _EPS)),
            jnp.log(jnp.maximum(m2, _EPS)),
        ],
        axis=-1,
    )
    n = mask.shape[1]
    valid = mask[:, :, None] & mask[:, None, :] & off_diagonal(n)
    return jnp.where(valid[..., None], features, 0.0)


class _BiasedAttention(nn.Module):
    """Multi-head attention with an additive logit bias: ``softmax(q k^T / sqrt(d) + bias)``.

    ``queries [b, q, e]``, ``keys [b, k, e]``, ``key_mask [b, k]`` bool, ``bias [b, h, q, k]`` or
    None -> ``[b, q, e]``.
    """

    num_heads: int

    @nn.compact
    def __call__(
        self, queries: jax.Array, keys: jax.Array, key_mask: jax.Array, bias: jax.Array | None
    ) -> jax.Array:
        width = queries.shape[-1]
        if width % self.num_heads:
            raise ValueError(f"ParT: embed_dim {width} is not divisible by num_heads {self.num_heads}")
        head_dim = width // self.num_heads
        shape = (self.num_heads, head_dim)
        q = nn.DenseGeneral(shape, name="query")(queries)
        k = nn.DenseGeneral(shape, name="key")(keys)
        v = nn.DenseGeneral(shape, name="value")(keys)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head_dim).astype(q.dtype)
        if bias is not None:
            logits = logits + bias
        logits = jnp.where(key_mask[:, None, None, :], logits, _MASKED_LOGIT)
        weights = jax.nn.softmax(logits, axis=-1)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        return nn.DenseGeneral(width, axis=(-2, -1), name="out")(attended)


class _ParticleBlock(nn.Module):
    num_heads: int
    mlp_dim: int

    @nn.compact
    def __call__(self, h: jax.Array, mask: jax.Array, bias: jax.Array) -> jax.Array:
        normed = nn.LayerNorm(name="attention_norm")(h)
        h = h + _BiasedAttention(self.num_heads, name="attention")(normed, normed, mask, bias)
        update = MLP((self.mlp_dim, h.shape[-1]), activate_final=False, activation=nn.gelu, name="mlp")
        return h + update(nn.LayerNorm(name="mlp_norm")(h))


class _ClassBlock(nn.Module):
    num_heads: int
    mlp_dim: int

    @nn.compact
    def __call__(self, cls: jax.Array, particles: jax.Array, mask: jax.Array) -> jax.Array:
        keys = nn.LayerNorm(name="key_norm")(jnp.concatenate([cls, particles], axis=1))
        key_mask = jnp.concatenate([jnp.ones_like(mask[:, :1]), mask], axis=1)
        query = nn.LayerNorm(name="query_norm")(cls)
        cls = cls + _BiasedAttention(self.num_heads, name="attention")(query, keys, key_mask, None)
        update = MLP((self.mlp_dim, cls.shape[-1]), activate_final=False, activation=nn.gelu, name="mlp")
        return cls + update(nn.LayerNorm(name="mlp_norm")(cls))


class ParT(nn.Module):
    """Particle Transformer encoder (see the module docstring).

    Paper sizes: ``embed_dim=128, num_heads=8, num_layers=8, num_class_layers=2, mlp_dim=512,
    pair_dims=(64, 64, 64)``; the defaults here are a CPU-sized version.
    """

    embed_dim: int = 64
    num_heads: int = 4
    num_layers: int = 2
    num_class_layers: int = 1
    mlp_dim: int = 128
    pair_dims: Sequence[int] = (32, 32)
    output_dim: int = 64
    feature_indices: tuple[int, int, int] = (0, 1, 2)

    #: The engine stores an identity standardisation for this encoder's runs (see module docstring).
    standardize_inputs: ClassVar[bool] = False

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        if x.ndim != 3 or mask is None or mask.shape != x.shape[:2]:
            got = None if mask is None else mask.shape
            raise ValueError(
                f"ParT: x must be [batch, particles, features] with mask [batch, particles], got {x.shape}, {got}"
            )
        x = zero_padding(x, mask)
        pt_col, eta_col, phi_col = self.feature_indices
        log_pt = jnp.log(jnp.maximum(x[..., pt_col], _EPS))
        particles = jnp.stack([log_pt, x[..., eta_col], x[..., phi_col]], axis=-1)
        particles = jnp.where(mask[..., None], particles, 0.0)
        h = MLP((self.embed_dim, self.embed_dim), activate_final=False, activation=nn.gelu, name="embed")(
            particles
        )
        pairs = pairwise_features(x, mask, self.feature_indices)
        bias = MLP(
            (*self.pair_dims, self.num_heads), activate_final=False, activation=nn.gelu, name="pair_embed"
        )(pairs)
        bias = jnp.transpose(bias, (0, 3, 1, 2))  # [batch, heads, particles, particles]
        for layer in range(self.num_layers):
            h = _ParticleBlock(self.num_heads, self.mlp_dim, name=f"particle_block_{layer}")(h, mask, bias)
        h = jnp.where(mask[..., None], h, 0.0)
        cls = jnp.broadcast_to(
            self.param("class_token", nn.initializers.normal(0.02), (1, 1, self.embed_dim)),
            (x.shape[0], 1, self.embed_dim),
        ).astype(h.dtype)
        for layer in range(self.num_class_layers):
            cls = _ClassBlock(self.num_heads, self.mlp_dim, name=f"class_block_{layer}")(cls, h, mask)
        pooled = nn.LayerNorm(name="final_norm")(cls[:, 0])
        return nn.Dense(self.output_dim, name="output")(pooled)
