"""Plots of the CoDec mass studies: response, resolution and closure versus the true mass, the
true-versus-predicted mass plane, and binned calibration maps.

Same HEP style and atomic PNG writing as :mod:`codec_jax.plots` (:func:`~codec_jax.plots.hep_style`,
:func:`~codec_jax.plots.save_figure`). Inputs are plain arrays/lists, so the functions work on the
summaries of :mod:`codec_jax.studies.codec_mass.report` or on anything else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from codec_jax.plots import AXIS_LABELS, hep_style, save_figure

__all__ = ["plot_binned_curves", "plot_truth_vs_prediction", "plot_calibration_maps"]

#: Baselines (not trained) are drawn in black/grey so the trained methods stand out.
_BASELINE_STYLES = {"msd": ("black", "o"), "mass": ("grey", "s")}


def _values(sequence: Sequence[float | None] | None, size: int) -> np.ndarray:
    if sequence is None:
        return np.full(size, np.nan)
    return np.asarray([np.nan if v is None else v for v in sequence], dtype=np.float64)


def _style(method: str, index: int) -> tuple[str, str]:
    return _BASELINE_STYLES.get(method, (f"C{index % 10}", "^v<>Dpx*"[index % 8]))


def plot_binned_curves(
    curves: Mapping[str, Mapping[str, Sequence[float | None] | None]],
    path: str | os.PathLike,
    *,
    ylabel: str,
    reference: float | None = None,
    peaks: Sequence[float] = (),
    xlabel: str = AXIS_LABELS["truth_mass"],
) -> Path:
    """One curve per method of a per-bin quantity (median response, resolution, closure) versus
    the true mass.

    ``curves``: method -> ``{"centres": [k], "mean": [k], "std": [k] | None, "error": [k] | None}``
    -- ``std`` (spread over seeds) is drawn as a band, ``error`` (statistical) as error bars;
    ``None`` entries are gaps. ``reference``: a horizontal line (1 for a response); ``peaks``:
    dotted vertical lines at the masses of the peaky training set.
    """
    with hep_style():
        figure, axis = plt.subplots(figsize=(7.2, 4.8))
        trained = 0
        for method, curve in curves.items():
            x = np.asarray(curve["centres"], dtype=np.float64)
            mean = _values(curve["mean"], x.size)
            std = _values(curve.get("std"), x.size)
            error = _values(curve.get("error"), x.size)
            colour, marker = _style(method, trained)
            trained += method not in _BASELINE_STYLES
            axis.errorbar(
                x,
                mean,
                yerr=np.where(np.isfinite(error), error, 0.0),
                color=colour,
                marker=marker,
                ms=5,
                lw=1.5,
                capsize=2,
                label=method,
            )
            if np.isfinite(std).any():
                axis.fill_between(x, mean - std, mean + std, color=colour, alpha=0.18, lw=0)
        if reference is not None:
            axis.axhline(reference, color="grey", lw=0.8)
        for mass in peaks:
            axis.axvline(mass, color="grey", ls=":", lw=1.0)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=9, ncol=2)
        return save_figure(figure, path)


def plot_truth_vs_prediction(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    path: str | os.PathLike,
    *,
    value_range: tuple[float, float],
    bins: int = 40,
    ylabel: str = "predicted mass [GeV]",
) -> Path:
    """One 2D histogram per method of the predicted versus the true mass, with the diagonal.

    ``panels``: method -> ``(truth [n], predicted [n], weights [n] or None)``; predictions outside
    ``value_range`` fill the edge rows (so the badly groomed tail stays visible).
    """
    lo, hi = value_range
    with hep_style():
        columns = min(3, len(panels))
        rows = -(-len(panels) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.8 * rows), squeeze=False)
        for axis in axes.flat[len(panels) :]:
            axis.set_visible(False)
        for axis, (method, (truth, predicted, weights)) in zip(axes.flat, panels.items()):
            y = np.clip(np.asarray(predicted, dtype=np.float64), lo, hi - 1e-6 * (hi - lo))
            counts, xedges, yedges = np.histogram2d(
                np.asarray(truth, dtype=np.float64),
                y,
                bins=bins,
                range=(value_range, value_range),
                weights=weights,
            )
            positive = counts[counts > 0]
            norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
            mesh = axis.pcolormesh(
                xedges, yedges, np.where(counts > 0, counts, np.nan).T, norm=norm, cmap="viridis"
            )
            figure.colorbar(mesh, ax=axis, pad=0.01)
            axis.plot(value_range, value_range, color="red", lw=1.0, ls="--")
            axis.set_title(method, fontsize=10)
            axis.set_xlabel(AXIS_LABELS["truth_mass"])
            axis.set_ylabel(ylabel)
        figure.tight_layout()
        return save_figure(figure, path)


def plot_calibration_maps(
    maps: Mapping[str, Mapping[str, Sequence]], path: str | os.PathLike, *, factor_range: float = 1.5
) -> Path:
    """One panel per binned calibration map: the correction factor ``exp(c)`` in (m_SD, pT)
    cells on a log colour scale centred at 1 and clipped to ``[1 / factor_range, factor_range]``
    (the large factors of nearly fully groomed jets saturate); cells copied from a neighbour (too
    few jets in the fit sample) are hatched.

    ``maps``: name -> :meth:`codec_jax.baselines.mass_calibration.BinnedCalibration.to_dict` output.
    """

    norm = LogNorm(vmin=1.0 / factor_range, vmax=factor_range)
    with hep_style():
        figure, axes = plt.subplots(1, len(maps), figsize=(4.6 * len(maps), 3.8), squeeze=False)
        for axis, (name, entry) in zip(axes.flat, maps.items()):
            msd_edges = np.asarray(entry["msd_edges"], dtype=np.float64)
            pt_edges = np.asarray(entry["pt_edges"], dtype=np.float64)
            factor = np.exp(np.asarray(entry["correction"], dtype=np.float64))
            clipped = np.clip(factor, norm.vmin, norm.vmax)
            mesh = axis.pcolormesh(msd_edges, pt_edges, clipped.T, cmap="coolwarm", norm=norm)
            for a, b in zip(*np.nonzero(~np.asarray(entry["filled"], dtype=bool))):
                width, height = msd_edges[a + 1] - msd_edges[a], pt_edges[b + 1] - pt_edges[b]
                axis.add_patch(
                    Rectangle(
                        (msd_edges[a], pt_edges[b]),
                        width,
                        height,
                        fill=False,
                        hatch="///",
                        lw=0,
                        color="grey",
                    )
                )
            figure.colorbar(mesh, ax=axis, pad=0.01, label=r"$m_{cal} / m_{SD}$", extend="both")
            axis.set_title(f"{name} (hatched: copied from a neighbour)", fontsize=9)
            axis.set_xlabel(AXIS_LABELS["msd"])
            axis.set_ylabel(AXIS_LABELS["pt"])
        figure.tight_layout()
        return save_figure(figure, path)
