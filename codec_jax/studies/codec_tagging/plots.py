"""Plots of mass sculpting and decorrelation (the CoDec tagging study), in the codec_jax HEP style.

Inputs are seed-averaged summaries, ``{"mean": ..., "std": ...}`` per quantity (``std`` may be
``None`` for a single seed or a seedless observable such as N2), keyed by model name. Each model
keeps the same colour in every plot (:func:`model_colours`, by its position in the mapping).

* :func:`plot_roc_curves` -- background rejection 1/eps_QCD versus eps_Z', all models;
* :func:`plot_rejection_vs_sculpting` -- R at a working point versus 1/JSD at the same point,
  log-log with error bars and the 1/JSD statistical floor (the standard summary plot of the
  decorrelation literature: up and to the right is better), each penalty scan as a curve, and
  beside it R versus the excess JSD over the floor with its errors;
* :func:`plot_mass_spectra_after_cuts` -- normalised QCD mass spectra after cuts at several Z'
  efficiencies, one panel per model;
* :func:`plot_efficiency_vs_mass` -- QCD efficiency versus mass at a fixed Z' efficiency;
* :func:`plot_latent_mass_correlation` -- |Pearson| and distance correlation of each latent
  dimension with the mass, grouped bars per model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from codec_jax.plots import AXIS_LABELS, hep_style, save_figure  # noqa: E402

__all__ = [
    "model_colours",
    "plot_roc_curves",
    "plot_rejection_vs_sculpting",
    "plot_mass_spectra_after_cuts",
    "plot_efficiency_vs_mass",
    "plot_latent_mass_correlation",
]

Stat = Mapping[str, Any]


def model_colours(models: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per model (tab10, then the light tab20 shades for more than ten)."""
    palette = [plt.get_cmap("tab10")(i) for i in range(10)]
    palette += [plt.get_cmap("tab20")(2 * i + 1) for i in range(10)]
    return {model: palette[i % len(palette)] for i, model in enumerate(models)}


def _array(values: Sequence[float | None] | None, length: int | None = None) -> np.ndarray:
    if values is None:
        return np.full(length or 0, np.nan)
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def _value(stat: Stat | None) -> tuple[float, float]:
    """``(mean, std)`` of a summary entry; nan mean when missing, 0 std when undefined."""
    if not stat or stat.get("mean") is None:
        return np.nan, 0.0
    return float(stat["mean"]), float(stat.get("std") or 0.0)


class _PlainLogFormatter(LogFormatter):
    """matplotlib's choice of which log ticks get a label, written as plain numbers (0.05, 20)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _plain_log_ticks(axis: plt.Axes) -> None:
    """Tick labels of log axes as plain numbers instead of powers of ten."""
    for which in (axis.xaxis, axis.yaxis):
        if which.get_scale() == "log":
            which.set_major_formatter(_PlainLogFormatter())
            which.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.5)))


def _outside_legend(axis: plt.Axes) -> None:
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))


def _panel_grid(n_panels: int, columns: int = 4) -> tuple[plt.Figure, np.ndarray]:
    columns = max(1, min(columns, n_panels))
    rows = -(-n_panels // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.6 * columns, 3.1 * rows), squeeze=False, sharex=True
    )
    for axis in axes.flat[n_panels:]:
        axis.set_visible(False)
    return figure, axes


def plot_roc_curves(
    rocs: Mapping[str, Mapping[str, Sequence[float | None]]], path: str | os.PathLike
) -> Path:
    """Background rejection ``1/eps_QCD`` (log) versus ``eps_Z'``, one line per model.

    ``rocs``: model -> ``{"eps_sig": [k], "eps_bkg": [k]}`` (seed-averaged eps_QCD).
    """
    colours = model_colours(list(rocs))
    with hep_style():
        figure, axis = plt.subplots(figsize=(7.0, 5.0))
        for model, roc in rocs.items():
            eps_sig = _array(roc["eps_sig"])
            eps_bkg = _array(roc["eps_bkg"], len(eps_sig))
            with np.errstate(divide="ignore", invalid="ignore"):
                rejection = np.where(eps_bkg > 0, 1.0 / eps_bkg, np.nan)
            axis.plot(eps_sig, rejection, color=colours[model], lw=1.5, label=model)
        axis.set_yscale("log")
        axis.set_xlim(0.0, 1.0)
        axis.set_xlabel(r"$\varepsilon_{Z'}$")
        axis.set_ylabel(r"$1/\varepsilon_{QCD}$")
        _plain_log_ticks(axis)
        _outside_legend(axis)
        return save_figure(figure, path)


Curve = Sequence[tuple[str, Mapping[str, Stat]]]
#: Colours of the scan curves (dark, apart from the tab10/tab20 colours of the single models).
_CURVE_COLOURS = ("black", "darkred", "darkgoldenrod", "darkslateblue")


def _plane_point(
    entry: Mapping[str, Stat], x_key: str, log_x: bool
) -> tuple[float, float, float, float] | None:
    x, x_err = _value(entry.get(x_key))
    y, y_err = _value(entry.get("rejection"))
    if not (np.isfinite(x) and np.isfinite(y) and y > 0 and (x > 0 or not log_x)):
        return None
    return x, (min(x_err, 0.95 * x) if log_x else x_err), y, min(y_err, 0.95 * y)


def _plane(
    axis: plt.Axes,
    points: Mapping[str, Mapping[str, Stat]],
    curves: Mapping[str, Curve],
    x_key: str,
    log_x: bool,
    colours: Mapping[str, Any],
) -> None:
    """Markers with error bars for ``points`` and a line through each scan of ``curves``, its
    points labelled with their tags (the penalty weights)."""
    for model, entry in points.items():
        found = _plane_point(entry, x_key, log_x)
        if found is not None:
            x, x_err, y, y_err = found
            axis.errorbar(x, y, xerr=x_err, yerr=y_err, fmt="o", color=colours[model], capsize=3, label=model)
    for label, scan in curves.items():
        found = [(tag, _plane_point(entry, x_key, log_x)) for tag, entry in scan]
        found = [(tag, point) for tag, point in found if point is not None]
        if not found:
            continue
        xs, x_errs, ys, y_errs = (np.array([point[i] for _, point in found]) for i in range(4))
        axis.errorbar(
            xs,
            ys,
            xerr=x_errs,
            yerr=y_errs,
            fmt="s-",
            ms=4,
            lw=1.2,
            capsize=2,
            color=colours[label],
            label=label,
        )
        for (tag, _), x, y in zip(found, xs, ys):
            axis.annotate(
                tag, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, color=colours[label]
            )
    if log_x:
        axis.set_xscale("log")
    axis.set_yscale("log")
    _plain_log_ticks(axis)


def _symlog_excess_axis(axis: plt.Axes, stats: Sequence[Stat | None]) -> None:
    """A symlog x axis for excess JSDs: linear within about the typical error around 0 (a power
    of ten), logarithmic beyond (strong sculptors such as N2), with room around the points."""
    values = np.array([_value(stat) for stat in stats if stat and stat.get("mean") is not None])
    if not len(values):
        return
    errors = values[:, 1][values[:, 1] > 0]
    linthresh = 10.0 ** np.floor(np.log10(np.median(errors))) if len(errors) else 1e-3
    axis.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
    low, high = np.min(values[:, 0] - values[:, 1]), np.max(values[:, 0] + values[:, 1])
    axis.set_xlim(min(low * 1.5, -linthresh), max(high * 1.5, linthresh))


def plot_rejection_vs_sculpting(
    points: Mapping[str, Mapping[str, Stat]],
    path: str | os.PathLike,
    *,
    working_point: float = 0.5,
    floor: tuple[float, float] | None = None,
    curves: Mapping[str, Curve] | None = None,
) -> Path:
    """R (1/eps_QCD) versus the sculpting at the Z' efficiency ``working_point``: left 1/JSD
    (log-log, the literature's summary plot: up and to the right is better), right the excess
    JSD over the random-cut floor (linear: 0 = no measurable sculpting), when given.

    ``points``: model -> ``{"rejection": {"mean", "std"}, "inv_jsd": {"mean", "std"}, "excess":
    {"mean", "std"} (optional; e.g. a value with its combined error)}``; ``curves``: scan label ->
    ``[(tag, point), ...]`` in scan order (e.g. MoDe[0] at increasing penalty weights), drawn as
    a line through its points; ``floor``: ``(mean, std)`` of the 1/JSD a mass-independent cut
    reaches on this QCD sample, a vertical band (1/JSD beyond it cannot be resolved).
    """
    curves = dict(curves or {})
    colours = {**model_colours(list(points)), **dict(zip(curves, _CURVE_COLOURS))}
    percent = f"{100 * working_point:.0f}"
    with_excess = any(
        "excess" in entry for entry in (*points.values(), *(e for c in curves.values() for _, e in c))
    )
    with hep_style():
        figure, axes = plt.subplots(
            1, 2 if with_excess else 1, figsize=(13.0 if with_excess else 7.0, 5.0), squeeze=False
        )
        left = axes[0, 0]
        _plane(left, points, curves, "inv_jsd", True, colours)
        if floor is not None and np.isfinite(floor[0]):
            left.axvline(floor[0], color="grey", lw=1.0, ls="--", label="1/JSD floor (random cut)")
            left.axvspan(max(floor[0] - floor[1], 1e-9), floor[0] + floor[1], color="grey", alpha=0.15, lw=0)
        left.set_xlabel(rf"1/JSD at $\varepsilon_{{Z'}}$ = {percent}% (QCD mass, pass vs fail)")
        left.set_ylabel(rf"$R_{{{percent}}} = 1/\varepsilon_{{QCD}}$ at $\varepsilon_{{Z'}}$ = {percent}%")
        if with_excess:
            right = axes[0, 1]
            _plane(right, points, curves, "excess", False, colours)
            _symlog_excess_axis(
                right,
                [e.get("excess") for e in (*points.values(), *(e for c in curves.values() for _, e in c))],
            )
            right.axvline(0.0, color="grey", lw=1.0, ls="--")
            right.set_xlabel(rf"excess JSD over the floor at $\varepsilon_{{Z'}}$ = {percent}% (symlog)")
            right.set_ylabel(rf"$R_{{{percent}}}$")
            _outside_legend(right)
        else:
            _outside_legend(left)
        figure.tight_layout()
        return save_figure(figure, path)


def plot_mass_spectra_after_cuts(
    spectra: Mapping[str, Mapping[float, Sequence[float | None]]],
    bin_edges: Sequence[float],
    path: str | os.PathLike,
    *,
    inclusive: Sequence[float | None] | None = None,
) -> Path:
    """One panel per model: the unit-area QCD soft-drop-mass spectrum of the jets passing the cut
    at each Z' efficiency (seed average), over the ``inclusive`` spectrum (black).

    ``spectra``: model -> {Z' efficiency: [bins] density in 1/GeV}; ``bin_edges``: [bins + 1].
    """
    edges = np.asarray(bin_edges, dtype=np.float64)
    with hep_style():
        figure, axes = _panel_grid(len(spectra))
        cmap = plt.get_cmap("plasma")
        for axis, (model, by_efficiency) in zip(axes.flat, spectra.items()):
            if inclusive is not None:
                axis.stairs(_array(inclusive), edges, baseline=None, color="black", lw=1.5, label="all QCD")
            efficiencies = sorted(by_efficiency, reverse=True)
            for i, efficiency in enumerate(efficiencies):
                colour = cmap(0.1 + 0.75 * i / max(1, len(efficiencies) - 1))
                axis.stairs(
                    _array(by_efficiency[efficiency]),
                    edges,
                    baseline=None,
                    color=colour,
                    lw=1.2,
                    label=rf"$\varepsilon_{{Z'}}$={efficiency:g}",
                )
            axis.set_title(model, fontsize=10)
            axis.set_ylim(bottom=0.0)
            axis.minorticks_off()  # many small panels: minor ticks cost more time than they help
            axis.set_xlabel(AXIS_LABELS["msd"])
            axis.set_ylabel("QCD, normalised")
        axes.flat[0].legend(fontsize=7)
        figure.tight_layout()
        return save_figure(figure, path)


def plot_efficiency_vs_mass(
    curves: Mapping[str, Mapping[str, Sequence[float | None] | None]],
    bin_edges: Sequence[float],
    path: str | os.PathLike,
    *,
    working_point: float = 0.5,
) -> Path:
    """QCD efficiency versus soft-drop mass at the cut keeping ``working_point`` of the Z' jets,
    one line per model with a band of +- the spread over seeds (flat = not sculpting).

    ``curves``: model -> ``{"mean": [bins], "std": [bins] or None}``; ``bin_edges``: [bins + 1].
    """
    edges = np.asarray(bin_edges, dtype=np.float64)
    colours = model_colours(list(curves))
    with hep_style():
        figure, axis = plt.subplots(figsize=(7.0, 5.0))
        for model, curve in curves.items():
            mean = _array(curve["mean"])
            std = np.nan_to_num(_array(curve.get("std"), len(mean)))
            axis.stairs(mean, edges, baseline=None, color=colours[model], lw=1.5, label=model)
            axis.stairs(
                mean + std, edges, baseline=mean - std, fill=True, color=colours[model], alpha=0.12, lw=0
            )
        axis.set_yscale("log")
        axis.set_xlabel(AXIS_LABELS["msd"])
        axis.set_ylabel(rf"$\varepsilon_{{QCD}}$ at $\varepsilon_{{Z'}}$ = {100 * working_point:.0f}%")
        _plain_log_ticks(axis)
        _outside_legend(axis)
        return save_figure(figure, path)


def _axis_label(correlations: Mapping[str, Mapping[str, Stat]], dim: int) -> str:
    first = next(iter(correlations.values()), {})
    shares = _array((first.get("variance_fraction") or {}).get("mean"))
    return f"z{dim}" if dim >= len(shares) or not np.isfinite(shares[dim]) else f"z{dim}\n{shares[dim]:.0%}"


def plot_latent_mass_correlation(
    correlations: Mapping[str, Mapping[str, Stat]], path: str | os.PathLike, *, process: str = "QCD"
) -> Path:
    """Per latent axis: |Pearson| (left) and distance correlation (right) with the mass, one bar
    per model, error bars = spread over seeds; the x labels give each axis's mean share of the
    latent variance when ``"variance_fraction"`` is given.

    ``correlations``: model -> ``{"pearson": {"mean": [d], "std": [d]}, "distance": {...},
    "variance_fraction": {"mean": [d]} (optional)}``; axes ``z0, z1, ...`` (e.g. principal axes).
    """
    colours = model_colours(list(correlations))
    n_models = max(1, len(correlations))
    width = 0.8 / n_models
    with hep_style():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
        for axis, key, label in (
            (axes[0], "pearson", f"|Pearson correlation| with $m_{{SD}}$ ({process})"),
            (axes[1], "distance", f"distance correlation with $m_{{SD}}$ ({process})"),
        ):
            dims = 0
            for i, (model, entry) in enumerate(correlations.items()):
                mean = np.abs(_array(entry[key]["mean"]))
                std = np.nan_to_num(_array(entry[key].get("std"), len(mean)))
                dims = max(dims, len(mean))
                positions = np.arange(len(mean)) + (i - (n_models - 1) / 2) * width
                axis.bar(positions, mean, width, yerr=std, capsize=2, color=colours[model], label=model)
            axis.set_xticks(np.arange(dims), [_axis_label(correlations, d) for d in range(dims)])
            axis.set_xlabel("latent axis (variance share, first model)")
            axis.set_ylabel(label)
            axis.set_ylim(0.0, 1.0)
            axis.minorticks_off()
        axes[0].legend(fontsize=8)
        return save_figure(figure, path)
