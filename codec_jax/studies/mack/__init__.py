"""The MACK study (arXiv 2410.13947): contrastive pretraining on (nominal, alternate) pairs,
fine-tuning levels, and robustness to an alternate shower, measured against controls of equal
tagging power.

* :mod:`.config` -- the config (:class:`MackConfig`), pretraining variants, controls, measurement;
* :mod:`.study` -- the runner (:func:`run_mack`);
* :mod:`.samples` -- the four nominal/alternate samples: generated, same-hard-event, or JetNet;
* :mod:`.controls` -- taggers without a robustness mechanism and the robustness-power frontier;
* :mod:`.analysis` -- the measurement with errors (paired bootstrap + seeds) and the claims;
* :mod:`.report` -- ``metrics.json``, ``report.md`` and the plots; :mod:`.plots` -- the figures;
* :mod:`.compare` -- finished study variants side by side.
"""

from codec_jax.pairing import PairingConfig
from codec_jax.studies.mack.config import (
    PRETRAININGS,
    SUPERVISED,
    ControlsConfig,
    MackConfig,
    MeasurementConfig,
    control_names,
    mack_model_names,
    model_names,
)
from codec_jax.studies.mack.samples import SAMPLE_NAMES, SamplesConfig
from codec_jax.studies.mack.study import final_variance_term, run_mack, variance_term_history

__all__ = [
    "PRETRAININGS",
    "SAMPLE_NAMES",
    "SUPERVISED",
    "ControlsConfig",
    "MackConfig",
    "MeasurementConfig",
    "PairingConfig",
    "SamplesConfig",
    "control_names",
    "final_variance_term",
    "mack_model_names",
    "model_names",
    "run_mack",
    "variance_term_history",
]
