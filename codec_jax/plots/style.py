"""One HEP style for every codec_jax figure, atomic PNG writes and the shared axis labels.

Every plotting function of the library draws inside :func:`hep_style` and writes its PNG with
:func:`save_figure` (temporary file, then rename), returning the path. Axis labels come from
:data:`AXIS_LABELS` (:func:`axis_label`) so the same quantity is labelled the same way everywhere;
:data:`SAMPLE_COLOURS` / :data:`SAMPLE_LINESTYLES` fix the look of signal and background. The
figures themselves live with what they show: flattening in :mod:`codec_jax.data.plots`, the DDT
map in :mod:`codec_jax.baselines.plots`, pair EMDs in :mod:`codec_jax.pairing.plots`, and each
study's figures in its own package.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from codec_jax.files import atomic_path  # noqa: E402

__all__ = [
    "AXIS_LABELS",
    "SAMPLE_COLOURS",
    "SAMPLE_LINESTYLES",
    "axis_label",
    "hep_style",
    "save_figure",
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
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
    return path


def axis_label(variable: str) -> str:
    """The axis label of a jet-level quantity (:data:`AXIS_LABELS`), or the name itself."""
    return AXIS_LABELS.get(variable, variable)
