"""One HEP style for every codec_jax figure, atomic PNG writes and the shared axis labels.

Every plotting function of the library draws inside :func:`hep_style` and writes its PNG with
:func:`save_figure` (temporary file, then rename), returning the path.

The look is chosen by :class:`PlotSettings` (a study's ``plots`` section, or
:func:`use_plot_settings` around any code): ``style="codec_jax"`` (the default, no extra
package) or an experiment style of mplhep (``"CMS"``, ``"ATLAS"``, ``"ALICE"``, ``"LHCb2"``,
``"ROOT"``; ``pip install 'codec_jax[mplhep]'``), which also puts the experiment label with
``label`` (default "Simulation") on the first axes; ``formats`` adds PDF (or SVG) files beside
every PNG. Axis labels come from
:data:`AXIS_LABELS` (:func:`axis_label`) so the same quantity is labelled the same way everywhere;
:data:`SAMPLE_COLOURS` / :data:`SAMPLE_LINESTYLES` fix the look of signal and background. The
figures themselves live with what they show: flattening in :mod:`codec_jax.data.plots`, the DDT
map in :mod:`codec_jax.baselines.plots`, pair EMDs in :mod:`codec_jax.pairing.plots`, and each
study's figures in its own package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from codec_jax.errors import ConfigError  # noqa: E402
from codec_jax.files import atomic_path  # noqa: E402

__all__ = [
    "PlotSettings",
    "PLOT_STYLES",
    "use_plot_settings",
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


#: ``codec_jax`` (built in) and the mplhep experiment styles offered.
PLOT_STYLES = ("codec_jax", "CMS", "ATLAS", "ALICE", "LHCb2", "ROOT")
_FORMATS = ("png", "pdf", "svg")


@dataclasses.dataclass(frozen=True)
class PlotSettings:
    """How figures look and which files they are written to.

    style: one of :data:`PLOT_STYLES`; label: the text after the experiment name (experiment
    styles only); formats: file formats written for every figure, ``png`` always among them (the
    reports link the PNGs), e.g. ``("png", "pdf")``.
    """

    style: str = "codec_jax"
    label: str = "Simulation"
    formats: tuple[str, ...] = ("png",)

    def __post_init__(self) -> None:
        if self.style not in PLOT_STYLES:
            raise ConfigError(f"plots.style={self.style!r}; expected one of {list(PLOT_STYLES)}")
        formats = tuple(self.formats)
        if "png" not in formats or not set(formats) <= set(_FORMATS):
            raise ConfigError(f"plots.formats={list(formats)}: must include 'png' and only {list(_FORMATS)}")
        object.__setattr__(self, "formats", formats)


_active = [PlotSettings()]


@contextlib.contextmanager
def use_plot_settings(settings: PlotSettings) -> Iterator[None]:
    """Figures made inside get ``settings`` (nested uses restore the outer settings)."""
    if settings.style != "codec_jax":
        _mplhep()  # fail now, not at the first figure
    _active.append(settings)
    try:
        yield
    finally:
        _active.pop()


def _mplhep():
    try:
        import mplhep
    except ImportError:
        raise ImportError(
            f"plots.style={_active[-1].style!r} uses mplhep: pip install 'codec_jax[mplhep]'"
        ) from None
    return mplhep


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """Context in which figures get the active style: codec_jax's own (ticks inside on all
    sides, no legend frame, readable font sizes) or an mplhep experiment style."""
    settings = _active[-1]
    if settings.style == "codec_jax":
        with plt.rc_context(_STYLE):
            yield
        return
    with (
        plt.style.context(getattr(_mplhep().style, settings.style)),
        plt.rc_context({"savefig.bbox": "tight"}),
    ):
        yield


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` as PNG to ``path`` (and beside it in the other active ``formats``, same
    name), each atomically; add the experiment label of an experiment style; close the figure
    and return the PNG's path."""
    path = Path(path)
    settings = _active[-1]
    try:
        if settings.style != "codec_jax" and figure.axes:
            experiment = settings.style.rstrip("0123456789")
            _mplhep().label.exp_label(exp=experiment, text=settings.label, ax=figure.axes[0], com=None)
        for file_format in settings.formats:
            target = path if file_format == "png" else path.with_suffix(f".{file_format}")
            with atomic_path(target) as tmp:
                figure.savefig(tmp, format=file_format)
    finally:
        plt.close(figure)
    return path


def axis_label(variable: str) -> str:
    """The axis label of a jet-level quantity (:data:`AXIS_LABELS`), or the name itself."""
    return AXIS_LABELS.get(variable, variable)
