"""Figure of the DDT baseline: the N2 percentile map X_q(rho, pT), HEP style."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from codec_jax.plots import AXIS_LABELS, axis_label, hep_style, save_figure

__all__ = ["plot_ddt_map"]


def plot_ddt_map(ddt_map, path: str | os.PathLike) -> Path:
    """The smoothed N2 percentile map ``X_q(rho, pT)`` of a :class:`~codec_jax.baselines.ddt.DDTMap`."""
    with hep_style():
        figure, axis = plt.subplots()
        mesh = axis.pcolormesh(
            ddt_map.rho_edges, ddt_map.pt_edges, ddt_map.values.T, cmap="viridis", shading="flat"
        )
        colourbar = figure.colorbar(mesh, ax=axis)
        colourbar.set_label(f"{ddt_map.quantile:.0%} quantile of " + AXIS_LABELS["n2"] + " in QCD")
        axis.set_xlabel(axis_label("rho"))
        axis.set_ylabel(axis_label("pt"))
        axis.minorticks_off()
        return save_figure(figure, path)
