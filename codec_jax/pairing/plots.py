"""Figures of positive-pair searches: the EMD distribution with the cutoff, and pair differences."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from codec_jax.pairing.pairs import PairSet
from codec_jax.plots import hep_style, save_figure

__all__ = ["plot_pair_emd", "plot_pair_differences"]


def plot_pair_emd(pairs: PairSet, path: str | os.PathLike, *, bins: int = 50) -> Path:
    """Histogram of the candidate EMDs (when stored) and of the kept pairs, with the cutoff.

    Writes a PNG atomically and returns its path.
    """

    settings = pairs.settings
    unit = "" if settings.get("norm") else " [GeV]"
    cutoff = settings.get("cutoff")
    values = [v for v in (pairs.candidate_emd, pairs.emd) if v is not None and len(v)]
    upper = max((float(np.max(v)) for v in values), default=1.0) or 1.0
    edges = np.linspace(0.0, upper * 1.02, bins + 1)
    with hep_style():
        figure, axis = plt.subplots(figsize=(6.0, 4.5))
        if pairs.candidate_emd is not None and len(pairs.candidate_emd):
            axis.hist(pairs.candidate_emd, bins=edges, histtype="step", color="0.4", label="candidates")
        axis.hist(
            pairs.emd, bins=edges, histtype="stepfilled", alpha=0.5, color="C0", label=f"pairs ({len(pairs)})"
        )
        if cutoff is not None:
            axis.axvline(cutoff, color="C3", linestyle="--", label=f"cutoff C = {cutoff:.3g}")
        axis.set_xlabel(f"EMD{unit}")
        axis.set_ylabel("pairs / bin")
        axis.set_title(
            f"{settings.get('strategy', '?')} search, backend {settings.get('backend', '?')}"
            + (", certified" if settings.get("certified") else "")
        )
        axis.legend()
    return save_figure(figure, path)


def plot_pair_differences(
    differences: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike
) -> Path:
    """Left: the EMD of the pairs; right: their relative jet-pT difference ``|pT_alt - pT_nom| /
    pT_nom``; one histogram per pair set (``{name: {"emd": [n], "relative_pt_difference": [n]}}``,
    the ``_arrays`` of :func:`codec_jax.pairing.quality.pair_differences`). Writes a PNG."""
    with hep_style():
        figure, axes = plt.subplots(1, 2, figsize=(11.0, 4.5), layout="constrained")
        for key, axis, label in (
            ("emd", axes[0], "pair EMD [GeV]"),
            ("relative_pt_difference", axes[1], r"$|p_T^{alt} - p_T^{nom}| / p_T^{nom}$"),
        ):
            values = [np.asarray(arrays[key]) for arrays in differences.values() if len(arrays[key])]
            upper = max((float(np.percentile(v, 99)) for v in values), default=1.0) or 1.0
            edges = np.linspace(0.0, upper, 41)
            for name, arrays in differences.items():
                axis.hist(
                    np.clip(arrays[key], 0, upper), bins=edges, histtype="step", density=True, label=name
                )
            axis.set_xlabel(label)
            axis.set_ylabel("pairs (normalised)")
        axes[0].legend()
    return save_figure(figure, path)
