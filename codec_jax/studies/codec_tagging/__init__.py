"""The CoDec tagging study: Z' vs QCD taggers, their power and how much they sculpt the QCD
jet-mass spectrum.

* :mod:`.config` -- the config, the models (:data:`MODELS`, the penalty scans) and its checks;
* :mod:`.study` -- the runner (:func:`run_codec_tagging`); :mod:`.observables` -- N2, N2_DDT;
* :mod:`.evaluation` -- per-model metrics on the test and sculpting jets (AUC, R_x, 1/JSD,
  excess JSD, spectra, latent);
* :mod:`.analysis` -- measurements with errors (paired bootstrap + seeds) and the claims;
* :mod:`.report` -- ``metrics.json``, ``report.md``; :mod:`.plots` -- the figures.
"""

from codec_jax.studies.codec_tagging.config import (
    MODELS,
    POSITIVES,
    ClaimsConfig,
    CodecTaggingConfig,
    PenaltyScanConfig,
    TaggerSpec,
    mass_bin_edges,
    model_spec,
    scan_model_name,
)
from codec_jax.studies.codec_tagging.study import run_codec_tagging

__all__ = [
    "MODELS",
    "POSITIVES",
    "ClaimsConfig",
    "CodecTaggingConfig",
    "PenaltyScanConfig",
    "TaggerSpec",
    "mass_bin_edges",
    "model_spec",
    "run_codec_tagging",
    "scan_model_name",
]
