"""Plots comparing MACK study variants (:mod:`codec_jax.studies.mack_compare`), HEP style.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from codec_jax.plots import hep_style, save_figure  # noqa: E402

__all__ = ["plot_variance_history", "plot_auc_vs_robustness"]

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
