"""Mass-decorrelation penalties for classifier scores: DisCo and MoDe.

Both are computed on background jets: pass ``weights`` that are 0 for signal jets (and for padded
jets), e.g. ``weights = flat_weight * (label == 0)``; static shapes make boolean selection
impossible under ``jax.jit``, and a zero weight removes a jet exactly.

* :func:`disco`: squared distance correlation (Kasieczka & Shih 2020), O(batch^2) memory.
* :func:`mode`: MoDe[n] flatness (Kitouni et al. 2020, arXiv:2010.09745) with a hand-written
  backward pass, O(batch * mass_bins) memory after one sort.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from codec_jax.errors import ConfigError

__all__ = ["MODE_FITS", "disco", "mode"]

_TINY = 1e-12


def _as_flat(name: str, array: jax.Array) -> jax.Array:
    """Accept ``[n]`` or ``[n, 1]`` and return ``[n]``."""
    array = jnp.asarray(array)
    if array.ndim == 2 and array.shape[-1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape [batch] or [batch, 1]; got {array.shape}")
    return array


def _jet_weights(weights: jax.Array | None, like: jax.Array) -> jax.Array:
    """``[n]`` per-jet weights (ones if None), treated as constants."""
    if weights is None:
        return jnp.ones_like(like)
    weights = _as_flat("weights", weights).astype(like.dtype)
    if weights.shape != like.shape:
        raise ValueError(f"weights must have shape {like.shape}; got {weights.shape}")
    return jax.lax.stop_gradient(weights)


# --------------------------------------------------------------------------------------- DisCo


def _double_centred_distances(values: jax.Array, prob: jax.Array) -> jax.Array:
    """``A_ij = a_ij - abar_i - abar_j + abar`` with ``a_ij = |v_i - v_j|`` and weighted means
    ``abar_i = sum_j p_j a_ij``, ``abar = sum_i p_i abar_i``. ``values, prob: [n]`` -> ``[n, n]``."""
    distances = jnp.abs(values[:, None] - values[None, :])
    row_mean = distances @ prob
    grand_mean = prob @ row_mean
    return distances - row_mean[:, None] - row_mean[None, :] + grand_mean


def disco(
    x: jax.Array, y: jax.Array, weights: jax.Array | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted squared distance correlation dCorr^2(x, y) (Kasieczka & Shih, arXiv:2001.05310).

    With ``p_i = w_i / sum w`` (the reference code's weights normalised to mean 1, divided by n)
    and ``A``, ``B`` the double-centred distance matrices of ``x`` and ``y``,
    ``dCov^2(x, y) = sum_ij p_i p_j A_ij B_ij`` and
    ``dCorr^2 = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y))``: 0 if and only if x and y are
    independent (for large samples), 1 for ``y = a x + b``. Integer weights are equivalent to
    repeating jets. Used as ``bce + lambda * disco(mass, score, weights * is_background)``.

    Args:
        x, y: ``[batch]`` (or ``[batch, 1]``) variables, e.g. jet mass and classifier score.
            Gradients flow to both.
        weights: optional ``[batch]`` non-negative per-jet weights (constants).

    Returns:
        ``(dcorr2, aux)`` with ``aux = {"dcov2": dCov^2(x, y), "dvar_x": dCov^2(x, x),
        "dvar_y": dCov^2(y, y)}``.
    """
    x = _as_flat("x", x)
    y = _as_flat("y", y).astype(x.dtype)
    if x.shape != y.shape:
        raise ValueError(f"disco: x and y must have the same shape; got {x.shape} and {y.shape}")
    w = _jet_weights(weights, x)
    prob = w / jnp.maximum(jnp.sum(w), _TINY)
    a = _double_centred_distances(x, prob)
    b = _double_centred_distances(y, prob)
    dcov2 = prob @ (a * b) @ prob
    dvar_x = prob @ (a * a) @ prob
    dvar_y = prob @ (b * b) @ prob
    dcorr2 = dcov2 / jnp.sqrt(jnp.maximum(dvar_x * dvar_y, _TINY**2))
    return dcorr2, {"dcov2": dcov2, "dvar_x": dvar_x, "dvar_y": dvar_y}


# ---------------------------------------------------------------------------------------- MoDe


def _legendre_basis(t: jax.Array, order: int) -> jax.Array:
    """``[K, order + 1]`` Legendre polynomials P_0..P_order at ``t: [K]`` (Bonnet recursion)."""
    columns = [jnp.ones_like(t), t]
    for degree in range(1, order):
        columns.append(((2 * degree + 1) * t * columns[degree] - degree * columns[degree - 1]) / (degree + 1))
    return jnp.stack(columns[: order + 1], axis=-1)


def _mass_binning(
    mass: jax.Array, weights: jax.Array, mass_bins: int | np.ndarray
) -> tuple[jax.Array, jax.Array]:
    """Assign jets to mass bins.

    Returns ``membership: [n, K]`` (row i is ``w_i`` times the one-hot of jet i's bin; all zero for
    jets outside explicit edges) and ``t: [n]``, the mass mapped linearly onto [-1, 1] (the binned
    range: the edges, or the min/max mass of jets with positive weight).
    """
    if isinstance(mass_bins, np.ndarray):
        edges = jnp.asarray(mass_bins, mass.dtype)
        n_bins = len(mass_bins) - 1
        low, high = edges[0], edges[-1]
        inside = (mass >= low) & (mass <= high)
        index = jnp.clip(jnp.searchsorted(edges, mass, side="right") - 1, 0, n_bins - 1)
        weights = jnp.where(inside, weights, 0.0)
    else:
        n_bins = mass_bins
        positive = weights > 0
        low = jnp.min(jnp.where(positive, mass, jnp.inf))
        high = jnp.max(jnp.where(positive, mass, -jnp.inf))
        # Equal-occupancy bins: sort by mass, a jet's bin is given by the weight sorted before it.
        by_mass = jnp.argsort(mass)
        sorted_weights = weights[by_mass]
        weight_before = jnp.cumsum(sorted_weights) - sorted_weights
        total = jnp.maximum(jnp.sum(weights), _TINY)
        sorted_index = jnp.floor(weight_before * n_bins / total).astype(jnp.int32)
        index = jnp.zeros_like(sorted_index).at[by_mass].set(jnp.clip(sorted_index, 0, n_bins - 1))
    span = jnp.where(high > low, high - low, 1.0)
    t = jnp.clip(2.0 * (mass - low) / span - 1.0, -1.0, 1.0)
    membership = jax.nn.one_hot(index, n_bins, dtype=mass.dtype) * weights[:, None]
    return membership, t


def _fit_matrix(bin_position: jax.Array, bin_prob: jax.Array, order: int) -> jax.Array:
    """``[K, K]`` matrix H such that ``F @ H`` is the least-squares fit of ``F: [..., K]`` by
    Legendre polynomials up to ``order`` in the bin positions, weighted by ``bin_prob: [K]``.

    The Legendre columns are orthonormalised in the inner product ``<u, v> = sum_b p_b u_b v_b``
    (modified Gram-Schmidt; a column that is (numerically) dependent on the previous ones, e.g.
    when fewer than ``order + 1`` bins are populated, is dropped), so the fit of a row ``F`` is
    ``sum_l <F, q_l> q_l`` and ``H = diag(p) Q Q^T``.
    """
    orthonormal = []
    for column in _legendre_basis(bin_position, order).T:
        original_norm_sq = jnp.sum(bin_prob * column**2)
        for previous in orthonormal:
            column = column - jnp.sum(bin_prob * column * previous) * previous
        norm_sq = jnp.sum(bin_prob * column**2)
        independent = norm_sq > jnp.maximum(1e-6 * original_norm_sq, 1e-12)
        orthonormal.append(jnp.where(independent, column / jnp.sqrt(jnp.maximum(norm_sq, 1e-12)), 0.0))
    basis = jnp.stack(orthonormal, axis=-1)  # [K, L]
    return bin_prob[:, None] * (basis @ basis.T)


def _bin_widths(t: jax.Array, membership: jax.Array, edges_t: np.ndarray | None) -> jax.Array:
    """``[K]`` widths in ``t`` of the intervals the populated bins cover, summing to 2 (the binned
    range [-1, 1]); 0 for empty bins.

    Fixed edges (``edges_t``: the edges mapped onto [-1, 1]): the bin widths. Equal-occupancy
    bins: a bin reaches from halfway between its lowest jet and the highest jet of the previous
    populated bin to halfway between its highest jet and the lowest jet of the next one (the
    first and the last reach -1 and 1). When bins are empty, the widths of the others are scaled
    to sum to 2.
    """
    populated = jnp.sum(membership, axis=0) > 0
    if edges_t is not None:
        widths = jnp.where(populated, jnp.asarray(np.diff(edges_t), t.dtype), 0.0)
    else:
        inside = membership > 0
        low = jnp.min(jnp.where(inside, t[:, None], jnp.inf), axis=0)  # [K], inf if empty
        high = jnp.max(jnp.where(inside, t[:, None], -jnp.inf), axis=0)
        previous_high = jnp.concatenate([jnp.full(1, -jnp.inf, t.dtype), jax.lax.cummax(high)[:-1]])
        next_low = jnp.concatenate([jax.lax.cummin(low, reverse=True)[1:], jnp.full(1, jnp.inf, t.dtype)])
        upper = jnp.where(jnp.isfinite(next_low), 0.5 * (high + next_low), 1.0)
        lower = jnp.where(jnp.isfinite(previous_high), 0.5 * (previous_high + low), -1.0)
        widths = jnp.where(populated, upper - lower, 0.0)
    return 2.0 * widths / jnp.maximum(jnp.sum(widths), _TINY)


def _projection_matrix(bin_position: jax.Array, bin_width: jax.Array, order: int) -> jax.Array:
    """``[K, K]`` matrix H such that ``F @ H`` is the paper's Legendre projection of ``F: [..., K]``
    evaluated at the bin positions: ``Fhat_b = sum_l a_l P_l(t_b)`` with
    ``a_l = (2l + 1)/2 sum_c F_c P_l(t_c) dt_c`` (``dt_c = bin_width``; uniform in mass)."""
    legendre = _legendre_basis(bin_position, order)  # [K, L]
    norms = (2.0 * jnp.arange(order + 1) + 1.0) / 2.0
    return (bin_width[:, None] * legendre * norms) @ legendre.T


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _flatness(scores, membership, fit, score_low, score_high, least_squares):
    """MoDe flatness of ``scores: [n]`` given ``membership: [n, K]`` and ``fit: [K, K]`` (the
    arguments of :func:`_flatness_and_gradient`)."""
    return _flatness_and_gradient(scores, membership, fit, score_low, score_high, least_squares)[0]


def _flatness_and_gradient(
    scores: jax.Array,
    membership: jax.Array,
    fit: jax.Array,
    score_low: float,
    score_high: float,
    least_squares: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """The flatness (exact integral over thresholds) and its gradient with respect to ``scores``.

    Sorting the scores makes every per-bin CDF ``F_b(s) = sum_{i in b, x_i <= s} w_i / W_b``
    piecewise constant between consecutive scores, so the integral over ``s`` is a finite sum.
    Moving score ``x_i`` (bin b) by dx moves the step of ``F_b`` at ``x_i`` (height ``w_i/W_b``);
    as the integrand is quadratic in F and the fit is a least-squares projection, the derivative
    is ``-2 w_i R_b(x_i) / (W (s_high - s_low))`` with ``R_b(x_i)`` the residual evaluated with
    half of the step of jet i (the midpoint of the jump): exact wherever scores are distinct.
    When the fit is not the least-squares projection in the loss's bin weights
    (``least_squares=False``: the uniform-in-mass Legendre projection), the derivative of the
    integrand with respect to ``F_b`` keeps the fit's term: ``2 [(p r)(1 - H^T)]_b`` instead of
    ``2 p_b r_b``.
    """
    span = score_high - score_low
    clipped = jnp.clip(scores, score_low, score_high)
    by_score = jnp.argsort(clipped)
    sorted_scores = clipped[by_score]
    sorted_membership = membership[by_score]  # [n, K]
    bin_weight = jnp.sum(membership, axis=0)  # [K]
    total = jnp.maximum(jnp.sum(bin_weight), _TINY)
    bin_prob = bin_weight / total
    inverse_bin_weight = jnp.where(bin_weight > 0, 1.0 / jnp.maximum(bin_weight, _TINY), 0.0)

    cdf_after = jnp.cumsum(sorted_membership, axis=0) * inverse_bin_weight  # F on [x_(k), x_(k+1))
    residual_after = cdf_after - cdf_after @ fit
    lengths = jnp.diff(jnp.append(sorted_scores, score_high))
    loss = jnp.sum(lengths * (residual_after**2 @ bin_prob)) / span

    cdf_mid = cdf_after - 0.5 * sorted_membership * inverse_bin_weight
    residual_mid = cdf_mid - cdf_mid @ fit
    if least_squares:
        sorted_gradient = -2.0 * jnp.sum(sorted_membership * residual_mid, axis=-1) / (total * span)
    else:
        weighted = bin_prob * residual_mid  # [n, K]
        d_integrand = (weighted - weighted @ fit.T) * inverse_bin_weight
        sorted_gradient = -2.0 * jnp.sum(sorted_membership * d_integrand, axis=-1) / span
    gradient = jnp.zeros_like(scores).at[by_score].set(sorted_gradient)
    gradient = jnp.where((scores > score_low) & (scores < score_high), gradient, 0.0)
    return loss, gradient


def _flatness_forward(scores, membership, fit, score_low, score_high, least_squares):
    loss, gradient = _flatness_and_gradient(scores, membership, fit, score_low, score_high, least_squares)
    return loss, (gradient, membership, fit)


def _flatness_backward(score_low, score_high, least_squares, saved, cotangent):
    gradient, membership, fit = saved
    return cotangent * gradient, jnp.zeros_like(membership), jnp.zeros_like(fit)


_flatness.defvjp(_flatness_forward, _flatness_backward)


#: The fits of :func:`mode`: the weighted least-squares fit in the jet counts of the bins, or the
#: paper's Legendre projection, uniform in mass.
MODE_FITS: tuple[str, ...] = ("count", "uniform")


def _check_mode_arguments(
    order: int, mass_bins: int | Sequence[float], score_range: tuple[float, float], fit: str = "count"
) -> int | np.ndarray:
    if fit not in MODE_FITS:
        raise ConfigError(f"mode: fit must be one of {MODE_FITS}; got {fit!r}")
    if not isinstance(order, int | np.integer) or order < 0:
        raise ConfigError(f"mode: order must be an integer >= 0 (0 = flat); got {order!r}")
    if isinstance(mass_bins, int | np.integer):
        n_bins = int(mass_bins)
        bins: int | np.ndarray = n_bins
    else:
        bins = np.asarray(mass_bins, dtype=np.float64)
        if bins.ndim != 1 or len(bins) < 2 or not np.all(np.diff(bins) > 0):
            raise ConfigError(
                f"mode: mass_bins must be a number of bins or >= 2 increasing edges; got {mass_bins!r}"
            )
        n_bins = len(bins) - 1
    if n_bins <= order + 1:
        raise ConfigError(
            f"mode: mass_bins gives {n_bins} bins; a fit of order {order} needs at least {order + 2} "
            "(with order + 1 bins it passes through every bin and the penalty is always 0)"
        )
    low, high = score_range
    if not high > low:
        raise ConfigError(f"mode: score_range must be (low, high) with high > low; got {score_range!r}")
    return bins


def mode(
    scores: jax.Array,
    mass: jax.Array,
    order: int = 0,
    weights: jax.Array | None = None,
    *,
    mass_bins: int | Sequence[float] = 32,
    score_range: tuple[float, float] = (0.0, 1.0),
    fit: str = "count",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """MoDe[order] flatness penalty (Kitouni, Nachman, Weisser, Williams 2020, arXiv:2010.09745).

    The jets are split into mass bins b (weight fraction ``p_b``, position ``t_b`` in [-1, 1]:
    the weighted mean mass of the bin, the binned range mapped onto [-1, 1]; width ``dt_b``, the
    part of [-1, 1] the bin covers). For every score threshold s the per-bin CDF ``F_b(s)`` (the
    weighted fraction of bin b with score <= s, one minus the false-positive rate of the cut at
    s) is fitted across bins by Legendre polynomials ``P_0..P_order`` in ``t_b``, and the
    penalty is the integrated squared deviation from the fit

        ``L = 1/(s_high - s_low) * integral ds  sum_b p_b [F_b(s) - Fhat_b(s)]^2``.

    ``order=0`` fits a constant (0 = the false-positive rate is flat versus mass at every cut);
    ``order=1`` (2) lets it vary linearly (quadratically) with mass. Two fits:

    * ``fit="count"``: the weighted least-squares fit at the bin positions with weights ``p_b``
      (each bin counts with its jets): for order 0, ``Fhat`` is the inclusive CDF and L the
      between-bin variance of the false-positive rate averaged over thresholds.
    * ``fit="uniform"`` (the paper's and its reference code's fit): the Legendre projection with
      the mass range weighted uniformly, ``a_l = (2l + 1)/2 sum_b dt_b F_b P_l(t_b)``,
      ``Fhat_b = sum_l a_l P_l(t_b)`` (each bin counts with its width in mass); order 0 fits the
      mean of the CDF over the mass range, ``sum_b (dt_b / 2) F_b``.

    When they agree: for ``order=0`` exactly when every populated bin's share of the background
    weight equals its share of the mass range (``p_b = dt_b / 2``, a background mass spectrum
    uniform at the bins' resolution, e.g. equal-width bins on a flat sample); on a falling
    spectrum they differ (the uniform fit gives the sparse high-mass bins the weight of their
    width). For ``order >= 1`` they differ even on a uniform spectrum, by the quadrature: the
    projection's sum over bins is a midpoint rule for the integral over mass, so for K equal bins
    its slope is ``1 - 1/K^2`` times the least-squares slope (a false-positive rate exactly
    linear in mass gets a small non-zero MoDe[1] penalty from ``"uniform"``, none from
    ``"count"``); they agree in the limit of many bins *and* a uniform spectrum.

    Differences from the reference code, chosen so that the backward pass is exact: the integral
    over thresholds is computed exactly (no threshold grid; equivalent to infinitely many score
    bins); bins count by their weight fraction ``p_b`` in the loss (equal for the default
    equal-occupancy bins, as in the reference loss); the widths of equal-occupancy bins tile
    [-1, 1] (the reference took each bin's own mass spread, leaving gaps). The step-function CDF
    has no useful autodiff gradient, so a ``jax.custom_vjp`` supplies the derivative of L with
    respect to each score (moving a score moves its step), which is exact where scores are
    distinct; mass and weights get zero gradient.

    Args:
        scores: ``[batch]`` (or ``[batch, 1]``) classifier outputs, e.g. ``sigmoid(logits)``;
            scores outside ``score_range`` are clipped to it (and get zero gradient).
        mass: ``[batch]`` jet mass, or the variable to decorrelate from (with equal-occupancy
            bins, any increasing function of it gives the same bins; the fit of order >= 1 is
            linear/quadratic in the variable as given).
        order: highest Legendre order of the fit (0 = flat, 1 = linear, 2 = quadratic).
        weights: optional ``[batch]`` non-negative per-jet weights; 0 for jets to ignore
            (signal, padding): ``weights = w * (label == 0)`` for the usual background-only MoDe.
        mass_bins: an int K for K equal-occupancy bins built from the batch (by cumulative
            weight in mass order; the MoDe default), or a sequence of K + 1 increasing mass edges
            for fixed bins (jets outside them are ignored; empty bins drop out).
        score_range: ``(s_low, s_high)``, the thresholds integrated over.
        fit: ``"count"`` or ``"uniform"`` (:data:`MODE_FITS`; see above).

    Returns:
        ``(loss, aux)`` with ``aux = {"flatness": loss}``.
    """
    bins = _check_mode_arguments(order, mass_bins, score_range, fit)
    scores = _as_flat("scores", scores)
    mass = jax.lax.stop_gradient(_as_flat("mass", mass).astype(scores.dtype))
    if mass.shape != scores.shape:
        raise ValueError(f"mode: mass must have shape {scores.shape} like the scores; got {mass.shape}")
    weights = _jet_weights(weights, scores)
    membership, t = _mass_binning(mass, weights, bins)
    bin_weight = jnp.sum(membership, axis=0)
    bin_prob = bin_weight / jnp.maximum(jnp.sum(bin_weight), _TINY)
    bin_position = jnp.where(bin_weight > 0, t @ membership / jnp.maximum(bin_weight, _TINY), 0.0)
    low, high = float(score_range[0]), float(score_range[1])
    if fit == "count":
        matrix = _fit_matrix(bin_position, bin_prob, order)
        loss = _flatness(scores, membership, matrix, low, high, True)
    else:
        edges_t = (
            None if not isinstance(bins, np.ndarray) else 2.0 * (bins - bins[0]) / (bins[-1] - bins[0]) - 1.0
        )
        matrix = _projection_matrix(bin_position, _bin_widths(t, membership, edges_t), order)
        loss = _flatness(scores, membership, matrix, low, high, False)
    return loss, {"flatness": loss}
