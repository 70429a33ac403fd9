"""Studies: whole experiments from generated samples to a report (``codec-jax run CONFIG``).

A study config (``configs/<study>.py``, ``get_config(preset=None)``) is a dataclass with a
``study`` field naming its runner in :data:`STUDIES`:

* ``"mack"`` -- :func:`codec_jax.studies.mack.run_mack` (config :class:`~codec_jax.studies.mack.MackConfig`):
  contrastive pretraining on nominal/alternate EMD pairs, fine-tuning levels, robustness.

* ``"codec_tagging"`` -- :func:`codec_jax.studies.codec_tagging.run_codec_tagging`: taggers on
  flat / peaky samples, contrastive latent spaces, MoDe, DisCo, N2 and N2_DDT; mass sculpting.
* ``"codec_regression"`` -- :func:`codec_jax.studies.codec_mass.regression.run_codec_regression`:
  resonance-mass regression from constituents, trained on the flat vs the peaky sample.
* ``"codec_calibration"`` -- :func:`codec_jax.studies.codec_mass.calibration.run_codec_calibration`:
  truth-level correction of the soft-drop mass learned on the flat sample, and its closure.

:func:`run_study` dispatches on that field and :func:`study_digest` gives the plain-text summary
``codec-jax run`` prints, so a new study only adds an entry.
"""

from __future__ import annotations

import importlib
import os
from concurrent.futures import Executor
from typing import Any

from codec_jax.errors import ConfigError
from codec_jax.plots import PlotSettings, use_plot_settings
from codec_jax.studies.common.cached_runs import training_executor
from codec_jax.studies.common.config import apply_study_overrides, load_study_config, study_to_json

__all__ = [
    "STUDIES",
    "run_study",
    "study_digest",
    "load_study_config",
    "apply_study_overrides",
    "study_to_json",
]

#: Study name -> ("module:runner", "module:digest"): ``runner(config, out) -> metrics dict`` runs
#: the study; ``digest(metrics) -> list[str]`` is the plain-text summary ``codec-jax run`` prints.
STUDIES: dict[str, tuple[str, str]] = {
    "mack": ("codec_jax.studies.mack:run_mack", "codec_jax.studies.mack.report:digest"),
    "codec_tagging": (
        "codec_jax.studies.codec_tagging:run_codec_tagging",
        "codec_jax.studies.codec_tagging.report:digest",
    ),
    "codec_regression": (
        "codec_jax.studies.codec_mass.regression:run_codec_regression",
        "codec_jax.studies.codec_mass.report:digest",
    ),
    "codec_calibration": (
        "codec_jax.studies.codec_mass.calibration:run_codec_calibration",
        "codec_jax.studies.codec_mass.report:digest",
    ),
}


def _resolve(target: str) -> Any:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def study_digest(config: Any, metrics: dict[str, Any]) -> list[str]:
    """The plain-text summary of a finished study's ``metrics`` (what ``codec-jax run`` prints)."""
    return _resolve(STUDIES[_study_name(config)][1])(metrics)


def _study_name(config: Any) -> str:
    name = getattr(config, "study", None)
    if name not in STUDIES:
        raise ConfigError(
            f"the config ({type(config).__name__}) names study {name!r}; codec-jax run knows {sorted(STUDIES)} "
            "(engine configs run with codec-jax pretrain / finetune)"
        )
    return name


def run_study(
    config: Any, out: str | os.PathLike, *, executor: Executor | None = None
) -> dict[str, Any] | None:
    """Run the study described by ``config`` (its ``study`` field picks the runner) into ``out``.

    Args:
        executor: where the study's trainings run (a Dask client's executor, a process pool, ...):
            each training in a worker process, its run directory under ``out`` (which must be on a
            filesystem the workers share), independent trainings concurrently; None trains them
            one after another in this process. The metrics are the same either way.

    Returns:
        The metrics (``out/metrics.json``); None on the processes other than 0 of a multi-host
        run (``jax.distributed``), where process 0 alone writes the study directory.

    Raises:
        ConfigError: the config has no ``study`` field or names an unknown study.
    """
    runner = _resolve(STUDIES[_study_name(config)][0])
    with use_plot_settings(getattr(config, "plots", PlotSettings())), training_executor(executor):
        return runner(config, out)
