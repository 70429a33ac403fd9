"""Input checks and efficiency helpers shared by the metric modules (private to the package).

Conventions are those of :mod:`codec_jax.metrics`: labels 1 = signal, 0 = background; a cut keeps
``score >= threshold``; weights are finite and >= 0; everything is float64.
"""

from __future__ import annotations

import numpy as np

from codec_jax.errors import DataError


def _finite_1d(name: str, values: object, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"{name!r} must be one-dimensional [n], got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name!r} is empty")
    if length is not None and array.shape[0] != length:
        raise DataError(f"{name!r} has {array.shape[0]} entries, expected {length} (one per jet)")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name!r} holds {np.count_nonzero(~np.isfinite(array))} NaN/inf value(s)")
    return array


def _weights(name: str, weights: object, length: int) -> np.ndarray:
    if weights is None:
        return np.ones(length)
    array = _finite_1d(name, weights, length)
    if np.any(array < 0):
        raise DataError(f"{name!r} holds negative weights; the metrics need weights >= 0")
    return array


def _labels(name: str, labels: object, length: int) -> np.ndarray:
    array = _finite_1d(name, labels, length)
    if not np.all((array == 0) | (array == 1)):
        raise DataError(f"{name!r} must hold only 0 (background) and 1 (signal)")
    return array == 1


def _inputs(
    scores: object, labels: object, weights: object, suffix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = _finite_1d("scores" + suffix, scores)
    is_signal = _labels("labels" + suffix, labels, scores.shape[0])
    weights = _weights("weights" + suffix, weights, scores.shape[0])
    return scores, is_signal, weights


def _class(
    scores: np.ndarray, weights: np.ndarray, select: np.ndarray, what: str
) -> tuple[np.ndarray, np.ndarray]:
    if not np.any(select) or weights[select].sum() <= 0:
        raise DataError(f"the sample has no {what} jets (or their weights sum to zero)")
    return scores[select], weights[select]


def _efficiency_steps(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores in descending order and the weighted fraction with ``score >= value``."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    cumulative = np.cumsum(weights[order])
    # The last index of each block of tied scores.
    block_end = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    return sorted_scores[block_end], cumulative[block_end] / cumulative[-1]


def _thresholds(scores: np.ndarray, weights: np.ndarray, efficiencies: np.ndarray) -> np.ndarray:
    values, passing = _efficiency_steps(scores, weights)
    index = np.searchsorted(passing, efficiencies * (1.0 - 1e-12), side="left")
    return values[np.minimum(index, values.size - 1)]


def _pass_fraction(scores: np.ndarray, weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    values, passing = _efficiency_steps(scores, weights)
    # Number of distinct values >= threshold (values are descending).
    count = np.searchsorted(-values, -np.asarray(thresholds, dtype=np.float64), side="right")
    return np.where(count > 0, passing[np.maximum(count - 1, 0)], 0.0)


def _check_efficiency(name: str, value: object) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0 or not np.all((array > 0) & (array <= 1)):
        raise DataError(f"{name!r} must lie in (0, 1], got {value}")
    return array
