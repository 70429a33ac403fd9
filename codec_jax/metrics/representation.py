"""Representations: how a latent space correlates with the jet mass, and how many dimensions it
uses (participation ratio).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics._inputs import _finite_1d, _weights

__all__ = [
    "LatentMassCorrelation",
    "latent_mass_correlation",
    "participation_ratio",
]


# --------------------------------------------------------------------------- latent space
class LatentMassCorrelation(NamedTuple):
    """Per latent dimension: ``pearson [d]`` (in [-1, 1]) and ``distance [d]`` (distance
    correlation, in [0, 1]; zero if and only if independent, for large samples)."""

    pearson: np.ndarray
    distance: np.ndarray


def _row_distance_means(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a_i = sum_j w_j |x_i - x_j|`` for ``x, w [n]`` in O(n log n), by sorting."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    below_w, below_wx = np.cumsum(ws), np.cumsum(ws * xs)
    above_w, above_wx = below_w[-1] - below_w, below_wx[-1] - below_wx
    sums = np.empty_like(x)
    sums[order] = xs * below_w - below_wx + above_wx - xs * above_w
    return sums


def _distance_covariance_terms(
    x: np.ndarray, ys: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted V-statistic squared distance covariances of ``x [n]`` with each column of
    ``ys [n, d]``: ``(dcov2(x, y_d) [d], dcov2(x, x), dcov2(y_d, y_d) [d])``; ``w [n]`` sums to 1.

    Uses ``sum_ij w_i w_j A_ij B_ij = sum_ij w_i w_j a_ij b_ij - 2 sum_i w_i a_i b_i + a b`` for the
    weighted double-centred matrices ``A, B`` of ``a_ij = |x_i - x_j|`` (row means ``a_i``, grand
    mean ``a``). Row means come from sorting and ``sum_ij w_i w_j a_ij^2 = 2 Var_w(x)``; only the
    cross term ``sum_ij w_i w_j a_ij b_ij`` is O(n^2), summed in blocks of rows.
    """
    n, d = ys.shape
    row_x = _row_distance_means(x, w)
    row_y = np.stack([_row_distance_means(ys[:, k], w) for k in range(d)], axis=1)  # [n, d]
    block = max(1, (1 << 20) // n)
    cross = np.zeros(d)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        weighted_dist_x = np.abs(x[rows, None] - x[None, :]) * w[rows, None] * w[None, :]  # [k, n]
        for k in range(d):
            cross[k] += np.sum(weighted_dist_x * np.abs(ys[rows, k, None] - ys[None, :, k]))

    def variance(v: np.ndarray) -> np.ndarray:
        return w @ v**2 - (w @ v) ** 2

    grand_x, grand_y = w @ row_x, w @ row_y
    return (
        cross - 2.0 * (w * row_x) @ row_y + grand_x * grand_y,
        2.0 * variance(x) - 2.0 * w @ row_x**2 + grand_x**2,
        2.0 * variance(ys) - 2.0 * w @ row_y**2 + grand_y**2,
    )


def latent_mass_correlation(
    latent: object,
    mass: object,
    weights: object = None,
    *,
    max_samples: int = 5_000,
    seed: int | np.random.Generator = 0,
) -> LatentMassCorrelation:
    """Correlation of each latent dimension with the jet mass.

    Args:
        latent: ``[n, d]`` latent representations (e.g. the CoDec 4-d space).
        mass: ``[n]`` jet mass.
        weights: ``[n]`` optional, >= 0.
        max_samples: the distance correlation costs O(n^2); above this many jets it is computed
            on a random subset of this size (drawn with ``seed``). Pearson uses all jets.

    Returns:
        :class:`LatentMassCorrelation` with ``pearson [d]`` and ``distance [d]``; the distance
        correlation is the (weighted) V-statistic of Szekely et al. (2007), not squared (DisCo's
        penalty is its square). A constant dimension gives 0 for both.
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.size == 0:
        raise DataError(f"'latent' must be a non-empty [n, d] array, got shape {latent.shape}")
    if not np.all(np.isfinite(latent)):
        raise DataError(f"'latent' holds {np.count_nonzero(~np.isfinite(latent))} NaN/inf value(s)")
    mass = _finite_1d("mass", mass, latent.shape[0])
    weights = _weights("weights", weights, latent.shape[0])
    if weights.sum() <= 0:
        raise DataError("'weights' sum to zero")

    constant = np.ptp(latent, axis=0) == 0
    if np.ptp(mass) == 0:
        constant[:] = True
    w = weights / weights.sum()
    mass_centred = mass - w @ mass
    latent_centred = latent - w @ latent
    covariance = w @ (latent_centred * mass_centred[:, None])
    scale = np.sqrt((w @ latent_centred**2) * (w @ mass_centred**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = np.where(constant | (scale <= 0), 0.0, covariance / np.where(scale > 0, scale, 1.0))

    if latent.shape[0] > max_samples:
        subset = np.random.default_rng(seed).choice(latent.shape[0], max_samples, replace=False)
        latent, mass, weights = latent[subset], mass[subset], weights[subset]
    distance = np.zeros(latent.shape[1])
    varying = np.flatnonzero(~constant)
    if varying.size:
        dcov, dvar_mass, dvar_latent = _distance_covariance_terms(
            mass, latent[:, varying], weights / weights.sum()
        )
        denominator = np.sqrt(np.maximum(dvar_mass * dvar_latent, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            distance[varying] = np.where(
                denominator > 0,
                np.sqrt(np.maximum(dcov, 0.0) / np.where(denominator > 0, denominator, 1.0)),
                0.0,
            )
    return LatentMassCorrelation(pearson=pearson, distance=distance)


# --------------------------------------------------------------------------- representations
def participation_ratio(embeddings: object) -> float:
    """Effective number of dimensions of ``embeddings [n, d]``: ``(sum_i l_i)^2 / sum_i l_i^2`` over
    the eigenvalues ``l_i`` of their covariance matrix -- ``d`` for an isotropic cloud, 1 when all
    variance lies along one direction; ``nan`` for a constant embedding (no variance at all)."""
    z = np.asarray(embeddings, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        raise DataError(f"embeddings: expected shape [n >= 2, d >= 1], got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise DataError("embeddings: contains NaN or inf")
    eigenvalues = np.clip(np.linalg.eigvalsh(np.atleast_2d(np.cov(z, rowvar=False))), 0.0, None)
    squares = float(np.sum(eigenvalues**2))
    return float(np.sum(eigenvalues) ** 2 / squares) if squares > 0 else float("nan")
