"""The HEP style shared by every figure of codec_jax (see :mod:`codec_jax.plots.style`)."""

from codec_jax.plots.style import (
    AXIS_LABELS,
    PLOT_STYLES,
    SAMPLE_COLOURS,
    SAMPLE_LINESTYLES,
    PlotSettings,
    axis_label,
    hep_style,
    save_figure,
    use_plot_settings,
)

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
