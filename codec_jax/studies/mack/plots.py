"""The MACK study's figures, HEP style.

Report (:mod:`codec_jax.studies.mack.report`, inputs are seed-averaged summaries):

* :func:`plot_roc_nominal_alternate` -- per model, background rejection vs Z' efficiency on the
  nominal (solid) and alternate (dashed) test sets;
* :func:`plot_fractional_change_curves` -- fractional efficiency change vs working point;
* :func:`plot_pretraining_comparison` -- EMD pairs versus augmentations.

Comparison of study variants (:mod:`codec_jax.studies.mack.compare`):

* :func:`plot_variance_history` -- the VICReg variance term per pretraining epoch, one line per
  variant (mean over seeds, band = min..max): a curve that climbs to 2 is a collapsing embedding;
* :func:`plot_auc_vs_robustness` -- nominal AUC (x) against the mean over seeds of
  |delta eps_QCD / eps_QCD| (y), one marker per variant and model (error bars: spread over
  seeds): MACK's claim is a frozen encoder at about half the supervised model's height, at an AUC
  not far below it. (Absolute values rather than ratios: a ratio to a supervised change that is
  itself compatible with zero is meaningless.)
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

from codec_jax.plots import SAMPLE_COLOURS, hep_style, save_figure  # noqa: E402

__all__ = [
    "plot_roc_nominal_alternate",
    "plot_fractional_change_curves",
    "plot_pretraining_comparison",
    "plot_variance_history",
    "plot_auc_vs_robustness",
    "plot_frontier",
]

#: Marker per model in :func:`plot_auc_vs_robustness` (others get "o").
MODEL_MARKERS = {"emd_pairs/frozen": "o", "emd_pairs/epochs:1": "^", "emd_pairs/full": "s", "supervised": "*"}


def plot_variance_history(
    histories: Mapping[str, np.ndarray], path: str | os.PathLike, *, pretraining: str = "emd_pairs"
) -> Path:
    """``histories``: variant label -> ``[seeds, epochs]`` validation variance term per epoch
    (NaN where a seed has fewer epochs). Variants without history are left out."""
    with hep_style():
        figure, axis = plt.subplots(figsize=(6.5, 4.5))
        for label, history in histories.items():
            if history.size == 0:
                continue
            epochs = np.arange(1, history.shape[1] + 1)
            (line,) = axis.plot(epochs, np.nanmean(history, axis=0), marker="o", ms=3, label=label)
            axis.fill_between(
                epochs,
                np.nanmin(history, axis=0),
                np.nanmax(history, axis=0),
                color=line.get_color(),
                alpha=0.2,
            )
        axis.axhline(2.0, color="black", ls=":", lw=1, label="constant embedding")
        axis.set_ylim(0, 2.1)
        axis.set_xlabel("pretraining epoch")
        axis.set_ylabel(f"VICReg variance term ({pretraining}, validation)")
        axis.legend(fontsize=8)
        figure.tight_layout()
        return save_figure(figure, path)


def plot_auc_vs_robustness(
    variants: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, *, working_point: float = 0.5
) -> Path:
    """``variants``: label -> ``{"models": {model: {"auc_nominal": {"mean", "std"},
    "abs_change": {"mean", "std"}}}}`` (the ``variants`` of ``comparison.json``)."""
    with hep_style():
        figure, axis = plt.subplots(figsize=(7, 5))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for index, (label, variant) in enumerate(variants.items()):
            colour = colours[index % len(colours)]
            for model, row in variant["models"].items():
                auc, change = row["auc_nominal"], row["abs_change"]
                if change.get("mean") is None or auc.get("mean") is None:
                    continue
                axis.errorbar(
                    auc["mean"],
                    change["mean"],
                    xerr=auc.get("std") or 0.0,
                    yerr=change.get("std") or 0.0,
                    marker=MODEL_MARKERS.get(model, "o"),
                    ms=9 if model == "supervised" else 7,
                    color=colour,
                    ls="none",
                    capsize=3,
                    label=f"{label}: {model}",
                )
        axis.set_ylim(bottom=0)
        axis.set_xlabel("AUC (nominal)")
        axis.set_ylabel(
            rf"mean $|\Delta\varepsilon_{{QCD}}/\varepsilon_{{QCD}}|$ at $\varepsilon_{{Z'}}$={working_point:g}"
        )
        axis.legend(fontsize=7, ncol=1, loc="best")
        figure.tight_layout()
        return save_figure(figure, path)


# --------------------------------------------------------------------------- nominal vs alternate (MACK)
# ROC curves, fractional efficiency changes and the pretraining comparison of the MACK study
# (codec_jax.studies.mack.report). Inputs are the seed-averaged summaries of that module.

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


#: Marker of each kind of control in :func:`plot_frontier`.
CONTROL_MARKERS = {"noisy_supervised@": "o", "supervised_f": "s", "random_encoder": "^", "supervised": "*"}


def _control_marker(model: str) -> str:
    for prefix, marker in CONTROL_MARKERS.items():
        if model.startswith(prefix):
            return marker
    return "D"


def plot_frontier(
    measured: Mapping[str, Mapping[str, Mapping[str, Any]]],
    frontier: Mapping[str, Any],
    controls: Sequence[str],
    quantity: str,
    path: str | os.PathLike,
    *,
    label: str,
) -> Path:
    """The robustness-power plane: ``|delta eps / eps|`` (``quantity``) against the nominal AUC,
    every model with its error bars (test-set noise and seed spread), the controls (no robustness
    mechanism) in grey, the straight-line frontier fitted to them, and the MACK models in colour:
    a model below the line is more robust than a plain tagger of the same power.

    ``measured``: ``{model: {"auc": {"value", "error"}, quantity: {"value", "error"}}}`` (the
    ``models`` of :func:`codec_jax.studies.mack.analysis.analyse`); ``frontier``: its line for
    ``quantity`` (``intercept``, ``slope``, ``auc_range``).
    """
    with hep_style():
        figure, axis = plt.subplots(figsize=(7.5, 5.5))
        if "slope" in frontier:
            low, high = frontier["auc_range"]
            span = np.linspace(low - 0.02, high + 0.02, 50)
            axis.plot(
                span,
                frontier["intercept"] + frontier["slope"] * (span - 0.5),
                color="0.5",
                lw=1.5,
                label="frontier of the controls (linear fit)",
            )
        colour = 0
        for model, values in measured.items():
            auc, change = values["auc"], values[quantity]
            if auc["value"] is None or change["value"] is None:
                continue
            is_control = model in controls
            style = dict(color="0.55", mfc="none") if is_control else dict(color=f"C{colour}")
            if not is_control:
                colour += 1
            axis.errorbar(
                auc["value"],
                change["value"],
                xerr=auc["error"] or 0.0,
                yerr=change["error"] or 0.0,
                marker=_control_marker(model) if is_control else "o",
                linestyle="none",
                ms=7,
                capsize=2,
                label=None if model.startswith("noisy_supervised@") and is_control else model,
                **style,
            )
        axis.set_xlabel("AUC (nominal test set)")
        axis.set_ylabel(label)
        axis.set_title("open grey circles: noisy supervised controls at each MACK model's AUC", fontsize=9)
        axis.legend(fontsize=7, loc="upper left", ncol=2)
    return save_figure(figure, path)
