"""The MACK study (arXiv 2410.13947): contrastive pretraining on (nominal, alternate) EMD pairs,
fine-tuning levels, and robustness to an alternate shower.

* :mod:`.study` -- the config and the runner (:func:`run_mack`); its ``pairing`` section is
  :class:`codec_jax.pairing.PairingConfig` (re-exported here);
* :mod:`.samples` -- the four nominal/alternate samples, generated or read from JetNet files;
* :mod:`.report` -- ``metrics.json``, ``report.md`` and the plots; :mod:`.plots` -- the figures;
* :mod:`.compare` -- finished study variants side by side.
"""

from codec_jax.pairing import PairingConfig
from codec_jax.studies.mack.samples import SAMPLE_NAMES, SamplesConfig
from codec_jax.studies.mack.study import (
    PRETRAININGS,
    SUPERVISED,
    MackConfig,
    final_variance_term,
    model_names,
    run_mack,
    variance_term_history,
)

__all__ = [
    "PRETRAININGS",
    "SAMPLE_NAMES",
    "SUPERVISED",
    "MackConfig",
    "PairingConfig",
    "SamplesConfig",
    "final_variance_term",
    "model_names",
    "run_mack",
    "variance_term_history",
]
