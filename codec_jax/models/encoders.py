"""Encoders: one Flax Linen module per architecture, each mapping a jet to a representation.

Particle encoders take ``x [batch, particles, features]`` (float32) and ``mask [batch, particles]``
(bool, True for real particles) and return ``[batch, output_dim]``. They zero padded slots first
and pool with masks, so the output does not depend on what padded slots hold, and (being set
functions) does not depend on the order of the particles, up to float rounding.

:class:`JetFeatureMLP` takes jet-level features ``x [batch, features]`` and ``mask=None``.

Particle feature order follows :data:`codec_jax.jets.RELATIVE_FEATURES`
(``pt_rel, eta_rel, phi_rel``); :class:`EdgeConv` needs to know which columns are eta and phi
(``coordinate_indices``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from codec_jax.models.layers import (
    MLP,
    PairDense,
    masked_mean,
    masked_sum,
    off_diagonal,
    wrapped_angle,
    zero_padding,
)

__all__ = [
    "JetFeatureMLP",
    "DeepSets",
    "InteractionNetwork",
    "EdgeMessages",
    "EdgeConv",
    "MaskedTransformer",
    "ParticleTransformer",
    "knn_indices",
]


def _check_particles(name: str, x: jax.Array, mask: jax.Array | None) -> None:
    if x.ndim != 3:
        raise ValueError(f"{name}: x must be [batch, particles, features], got shape {x.shape}")
    if mask is None or mask.shape != x.shape[:2]:
        got = None if mask is None else mask.shape
        raise ValueError(f"{name}: mask must be [batch, particles] = {x.shape[:2]}, got {got}")


class JetFeatureMLP(nn.Module):
    """MLP on jet-level (high-level) features, e.g. the CoDec 25-64-64-64-4 network.

    ``x [batch, features] -> [batch, output_dim]``: ReLU hidden layers, linear output.
    ``mask`` is accepted for a uniform call signature and ignored (jet-level features have no
    padding); pass None.
    """

    hidden_dims: Sequence[int] = (64, 64, 64)
    output_dim: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        if x.ndim != 2:
            raise ValueError(f"JetFeatureMLP: x must be [batch, features], got shape {x.shape}")
        x = MLP(self.hidden_dims, name="hidden")(x)
        return nn.Dense(self.output_dim, name="output")(x)


class DeepSets(nn.Module):
    """Deep Sets / Energy-Flow-style Particle Flow Network (Komiske, Metodiev, Thaler).

    Per particle ``Phi`` (``particle_dims``, ReLU), masked sum over particles, then ``F``
    (``jet_dims``, ReLU) and a linear ``output_dim`` layer.
    ``x [batch, particles, features], mask [batch, particles] -> [batch, output_dim]``.
    """

    particle_dims: Sequence[int] = (100, 100, 128)
    jet_dims: Sequence[int] = (100, 100)
    output_dim: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        _check_particles("DeepSets", x, mask)
        x = zero_padding(x, mask)
        per_particle = MLP(self.particle_dims, name="particle_mlp")(x)
        pooled = masked_sum(per_particle, mask)
        pooled = MLP(self.jet_dims, name="jet_mlp")(pooled)
        return nn.Dense(self.output_dim, name="output")(pooled)


class EdgeMessages(nn.Module):
    """The Interaction Network's edge network: summed messages per receiving particle.

    For every ordered pair of distinct real particles ``(i, j)`` (receiver ``i``, sender ``j``) the
    edge MLP (``edge_dims``, ReLU throughout) maps ``[x_i, x_j]`` to a message, and the messages
    are summed over senders. The first layer is applied per particle (:class:`PairDense`) and the
    receiver and sender parts are added, so ``[batch, P, P, 2 * features]`` pair tensors are never
    built; self-pairs and pairs with a padded end are removed at the sum.

    ``x [batch, particles, features] (padded slots zero), mask [batch, particles]
    -> [batch, particles, edge_dims[-1]]``.
    """

    edge_dims: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        receiver, sender = PairDense(self.edge_dims[0], name="edge_input")(x)
        # [batch, receivers, senders, edge_dims[0]]
        edges = nn.relu(receiver[:, :, None, :] + sender[:, None, :, :])
        edges = MLP(self.edge_dims[1:], name="edge_mlp")(edges)
        distinct = off_diagonal(x.shape[1])
        real_pairs = mask[:, :, None] & mask[:, None, :] & distinct  # [batch, receivers, senders]
        return masked_sum(edges, real_pairs, axis=2)


def _scan_chunk(module: EdgeMessages, carry: None, chunk: tuple[jax.Array, jax.Array]):
    return carry, module(*chunk)


class InteractionNetwork(nn.Module):
    """Interaction Network, the MACK featurizer.

    The edge network (:class:`EdgeMessages`, ``edge_dims``) sums messages over all ordered pairs of
    distinct real particles per receiver; the node MLP (``node_dims``, ReLU) maps
    ``[x_i, sum_j message_ij]``; node outputs are summed over real particles; the jet MLP
    (``jet_dims``, ReLU) and a linear ``output_dim`` layer give the representation. Defaults:
    edge 64-32-32, node 64-32-32, jet 128-128-64 then 64 (the MACK "dense 128-128-64-64 -> 64-d").

    Memory: the pair activations take ``batch * P**2 * edge_dims[0] * 4`` bytes per view (236 MB
    at batch 1024, P = 30; 5.9 GB at P = 150). With ``pair_chunk_size=n`` the pairs are computed
    for ``n`` jets at a time in a loop whose backward pass recomputes each chunk's activations
    (``nn.scan`` of ``nn.remat``), so only ``[n, P, P, edge_dims[0]]`` is alive at once. It is about
    as fast on CPU (the loop is sequential: slower on GPUs) and gives the same function; the
    parameters do not depend on it. The default ``None`` computes all pairs at once.

    ``x [batch, particles, features], mask [batch, particles] -> [batch, output_dim]``.
    """

    edge_dims: Sequence[int] = (64, 32, 32)
    node_dims: Sequence[int] = (64, 32, 32)
    jet_dims: Sequence[int] = (128, 128, 64)
    output_dim: int = 64
    pair_chunk_size: int | None = None

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        _check_particles("InteractionNetwork", x, mask)
        if not self.edge_dims:
            raise ValueError("InteractionNetwork: edge_dims needs at least one layer")
        x = zero_padding(x, mask)
        messages = self._messages(x, mask)  # [batch, particles, edge_dims[-1]]
        nodes = MLP(self.node_dims, name="node_mlp")(jnp.concatenate([x, messages], axis=-1))
        pooled = masked_sum(nodes, mask)
        pooled = MLP(self.jet_dims, name="jet_mlp")(pooled)
        return nn.Dense(self.output_dim, name="output")(pooled)

    def _messages(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        if self.pair_chunk_size is not None and self.pair_chunk_size < 1:
            raise ValueError(
                f"InteractionNetwork: pair_chunk_size must be positive or None, got {self.pair_chunk_size}"
            )
        batch = x.shape[0]
        chunk = batch if self.pair_chunk_size is None else min(self.pair_chunk_size, batch)
        if chunk == batch:
            return EdgeMessages(self.edge_dims, name="edge_network")(x, mask)
        n_chunks = -(-batch // chunk)
        padding = n_chunks * chunk - batch  # extra all-padded jets, dropped again below
        x = jnp.pad(x, ((0, padding), (0, 0), (0, 0))).reshape(n_chunks, chunk, *x.shape[1:])
        mask = jnp.pad(mask, ((0, padding), (0, 0))).reshape(n_chunks, chunk, mask.shape[1])
        scan = nn.scan(_scan_chunk, variable_broadcast="params", split_rngs={"params": False})
        edge_network = nn.remat(EdgeMessages)(self.edge_dims, name="edge_network")
        _, messages = scan(edge_network, None, (x, mask))
        return messages.reshape(n_chunks * chunk, *messages.shape[2:])[:batch]


def knn_indices(coordinates: jax.Array, mask: jax.Array, num_neighbors: int) -> tuple[jax.Array, jax.Array]:
    """The ``num_neighbors`` nearest real particles of every particle in (eta, phi).

    Distances are ``deta**2 + dphi**2`` with ``dphi`` wrapped into [-pi, pi). A particle is never
    its own neighbour and padded particles are never neighbours.

    Args:
        coordinates: ``[batch, particles, 2]`` (eta, phi).
        mask: ``[batch, particles]`` bool.
        num_neighbors: k; must be at most ``particles - 1``.

    Returns:
        ``(indices, valid)``, both ``[batch, particles, k]``: neighbour indices and whether the
        neighbour is real (False when a jet has fewer than ``k + 1`` real particles).
    """
    coordinates = jax.lax.stop_gradient(coordinates)
    delta = coordinates[:, :, None, :] - coordinates[:, None, :, :]  # [batch, P, P, 2]
    deta = delta[..., 0]
    dphi = wrapped_angle(delta[..., 1])
    distance = deta**2 + dphi**2
    n_particles = mask.shape[1]
    allowed = mask[:, None, :] & off_diagonal(n_particles)
    distance = jnp.where(allowed, distance, jnp.inf)
    neg_distance, indices = jax.lax.top_k(-distance, num_neighbors)
    return indices, jnp.isfinite(neg_distance)


class EdgeConv(nn.Module):
    """EdgeConv network (DGCNN / ParticleNet style) on a k-nearest-neighbour graph in (eta, phi).

    The graph is built once from the (eta, phi) columns ``coordinate_indices`` among real
    particles (``k = min(num_neighbors, particles - 1)``; a jet with fewer real particles uses
    all of them). Each block maps every edge ``[h_i, h_j - h_i]`` with an MLP (``block_dims[b]``, ReLU)
    and averages over the real neighbours of ``i``. The last block's node features are averaged
    over real particles, then ``jet_dims`` (ReLU) and a linear ``output_dim`` layer.

    ``x [batch, particles, features], mask [batch, particles] -> [batch, output_dim]``.
    """

    num_neighbors: int = 8
    block_dims: Sequence[Sequence[int]] = ((64, 64, 64), (128, 128, 128))
    jet_dims: Sequence[int] = (128,)
    output_dim: int = 64
    coordinate_indices: tuple[int, int] = (1, 2)

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        _check_particles("EdgeConv", x, mask)
        if self.num_neighbors < 1:
            raise ValueError(f"EdgeConv: num_neighbors must be at least 1, got {self.num_neighbors}")
        if x.shape[1] < 2:
            raise ValueError(f"EdgeConv: needs at least 2 particle slots, got x of shape {x.shape}")
        # With fewer slots than k + 1 the extra neighbours would all be invalid anyway.
        num_neighbors = min(self.num_neighbors, x.shape[1] - 1)
        x = zero_padding(x, mask)
        eta_col, phi_col = self.coordinate_indices
        coordinates = jnp.stack([x[..., eta_col], x[..., phi_col]], axis=-1)
        indices, valid = knn_indices(coordinates, mask, num_neighbors)
        hidden = x
        for block, dims in enumerate(self.block_dims):
            neighbours = jax.vmap(lambda h, idx: h[idx])(hidden, indices)  # [batch, P, k, C]
            centre = jnp.broadcast_to(hidden[:, :, None, :], neighbours.shape)
            edges = jnp.concatenate([centre, neighbours - centre], axis=-1)
            edges = MLP(dims, name=f"block_{block}")(edges)
            hidden = masked_mean(edges, valid, axis=2)  # [batch, P, dims[-1]]
        pooled = masked_mean(hidden, mask)
        pooled = MLP(self.jet_dims, name="jet_mlp")(pooled)
        return nn.Dense(self.output_dim, name="output")(pooled)


class _TransformerBlock(nn.Module):
    """Pre-LayerNorm self-attention block; padded particles are never attended to (keys)."""

    num_heads: int
    mlp_dim: int

    @nn.compact
    def __call__(self, h: jax.Array, key_mask: jax.Array) -> jax.Array:
        width = h.shape[-1]
        attended = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attention")(
            nn.LayerNorm(name="attention_norm")(h), mask=key_mask
        )
        h = h + attended
        update = MLP((self.mlp_dim, width), activate_final=False, activation=nn.gelu, name="mlp")(
            nn.LayerNorm(name="mlp_norm")(h)
        )
        return h + update


class MaskedTransformer(nn.Module):
    """Masked transformer encoder over particles (no positional encoding: a set function).

    A plain transformer: no pairwise interaction features and no class attention -- that is ParT
    (:class:`codec_jax.models.part.ParT`, encoder ``"part"``).

    Particles are embedded by a Dense layer (``embed_dim``), pass ``num_layers`` pre-LayerNorm
    self-attention blocks in which padded particles are masked out as keys, are averaged over real
    particles, normalised, and mapped by a linear ``output_dim`` layer.

    ``x [batch, particles, features], mask [batch, particles] -> [batch, output_dim]``.
    """

    embed_dim: int = 64
    num_heads: int = 4
    num_layers: int = 2
    mlp_dim: int = 128
    output_dim: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        _check_particles(type(self).__name__, x, mask)
        x = zero_padding(x, mask)
        h = nn.Dense(self.embed_dim, name="embed")(x)
        key_mask = mask[:, None, None, :]  # [batch, heads=1, queries=1, keys]
        for layer in range(self.num_layers):
            h = _TransformerBlock(self.num_heads, self.mlp_dim, name=f"block_{layer}")(h, key_mask)
        pooled = nn.LayerNorm(name="final_norm")(masked_mean(h, mask))
        return nn.Dense(self.output_dim, name="output")(pooled)


class ParticleTransformer(MaskedTransformer):
    """Deprecated name of :class:`MaskedTransformer` (readers took it for ParT); same parameters."""

    def __post_init__(self) -> None:
        warnings.warn(
            "codec_jax.models.ParticleTransformer is deprecated: it is a plain masked transformer, now "
            "MaskedTransformer (encoder 'transformer'); the Particle Transformer is ParT (encoder 'part')",
            DeprecationWarning,
            stacklevel=3,
        )
        super().__post_init__()
