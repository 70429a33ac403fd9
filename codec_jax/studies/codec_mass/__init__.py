"""The CoDec mass studies, trained on the flat vs the peaky sample.

* :mod:`.regression` -- resonance-mass regression from constituents (:func:`run_codec_regression`);
* :mod:`.calibration` -- truth-level correction of the soft-drop mass (:func:`run_codec_calibration`);
* :mod:`.sets` -- their training and test sets; :mod:`.study` -- the steps both share;
* :mod:`.report` -- response, resolution and closure per truth-mass bin; :mod:`.plots` -- figures.
"""

from codec_jax.studies.codec_mass.calibration import CodecCalibrationConfig, run_codec_calibration
from codec_jax.studies.codec_mass.regression import CodecRegressionConfig, run_codec_regression

__all__ = ["CodecCalibrationConfig", "CodecRegressionConfig", "run_codec_calibration", "run_codec_regression"]
