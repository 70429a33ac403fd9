"""Mass response, resolution and closure in bins of the true mass (regression and calibration).

For jets with a true mass ``t`` (the generated resonance mass) and a reconstructed or predicted
mass ``m`` (soft-drop mass, a regression output, a calibrated mass), the *response* is
``r = m / t``. In every bin of ``t`` (:func:`response_in_bins`):

* **median response** -- the weighted median of ``r`` (the scale: 1 means unbiased; for a
  calibrated mass it is the *closure*);
* **resolution** -- half the 16-84% interquantile range of ``r`` over its median,
  ``(q84 - q16) / (2 q50)`` (a Gaussian core of width sigma gives sigma / mean; robust to the
  long low tail of badly groomed jets, which a standard deviation is not);
* statistical uncertainties for ``n_eff = (sum w)^2 / sum w^2`` jets from the asymptotic variance
  of Gaussian sample quantiles: ``1.2533 s / sqrt(n_eff)`` on the median and
  ``0.9628 s / sqrt(n_eff)`` on ``s = (q84 - q16) / 2`` (divided by the median for the
  resolution). They are approximate for non-Gaussian responses; use them to judge differences.

Weighted quantiles (:func:`weighted_quantile`) use the inverted CDF: the smallest value whose
cumulative weight fraction reaches ``q`` (NumPy's ``np.quantile(..., weights=w,
method="inverted_cdf")``). :func:`response_summary` reduces the bins to two numbers per method:
the mean over bins of ``|median - 1|`` and the mean resolution, optionally over a subset of bins
(e.g. away from the masses a peaky training set contains, :func:`bins_away_from`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from codec_jax.errors import ConfigError, DataError

__all__ = [
    "MEDIAN_ERROR_FACTOR",
    "WIDTH_ERROR_FACTOR",
    "ResponseBins",
    "weighted_quantile",
    "response_in_bins",
    "bins_away_from",
    "response_summary",
]

#: Asymptotic standard error of a Gaussian sample median in units of sigma / sqrt(n): sqrt(pi/2).
MEDIAN_ERROR_FACTOR = float(np.sqrt(np.pi / 2.0))
#: The same for the half 16-84% interquantile range (q84 - q16) / 2 of a Gaussian.
WIDTH_ERROR_FACTOR = 0.9628


def weighted_quantile(values: np.ndarray, quantiles: Any, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted quantiles of ``values [n]`` at ``quantiles`` (scalar or ``[k]``, in [0, 1]).

    Inverted CDF: the smallest value ``v`` with ``sum(w[values <= v]) >= q * sum(w)``; for unit
    weights this is ``np.quantile(values, q, method="inverted_cdf")``. Jets with zero weight
    never count. Returns float64 of the shape of ``quantiles``.

    Raises:
        DataError: empty input, NaN/inf values, negative weights or zero total weight.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    q = np.asarray(quantiles, dtype=np.float64)
    if values.size == 0:
        raise DataError("weighted_quantile: no values")
    if weights.shape != values.shape:
        raise DataError(f"weighted_quantile: {weights.size} weights for {values.size} values")
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(weights))):
        raise DataError("weighted_quantile: values or weights hold NaN/inf")
    if np.any(weights < 0) or not weights.sum() > 0:
        raise DataError("weighted_quantile: weights must be non-negative with a positive sum")
    if np.any((q < 0) | (q > 1)):
        raise ConfigError(f"quantiles must lie in [0, 1], got {q}")
    keep = weights > 0
    order = np.argsort(values[keep], kind="stable")
    sorted_values, cumulative = values[keep][order], np.cumsum(weights[keep][order])
    # Tolerance so that q * total equal to a partial sum (up to rounding) selects that value.
    needed = q * cumulative[-1] * (1.0 - 1e-12)
    index = np.clip(np.searchsorted(cumulative, needed, side="left"), 0, sorted_values.size - 1)
    return sorted_values[index]


@dataclasses.dataclass(frozen=True)
class ResponseBins:
    """Response of one mass estimate in bins of the true mass; every array is ``[n_bins]``.

    edges: ``[n_bins + 1]`` true-mass bin edges [GeV]; n: jets per bin; n_eff: effective
    number of jets ``(sum w)^2 / sum w^2``; median, q16, q84: weighted quantiles of
    ``m / t``; resolution: ``(q84 - q16) / (2 median)``; median_error, resolution_error: the
    approximate statistical uncertainties (module docstring). Bins without jets hold NaN.
    """

    edges: np.ndarray
    n: np.ndarray
    n_eff: np.ndarray
    median: np.ndarray
    q16: np.ndarray
    q84: np.ndarray
    resolution: np.ndarray
    median_error: np.ndarray
    resolution_error: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """``[n_bins]`` bin centres [GeV]."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def to_dict(self) -> dict[str, list]:
        """JSON-ready lists (NaN becomes None)."""
        out: dict[str, list] = {}
        for field in dataclasses.fields(self):
            array = np.asarray(getattr(self, field.name), dtype=np.float64)
            out[field.name] = [None if not np.isfinite(v) else float(v) for v in array]
        return out


def response_in_bins(
    truth: np.ndarray,
    predicted: np.ndarray,
    edges: Sequence[float],
    weights: np.ndarray | None = None,
    *,
    min_jets: int = 1,
) -> ResponseBins:
    """Median response, quantiles and resolution of ``predicted / truth`` in bins of ``truth``.

    Args:
        truth: ``[n]`` true masses (positive) [GeV].
        predicted: ``[n]`` reconstructed / predicted masses [GeV].
        edges: ``[n_bins + 1]`` increasing true-mass bin edges; jets outside are ignored (the
            last bin includes its upper edge).
        weights: optional ``[n]`` non-negative per-jet weights.
        min_jets: bins with fewer jets (or zero weight) hold NaN.

    Raises:
        DataError: mismatched lengths, NaN/inf, a non-positive true mass in range, negative weights.
    """
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    weights = np.ones_like(truth) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if not (truth.ndim == 1 and truth.shape == predicted.shape == weights.shape):
        raise DataError(
            f"response_in_bins: truth {truth.shape}, predicted {predicted.shape} and weights "
            f"{weights.shape} must be equally long 1-d arrays"
        )
    for name, array in (("truth", truth), ("predicted", predicted), ("weights", weights)):
        if not np.all(np.isfinite(array)):
            raise DataError(f"response_in_bins: {name!r} holds NaN/inf values")
    if np.any(weights < 0):
        raise DataError("response_in_bins: 'weights' holds negative values")
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ConfigError(f"edges must be at least two increasing values, got {edges.tolist()}")
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, truth, side="right") - 1, 0, n_bins - 1)
    index = np.where((truth >= edges[0]) & (truth <= edges[-1]), index, -1)
    if np.any(truth[index >= 0] <= 0):
        raise DataError("response_in_bins: true masses must be positive")
    columns = {name: np.full(n_bins, np.nan) for name in ("n_eff", "median", "q16", "q84")}
    n = np.bincount(index[index >= 0], minlength=n_bins).astype(np.float64)
    for b in range(n_bins):
        rows = index == b
        w = weights[rows]
        if rows.sum() < max(min_jets, 1) or not w.sum() > 0:
            continue
        q16, median, q84 = weighted_quantile(predicted[rows] / truth[rows], [0.16, 0.5, 0.84], w)
        columns["median"][b], columns["q16"][b], columns["q84"][b] = median, q16, q84
        columns["n_eff"][b] = w.sum() ** 2 / np.sum(w**2)
    width = 0.5 * (columns["q84"] - columns["q16"])
    with np.errstate(divide="ignore", invalid="ignore"):
        resolution = width / columns["median"]
        root_n = np.sqrt(columns["n_eff"])
        median_error = MEDIAN_ERROR_FACTOR * width / root_n
        resolution_error = WIDTH_ERROR_FACTOR * width / root_n / np.abs(columns["median"])
    return ResponseBins(
        edges=edges,
        n=n,
        n_eff=columns["n_eff"],
        median=columns["median"],
        q16=columns["q16"],
        q84=columns["q84"],
        resolution=resolution,
        median_error=median_error,
        resolution_error=resolution_error,
    )


def bins_away_from(edges: Sequence[float], masses: Sequence[float], window: float = 0.05) -> np.ndarray:
    """``[n_bins]`` bool: True for the bins ``[lo, hi)`` that hold no point of
    ``[m (1 - window), m (1 + window)]`` for any ``m`` in ``masses`` (e.g. the narrow Z' masses of a
    peaky training set); with ``window = 0``, the bins that do not contain a mass."""
    edges = np.asarray(edges, dtype=np.float64)
    away = np.ones(edges.size - 1, dtype=bool)
    for mass in masses:
        lo, hi = mass * (1.0 - window), mass * (1.0 + window)
        away &= (edges[1:] <= lo) | (edges[:-1] > hi)
    return away


def response_summary(bins: ResponseBins, select: np.ndarray | None = None) -> dict[str, float | None]:
    """``{"mean_abs_bias", "max_abs_bias", "mean_resolution", "n_bins"}`` over the bins with a
    finite median (and ``select [n_bins]`` True): the mean and largest ``|median - 1|`` and the
    mean resolution, each bin counting once; ``None`` where no bin qualifies."""
    usable = np.isfinite(bins.median) & np.isfinite(bins.resolution)
    if select is not None:
        usable &= np.asarray(select, dtype=bool)
    if not usable.any():
        return {"mean_abs_bias": None, "max_abs_bias": None, "mean_resolution": None, "n_bins": 0}
    bias = np.abs(bins.median[usable] - 1.0)
    return {
        "mean_abs_bias": float(bias.mean()),
        "max_abs_bias": float(bias.max()),
        "mean_resolution": float(bins.resolution[usable].mean()),
        "n_bins": int(usable.sum()),
    }
