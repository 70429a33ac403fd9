"""Studies: whole experiments from generated samples to a report (``codec-jax run CONFIG``).

A study config (``configs/<study>.py``, ``get_config(preset=None)``) is a dataclass with a
``study`` field naming its runner in :data:`STUDIES`:

* ``"mack"`` -- :func:`codec_jax.studies.mack.run_mack` (config :class:`~codec_jax.studies.mack.MackConfig`):
  contrastive pretraining on nominal/alternate EMD pairs, fine-tuning levels, robustness.

* ``"codec_tagging"`` -- :func:`codec_jax.studies.codec_tagging.run_codec_tagging`: taggers on
  flat / peaky samples, contrastive latent spaces, MoDe, DisCo, N2 and N2_DDT; mass sculpting.
* ``"codec_regression"`` -- :func:`codec_jax.studies.codec_regression.run_codec_regression`:
  resonance-mass regression from constituents, trained on the flat vs the peaky sample.
* ``"codec_calibration"`` -- :func:`codec_jax.studies.codec_calibration.run_codec_calibration`:
  truth-level correction of the soft-drop mass learned on the flat sample, and its closure.

:func:`run_study` dispatches on that field, so a new study only adds an entry.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from codec_jax.errors import ConfigError
from codec_jax.studies.config import apply_study_overrides, load_study_config, study_to_json

__all__ = ["STUDIES", "run_study", "load_study_config", "apply_study_overrides", "study_to_json"]

#: Study name -> "module:function" of its runner ``runner(config, out) -> metrics dict``.
STUDIES: dict[str, str] = {
    "mack": "codec_jax.studies.mack:run_mack",
    "codec_tagging": "codec_jax.studies.codec_tagging:run_codec_tagging",
    "codec_regression": "codec_jax.studies.codec_regression:run_codec_regression",
    "codec_calibration": "codec_jax.studies.codec_calibration:run_codec_calibration",
}


def run_study(config: Any, out: str | os.PathLike) -> dict[str, Any]:
    """Run the study described by ``config`` (its ``study`` field picks the runner) into ``out``.

    Raises:
        ConfigError: the config has no ``study`` field or names an unknown study.
    """
    name = getattr(config, "study", None)
    if name not in STUDIES:
        raise ConfigError(
            f"the config ({type(config).__name__}) names study {name!r}; codec-jax run knows {sorted(STUDIES)} "
            "(engine configs run with codec-jax pretrain / finetune)"
        )
    module_name, function_name = STUDIES[name].split(":")
    runner = getattr(importlib.import_module(module_name), function_name)
    return runner(config, out)
