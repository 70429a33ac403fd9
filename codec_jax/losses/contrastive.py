"""Contrastive (self-supervised) losses on pairs of embeddings: VICReg, Barlow Twins, NT-Xent.

Each loss takes two views of the same batch, ``z_a`` and ``z_b`` of shape ``[batch, dim]``
(row ``i`` of ``z_a`` and row ``i`` of ``z_b`` form a positive pair), and returns
``(scalar_loss, aux)`` where ``aux`` maps the name of each term to its (unweighted) scalar value.

All three couple the jets of a batch (covariance, cross-correlation, similarity matrix), so they
must see the full batch: the training engine gathers sharded embeddings to a replicated layout
before calling them. They are pure functions of arrays and work under ``jax.jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["vicreg", "barlow_twins", "ntxent"]

#: Added to the batch variance before the square root in the VICReg variance term.
VICREG_VARIANCE_EPS = 1e-4
#: Added to the batch variance before the square root in the Barlow Twins standardisation
#: (the BatchNorm epsilon of the original implementation).
BARLOW_STD_EPS = 1e-5


def _check_pair(z_a: jax.Array, z_b: jax.Array, name: str) -> None:
    if z_a.ndim != 2 or z_a.shape != z_b.shape:
        raise ValueError(
            f"{name}: z_a and z_b must both have shape [batch, dim]; got {z_a.shape} and {z_b.shape}"
        )
    if z_a.shape[0] < 2:
        raise ValueError(f"{name}: needs a batch of at least 2 pairs; got {z_a.shape[0]}")


def _off_diagonal_sum_of_squares(matrix: jax.Array) -> jax.Array:
    """Sum of the squared off-diagonal entries of a square ``[dim, dim]`` matrix."""
    return jnp.sum(matrix**2) - jnp.sum(jnp.diagonal(matrix) ** 2)


def _vicreg_variance(z: jax.Array) -> jax.Array:
    """v(Z) = (1/d) sum_j max(0, 1 - sqrt(Var(z_j) + eps)), unbiased batch variance. ``z: [n, d]``."""
    std = jnp.sqrt(jnp.var(z, axis=0, ddof=1) + VICREG_VARIANCE_EPS)
    return jnp.mean(jax.nn.relu(1.0 - std))


def _vicreg_covariance(z: jax.Array) -> jax.Array:
    """c(Z) = (1/d) sum_{i != j} C_ij^2 with C the covariance of the CENTRED ``z: [n, d]`` over n - 1."""
    n, dim = z.shape
    centred = z - jnp.mean(z, axis=0, keepdims=True)
    cov = centred.T @ centred / (n - 1)
    return _off_diagonal_sum_of_squares(cov) / dim


def vicreg(
    z_a: jax.Array,
    z_b: jax.Array,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    invariance: str = "sum",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """VICReg loss (Bardes, Ponce, LeCun 2022), in the MACK convention by default.

    ``loss = sim_weight * s + var_weight * (v(Z_a) + v(Z_b)) + cov_weight * (c(Z_a) + c(Z_b))`` with

    * invariance ``s = (1/n) sum_i ||z_a,i - z_b,i||^2`` (``invariance="sum"``: summed over
      dimensions, as in the MACK Keras script) or that divided by ``dim`` (``invariance="mean"``:
      the VICReg paper's MSE),
    * variance ``v(Z) = (1/d) sum_j max(0, 1 - sqrt(Var(z_j) + 1e-4))`` with the unbiased batch
      variance,
    * covariance ``c(Z) = (1/d) sum_{i != j} C_ij^2`` with ``C`` the covariance of the centred
      embeddings normalised by ``n - 1``.

    Args:
        z_a, z_b: ``[batch, dim]`` embeddings of the two views; row ``i`` of each is a positive pair.
        sim_weight, var_weight, cov_weight: lambda, mu, nu.
        invariance: ``"sum"`` or ``"mean"`` over dimensions (see above).

    Returns:
        ``(loss, aux)`` with ``aux = {"invariance": s, "variance": v_a + v_b,
        "covariance": c_a + c_b}`` (unweighted terms).

    Collapse: at ``z = const`` the loss is ``2 * var_weight``. With the summed invariance a
    dimension is worth keeping only if ``sim_weight * 2 * (1 - rho) < 2 * var_weight / dim`` for
    unit-variance embeddings whose views correlate by ``rho``: with 25/25 and ``dim = 64`` that
    needs ``rho > 0.984``, so pairs of *different* jets (EMD pairs) collapse the embedding. The
    mean convention moves the threshold to ``rho > 0`` -- see docs/mack.md.
    """
    _check_pair(z_a, z_b, "vicreg")
    if invariance not in ("sum", "mean"):
        raise ValueError(f"vicreg: invariance must be 'sum' or 'mean'; got {invariance!r}")
    squared_distance = jnp.mean(jnp.sum((z_a - z_b) ** 2, axis=-1))
    similarity = squared_distance / z_a.shape[-1] if invariance == "mean" else squared_distance
    variance = _vicreg_variance(z_a) + _vicreg_variance(z_b)
    covariance = _vicreg_covariance(z_a) + _vicreg_covariance(z_b)
    loss = sim_weight * similarity + var_weight * variance + cov_weight * covariance
    return loss, {"invariance": similarity, "variance": variance, "covariance": covariance}


def _standardise(z: jax.Array) -> jax.Array:
    """Per-dimension batch standardisation with the population std. ``z: [n, d]``."""
    centred = z - jnp.mean(z, axis=0, keepdims=True)
    return centred / jnp.sqrt(jnp.mean(centred**2, axis=0, keepdims=True) + BARLOW_STD_EPS)


def barlow_twins(
    z_a: jax.Array, z_b: jax.Array, off_diagonal_weight: float = 5e-3
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Barlow Twins loss (Zbontar et al. 2021).

    Each dimension is standardised over the batch (population std, ``1e-5`` added to the
    variance as in BatchNorm), ``C = Z_a^T Z_b / n`` is the ``[dim, dim]`` cross-correlation and
    ``loss = sum_i (1 - C_ii)^2 + off_diagonal_weight * sum_{i != j} C_ij^2``.

    Args:
        z_a, z_b: ``[batch, dim]`` embeddings of the two views.
        off_diagonal_weight: lambda of the redundancy-reduction term.

    Returns:
        ``(loss, aux)`` with ``aux = {"on_diagonal": sum_i (1 - C_ii)^2,
        "off_diagonal": sum_{i != j} C_ij^2}`` (unweighted terms).
    """
    _check_pair(z_a, z_b, "barlow_twins")
    n = z_a.shape[0]
    cross = _standardise(z_a).T @ _standardise(z_b) / n
    on_diagonal = jnp.sum((1.0 - jnp.diagonal(cross)) ** 2)
    off_diagonal = _off_diagonal_sum_of_squares(cross)
    loss = on_diagonal + off_diagonal_weight * off_diagonal
    return loss, {"on_diagonal": on_diagonal, "off_diagonal": off_diagonal}


def ntxent(
    z_a: jax.Array, z_b: jax.Array, temperature: float = 0.1
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """NT-Xent, the normalised-temperature cross entropy of SimCLR (used by JetCLR).

    The ``2n`` embeddings are L2-normalised; for each of them the positive is its partner view and
    the ``2n - 2`` other embeddings are negatives:
    ``loss = (1/2n) sum_k [ -sim(k, pos(k)) / T + log sum_{l != k} exp(sim(k, l) / T) ]``
    with ``sim`` the cosine similarity.

    Args:
        z_a, z_b: ``[batch, dim]`` embeddings of the two views.
        temperature: ``T``.

    Returns:
        ``(loss, aux)`` with ``aux = {"alignment": mean of -sim(k, pos(k)) / T,
        "uniformity": mean of the log-sum-exp}``; ``loss = alignment + uniformity``.
    """
    _check_pair(z_a, z_b, "ntxent")
    n = z_a.shape[0]
    z = jnp.concatenate([z_a, z_b], axis=0)
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    logits = z @ z.T / temperature
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)
    partner = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    alignment = -jnp.mean(logits[jnp.arange(2 * n), partner])
    uniformity = jnp.mean(jax.nn.logsumexp(logits, axis=-1))
    return alignment + uniformity, {"alignment": alignment, "uniformity": uniformity}
