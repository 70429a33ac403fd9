"""The CoDec tagging study: Z' vs QCD taggers, their power and how much they sculpt the QCD
jet-mass spectrum.

* :mod:`.study` -- the config, the models and the runner (:func:`run_codec_tagging`);
* :mod:`.evaluation` -- per-model metrics on the test set (AUC, R_x, 1/JSD, spectra, latent);
* :mod:`.report` -- ``metrics.json``, ``report.md``, claims; :mod:`.plots` -- the figures.
"""

from codec_jax.studies.codec_tagging.study import (
    MODELS,
    POSITIVES,
    CodecTaggingConfig,
    TaggerSpec,
    mass_bin_edges,
    run_codec_tagging,
)

__all__ = ["MODELS", "POSITIVES", "CodecTaggingConfig", "TaggerSpec", "mass_bin_edges", "run_codec_tagging"]
