"""Plots for codec_jax studies, one section per topic, all in one HEP style.

Every plotting function draws with :func:`hep_style` and writes a PNG atomically with
:func:`save_figure` (temporary file, then rename), returning the path. Axis labels come from
:data:`AXIS_LABELS` so that the same quantity is labelled the same way everywhere.

Topics:

* flattening -- :func:`plot_spectra` (mass or pT before/after flattening, signal and QCD),
  :func:`plot_weights` (distribution of the flattening weights), :func:`plot_mass_fit` (the
  Crystal Ball fit over the mass histogram, with pulls);
* DDT -- :func:`plot_ddt_map` (the N2 percentile map X(rho, pT));
* robustness (MACK) -- :func:`plot_roc_nominal_alternate` (ROC on the nominal and alternate test
  sets per model), :func:`plot_fractional_change_curves` (fractional efficiency change versus
  working point), :func:`plot_pretraining_comparison` (EMD pairs versus augmentations).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "AXIS_LABELS",
    "SAMPLE_COLOURS",
    "SAMPLE_LINESTYLES",
    "hep_style",
    "save_figure",
    "plot_spectra",
    "plot_weights",
    "plot_mass_fit",
    "plot_ddt_map",
    "plot_roc_nominal_alternate",
    "plot_fractional_change_curves",
    "plot_pretraining_comparison",
]

#: Axis labels of jet-level quantities (units in square brackets).
AXIS_LABELS: dict[str, str] = {
    "msd": r"$m_{SD}$ [GeV]",
    "mass": r"$m_{jet}$ [GeV]",
    "truth_mass": r"$m_{Z'}^{truth}$ [GeV]",
    "pt": r"$p_{T}$ [GeV]",
    "rho": r"$\rho = \ln(m_{SD}^2 / p_T^2)$",
    "n2": r"$N_2$",
    "n2_ddt": r"$N_2^{DDT}$",
    "weight": "per-jet weight",
}
#: Colours of the sample kinds, the same in every plot.
SAMPLE_COLOURS: dict[str, str] = {"signal": "#d62728", "background": "#1f77b4"}
#: Line styles of the sample kinds (dashed background stays visible where the two coincide).
SAMPLE_LINESTYLES: dict[str, str] = {"signal": "-", "background": "--"}
_STYLE = {
    "figure.figsize": (6.4, 4.8),
    "figure.dpi": 100,
    "font.size": 12,
    "axes.labelsize": 13,
    "axes.titlesize": 12,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "xtick.minor.visible": True,
    "ytick.minor.visible": True,
    "axes.grid": False,
    "savefig.bbox": "tight",
}


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """Context in which figures get the codec_jax HEP style (ticks inside on all sides, no
    legend frame, readable font sizes)."""
    with plt.rc_context(_STYLE):
        yield


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` as PNG to ``path`` atomically, close it and return the path."""
    from codec_jax.data.io import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
    return path


def _label(variable: str) -> str:
    return AXIS_LABELS.get(variable, variable)


# --------------------------------------------------------------------------- flattening
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
            axis.set_xlabel(_label(variable))
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
        axis.set_xlabel(_label("weight"))
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
        bottom.set_xlabel(_label(variable))
        return save_figure(figure, path)


# --------------------------------------------------------------------------- DDT
def plot_ddt_map(ddt_map, path: str | os.PathLike) -> Path:
    """The smoothed N2 percentile map ``X_q(rho, pT)`` of a :class:`~codec_jax.ddt.DDTMap`."""
    with hep_style():
        figure, axis = plt.subplots()
        mesh = axis.pcolormesh(
            ddt_map.rho_edges, ddt_map.pt_edges, ddt_map.values.T, cmap="viridis", shading="flat"
        )
        colourbar = figure.colorbar(mesh, ax=axis)
        colourbar.set_label(f"{ddt_map.quantile:.0%} quantile of " + AXIS_LABELS["n2"] + " in QCD")
        axis.set_xlabel(_label("rho"))
        axis.set_ylabel(_label("pt"))
        axis.minorticks_off()
        return save_figure(figure, path)


# --------------------------------------------------------------------------- nominal vs alternate (MACK)
# ROC curves, fractional efficiency changes and the pretraining comparison of the MACK study
# (codec_jax.studies.report). Inputs are the seed-averaged summaries of that module.

_PROCESS_LABELS = {"qcd": "QCD", "zprime": "Z'"}


def _model_grid(n_models: int) -> tuple[plt.Figure, np.ndarray]:
    columns = min(4, n_models)
    rows = -(-n_models // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat[n_models:]:
        axis.set_visible(False)
    return figure, axes


def plot_roc_nominal_alternate(
    rocs: Mapping[str, Mapping[str, Sequence[float]]], path: str | os.PathLike
) -> Path:
    """One panel per model: background rejection 1/eps_QCD vs Z' efficiency on the nominal (solid)
    and alternate (dashed) test sets.

    ``rocs``: model -> ``{"eps_sig": [k], "eps_bkg_nominal": [k], "eps_bkg_alternate": [k]}``
    (``None`` entries are skipped).
    """
    with hep_style():
        figure, axes = _model_grid(len(rocs))
        for axis, (model, roc) in zip(axes.flat, rocs.items()):
            eps_sig = np.asarray(roc["eps_sig"], dtype=np.float64)
            for name, style, label in (
                ("eps_bkg_nominal", "-", "nominal"),
                ("eps_bkg_alternate", "--", "alternate"),
            ):
                eps_bkg = np.asarray([np.nan if v is None else v for v in roc[name]], dtype=np.float64)
                with np.errstate(divide="ignore"):
                    rejection = np.where(eps_bkg > 0, 1.0 / eps_bkg, np.nan)
                axis.plot(eps_sig, rejection, style, color=SAMPLE_COLOURS["background"], label=label)
            axis.set_yscale("log")
            axis.set_title(model, fontsize=10)
            axis.set_xlabel(r"$\varepsilon_{Z'}$")
            axis.set_ylabel(r"$1/\varepsilon_{QCD}$")
        axes.flat[0].legend()
        figure.tight_layout()
        return save_figure(figure, path)


def plot_fractional_change_curves(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]],
    path: str | os.PathLike,
    *,
    changed: str = "qcd",
    fixed: str = "zprime",
) -> Path:
    """Fractional efficiency change (alternate - nominal) / nominal of the ``changed`` process
    versus the working point (efficiency of the ``fixed`` process), one line per model with a
    band of +- one spread over seeds.

    ``curves``: model -> ``{"efficiency": [k], "mean": [k], "std": [k]}`` (``None`` = undefined).
    """
    with hep_style():
        figure, axis = plt.subplots(figsize=(7.2, 4.8))
        pretrainings = list(dict.fromkeys(model.split("/")[0] for model in curves if "/" in model))
        level_styles = {"frozen": "--", "full": "-"}  # epochs:N dotted
        for model, curve in curves.items():
            x = np.asarray(curve["efficiency"], dtype=np.float64)
            mean = np.asarray([np.nan if v is None else v for v in curve["mean"]], dtype=np.float64)
            std = np.asarray([np.nan if v is None else v for v in curve["std"]], dtype=np.float64)
            if "/" in model:
                pretraining, level = model.split("/", 1)
                colour = f"C{pretrainings.index(pretraining) % 10}"
                style, width = level_styles.get(level, ":"), 1.3
            else:
                colour, style, width = "black", "-", 2.0
            axis.plot(x, mean, style, color=colour, lw=width, label=model)
            axis.fill_between(x, mean - std, mean + std, color=colour, alpha=0.12, lw=0)
        axis.axhline(0.0, color="grey", lw=0.8)
        changed_label, fixed_label = _PROCESS_LABELS.get(changed, changed), _PROCESS_LABELS.get(fixed, fixed)
        axis.set_xlabel(rf"$\varepsilon_{{{fixed_label}}}$ (nominal working point)")
        axis.set_ylabel(rf"$\Delta\varepsilon_{{{changed_label}}} / \varepsilon_{{{changed_label}}}$")
        axis.legend(fontsize=8, ncol=2)
        return save_figure(figure, path)


def plot_pretraining_comparison(
    entries: Mapping[str, Mapping[str, Mapping[str, float | None]]],
    path: str | os.PathLike,
    *,
    working_point: float = 0.5,
) -> Path:
    """EMD pairing versus augmentations: grouped bars of |delta eps_QCD / eps_QCD| (pass the
    summary of the per-seed absolute values) at the working point (left) and of the nominal AUC (right) per fine-tuning level, one bar per
    pretraining; the supervised model is a horizontal line. Error bars: spread over seeds.

    ``entries``: model (``"<pretraining>/<level>"`` or ``"supervised"``) ->
    ``{"change": {"mean", "std"}, "auc": {"mean", "std"}}``.
    """

    def value(stat: Mapping[str, float | None] | None, absolute: bool) -> tuple[float, float]:
        if not stat or stat.get("mean") is None:
            return np.nan, 0.0
        mean = abs(stat["mean"]) if absolute else stat["mean"]
        return mean, stat.get("std") or 0.0

    split = [model.split("/", 1) for model in entries if model != "supervised"]
    pretrainings = list(dict.fromkeys(p for p, _ in split))
    levels = list(dict.fromkeys(level for _, level in split))
    width = 0.8 / max(1, len(pretrainings))
    with hep_style():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for axis, metric, absolute, label in (
            (
                axes[0],
                "change",
                True,
                rf"$|\Delta\varepsilon_{{QCD}}/\varepsilon_{{QCD}}|$ at $\varepsilon_{{Z'}}$={working_point:g}",
            ),
            (axes[1], "auc", False, "AUC (nominal)"),
        ):
            for i, pretraining in enumerate(pretrainings):
                stats = [
                    value(entries.get(f"{pretraining}/{level}", {}).get(metric), absolute) for level in levels
                ]
                positions = np.arange(len(levels)) + (i - (len(pretrainings) - 1) / 2) * width
                axis.bar(
                    positions,
                    [s[0] for s in stats],
                    width,
                    yerr=[s[1] for s in stats],
                    capsize=3,
                    label=pretraining,
                )
            if "supervised" in entries:
                mean, std = value(entries["supervised"].get(metric), absolute)
                axis.axhline(mean, color="black", lw=1.2, label="supervised")
                axis.axhspan(mean - std, mean + std, color="black", alpha=0.1, lw=0)
            axis.set_xticks(np.arange(len(levels)), levels)
            axis.set_xlabel("fine-tuning level")
            axis.set_ylabel(label)
            axis.minorticks_off()
        axes[0].legend(fontsize=8)
        figure.tight_layout()
        return save_figure(figure, path)
