"""The EMD distribution of a positive-pair search, as a PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from codec_jax.pairing import PairSet
from codec_jax.plots import hep_style, save_figure

__all__ = ["plot_pair_emd"]


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
