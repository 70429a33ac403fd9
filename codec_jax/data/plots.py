"""Figures of the flattening (CoDec): spectra before and after, weights, and the mass-shape fit.

Drawn in the library's HEP style (:mod:`codec_jax.plots`); each function writes a PNG atomically
and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from codec_jax.plots import SAMPLE_COLOURS, SAMPLE_LINESTYLES, axis_label, hep_style, save_figure

__all__ = ["plot_spectra", "plot_weights", "plot_mass_fit"]


def plot_spectra(
    before: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    after: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    path: str | os.PathLike,
    *,
    variable: str = "msd",
    bins: int | Sequence[float] = 40,
    value_range: tuple[float, float] | None = None,
    log: bool = True,
) -> Path:
    """Unit-normalised spectra before (left) and after (right) flattening.

    Args:
        before, after: ``{"signal": (values [n], weights [n] or None), "background": ...}``.
        path: output PNG.
        variable: key of :data:`AXIS_LABELS` for the x axis (e.g. ``"msd"``, ``"pt"``).
        bins, value_range: histogram binning.
        log: logarithmic y axis on the "before" panel (falling QCD spectra).
    """
    with hep_style():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, layout="constrained")
        for axis, spectra, title in (
            (axes[0], before, "before flattening"),
            (axes[1], after, "after flattening"),
        ):
            for name, (values, weights) in spectra.items():
                axis.hist(
                    values,
                    bins=bins,
                    range=value_range,
                    weights=weights,
                    density=True,
                    histtype="step",
                    linewidth=1.5,
                    color=SAMPLE_COLOURS.get(name),
                    linestyle=SAMPLE_LINESTYLES.get(name, "-"),
                    label=name,
                )
            axis.set_xlabel(axis_label(variable))
            axis.set_ylabel("normalised jets / bin width")
            axis.set_title(title)
            axis.legend()
        if log:
            axes[0].set_yscale("log")
        return save_figure(figure, path)


def plot_weights(weights: Mapping[str, np.ndarray], path: str | os.PathLike, *, bins: int = 50) -> Path:
    """Distribution of per-jet weights ``{name: [n_jets]}`` (log y; log x when they span more than
    a factor 20), with the mean and maximum in the legend."""
    with hep_style():
        figure, axis = plt.subplots()
        positive = np.concatenate([np.asarray(w)[np.asarray(w) > 0] for w in weights.values()])
        wide = positive.size > 0 and positive.max() > 20 * positive.min()  # log x for wide spreads
        if wide:
            edges = np.geomspace(positive.min(), positive.max() * 1.0001, bins + 1)
        else:
            every = np.concatenate([np.asarray(w, dtype=float).reshape(-1) for w in weights.values()])
            edges = np.linspace(every.min(), every.max() + 1e-9, bins + 1)
        for name, values in weights.items():
            values = np.asarray(values)
            axis.hist(
                values,
                bins=edges,
                histtype="step",
                linewidth=1.5,
                color=SAMPLE_COLOURS.get(name),
                label=f"{name} (mean {values.mean():.3g}, max {values.max():.3g})",
            )
        if wide:
            axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(axis_label("weight"))
        axis.set_ylabel("jets")
        axis.legend()
        return save_figure(figure, path)


def plot_mass_fit(
    density,
    values: np.ndarray,
    path: str | os.PathLike,
    *,
    weights: np.ndarray | None = None,
    value_range: tuple[float, float],
    bins: int = 40,
    variable: str = "msd",
) -> Path:
    """The fitted mass density over the weighted histogram of ``values [n_jets]``, with pulls.

    ``density`` has ``pdf(x)`` (a :class:`~codec_jax.data.massfit.MassShapeFit` or
    :class:`~codec_jax.data.bias.HistogramDensity`); a fit's chi2/ndf is shown in the legend.
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.linspace(*value_range, bins + 1)
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    variance, _ = np.histogram(values, bins=edges, weights=weights**2)
    total = counts.sum()
    centres = 0.5 * (edges[1:] + edges[:-1])
    fine = np.linspace(*value_range, 400)
    scale = total * (edges[1] - edges[0])
    expected = (
        np.array([np.mean(density.pdf(np.linspace(a, b, 9))) for a, b in zip(edges[:-1], edges[1:])]) * scale
    )
    label = getattr(density, "model", "histogram density")
    if hasattr(density, "chi2_ndf"):
        label += f", $\\chi^2$/ndf = {density.chi2:.1f}/{density.ndf}"
    with hep_style():
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(6.4, 6.0), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
        )
        top.errorbar(
            centres, counts, yerr=np.sqrt(variance), fmt="o", color="black", markersize=3, label="jets"
        )
        top.plot(fine, density.pdf(fine) * scale, color=SAMPLE_COLOURS["signal"], label=label)
        top.set_ylabel("jets / bin")
        top.legend()
        error = np.sqrt(np.where(variance > 0, variance, 1.0))
        bottom.axhline(0.0, color="grey", linewidth=1)
        bottom.plot(centres, (counts - expected) / error, "o", color="black", markersize=3)
        bottom.set_ylabel("pull")
        bottom.set_xlabel(axis_label(variable))
        return save_figure(figure, path)
