"""Summaries of per-seed study results: mean and spread over seeds, pointwise curve averages,
JSON-safe values and the ``mean ± spread`` cells of report tables (shared by every study)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["summarize_values", "summarize_curves", "format_stat", "json_safe"]


def summarize_values(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` over the finite entries of ``values`` (one per seed);
    ``std`` is the sample standard deviation (ddof=1), ``None`` when fewer than two are finite;
    ``mean`` is ``None`` when none is."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    return {
        "mean": float(finite.mean()) if finite.size else None,
        "std": float(finite.std(ddof=1)) if finite.size > 1 else None,
        "n": int(finite.size),
        "values": [None if v is None or not math.isfinite(v) else float(v) for v in values],
    }


def summarize_curves(curves: Sequence[Sequence[float | None]]) -> dict[str, list[float | None]]:
    """Pointwise mean and spread (ddof=1) of equally long curves (``None`` = undefined point)."""
    array = np.asarray([[np.nan if v is None else v for v in curve] for curve in curves], dtype=np.float64)
    finite = np.isfinite(array)
    count = finite.sum(axis=0)
    total = np.where(finite, array, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        deviation = np.where(finite, array - mean, 0.0)
        std = np.where(count > 1, np.sqrt((deviation**2).sum(axis=0) / np.maximum(count - 1, 1)), np.nan)
    as_list = lambda a: [None if not np.isfinite(v) else float(v) for v in a]  # noqa: E731
    return {"mean": as_list(mean), "std": as_list(std)}


def format_stat(stat: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``mean ± spread`` (or ``mean``, or ``n/a``) of a :func:`summarize_values` entry."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    if stat.get("std") is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers and non-finite floats as ``None`` (JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
