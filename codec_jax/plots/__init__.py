"""The HEP style shared by every figure of codec_jax (see :mod:`codec_jax.plots.style`)."""

from codec_jax.plots.style import (
    AXIS_LABELS,
    SAMPLE_COLOURS,
    SAMPLE_LINESTYLES,
    axis_label,
    hep_style,
    save_figure,
)

__all__ = ["AXIS_LABELS", "SAMPLE_COLOURS", "SAMPLE_LINESTYLES", "axis_label", "hep_style", "save_figure"]
