"""Distribution alignment: a loss that makes the embeddings of two samples look alike as sets.

MACK makes nominal and alternate simulation look alike to the encoder through explicit
(nominal, alternate) pairs. Optimal transport can instead compare the two *distributions* of
embeddings in a batch, with no pairs: the Sinkhorn divergence (Feydy et al. 2019)

    S(x, y) = OT_eps(x, y) - OT_eps(x, x) / 2 - OT_eps(y, y) / 2,

where ``OT_eps(x, y) = min_P <P, C> + eps KL(P | a b^T)`` is the entropic optimal-transport cost
between the uniform point clouds ``x [n, d]`` and ``y [m, d]`` with the squared-Euclidean cost
``C_ij = |x_i - y_j|^2``. S is zero for identical clouds, non-negative, and, unlike ``OT_eps`` itself,
has no entropic bias. It is computed by ott-jax (``sinkhorn_divergence`` on ``PointCloud``
geometries; gradients by implicit differentiation of the Sinkhorn fixed point).

Scale: both clouds are divided by ``s = sqrt(mean_ij |x_i - y_j|^2)`` (differentiated through),
so the xy cost has mean 1, ``eps`` is in those units, and the loss cannot be lowered by shrinking
all embeddings (it is invariant to a common rescaling of ``x`` and ``y``).

A registered ``"alignment"`` loss (:mod:`codec_jax.losses.registry`) has the signature
``align(h_nominal, h_alternate, **kwargs) -> (scalar, aux)``; the training engine calls it on the
gathered batch (it couples all jets of the batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ott.geometry import pointcloud
from ott.tools import sinkhorn_divergence

__all__ = ["sinkhorn_alignment", "DEFAULT_ALIGNMENT_EPSILON"]

#: Entropic regularisation in units of the mean squared distance between the two clouds.
DEFAULT_ALIGNMENT_EPSILON = 0.05


def sinkhorn_alignment(
    h_nominal: jax.Array,
    h_alternate: jax.Array,
    *,
    epsilon: float = DEFAULT_ALIGNMENT_EPSILON,
    max_iterations: int = 500,
    threshold: float = 1e-4,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Sinkhorn divergence between the rows of ``h_nominal [n, d]`` and ``h_alternate [m, d]``
    (uniform weights), after dividing both by their root-mean-square cross distance.

    Args:
        h_nominal, h_alternate: embeddings of a nominal and an alternate batch (``n, m >= 2``).
        epsilon: entropic regularisation relative to the mean squared cross distance.
        max_iterations, threshold: Sinkhorn stopping rule (marginal error) of each of the three
            OT problems.

    Returns:
        ``(divergence, aux)`` with aux ``{"scale": s}``, the root-mean-square cross distance before
        normalisation (a diagnostic: it falls when the embeddings shrink).
    """
    if h_nominal.ndim != 2 or h_alternate.ndim != 2 or h_nominal.shape[1] != h_alternate.shape[1]:
        raise ValueError(
            "sinkhorn_alignment: expected [n, d] and [m, d] embeddings, "
            f"got {h_nominal.shape} and {h_alternate.shape}"
        )
    if epsilon <= 0:
        raise ValueError(f"sinkhorn_alignment: epsilon must be > 0, got {epsilon}")
    dtype = jnp.promote_types(jnp.result_type(h_nominal, h_alternate), jnp.float32)
    x, y = h_nominal.astype(dtype), h_alternate.astype(dtype)
    cross = jnp.sum(x**2, 1)[:, None] + jnp.sum(y**2, 1)[None, :] - 2.0 * x @ y.T
    scale = jnp.sqrt(jnp.maximum(jnp.mean(cross), 1e-12))
    divergence, _ = sinkhorn_divergence.sinkhorn_divergence(
        pointcloud.PointCloud,
        x / scale,
        y / scale,
        epsilon=epsilon,
        solve_kwargs={"max_iterations": max_iterations, "threshold": threshold},
    )
    return divergence, {"scale": jax.lax.stop_gradient(scale)}
