"""Experiment tracking: where a run's per-epoch metrics go besides ``metrics.jsonl``.

``training.loggers`` names them:

* ``"jsonl"`` -- ``RUN/metrics.jsonl``, one JSON line per epoch. Always written (``--resume``
  and the studies read it), so naming it is optional;
* ``"tensorboard"`` -- TensorBoard event files in ``RUN/tensorboard/`` through tensorboardX (no
  TensorFlow needed): every numeric entry of the epoch record as a scalar at step = epoch, and the
  resolved config as text and as hyperparameters (``tensorboard --logdir RUN``). On ``--resume``
  events after the restored epoch are purged;
* ``"wandb"`` -- Weights & Biases, run name = the config's ``name``, the config as the run's
  config, files under ``RUN/wandb/``; a resumed run continues the same W&B run (its id is kept in
  ``RUN/wandb_id.txt``). ``WANDB_MODE=offline`` logs without a network (then ``wandb sync``).

Only process 0 of a multi-process run logs. Optional dependencies: ``pip install
'codec_jax[tracking]'`` (tensorboardX, wandb).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import jax

from codec_jax.errors import ConfigError

__all__ = ["LOGGERS", "Tracker", "check_loggers", "open_trackers", "flat_hyperparameters"]

LOGGERS = ("jsonl", "tensorboard", "wandb")


class Tracker(Protocol):
    """Receives every epoch's record (``{"epoch": ..., "train/loss": ..., ...}``)."""

    def log(self, epoch: int, record: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def check_loggers(loggers: Sequence[str]) -> None:
    """Raise :class:`ConfigError` for an unknown name in ``training.loggers``."""
    unknown = sorted(set(loggers) - set(LOGGERS))
    if unknown:
        raise ConfigError(f"training.loggers: unknown {unknown}; expected names from {list(LOGGERS)}")


def flat_hyperparameters(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer.learning_rate": 0.001, ...}``: the scalar leaves of a config dict; lists and
    dicts of other shapes become their JSON text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hyperparameters(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value)
    return flat


def _numeric(record: Mapping[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in record.items()
        if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class _TensorBoard:
    def __init__(self, run_dir: Path, config: Mapping[str, Any], first_epoch: int) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError(
                "training.loggers has 'tensorboard', which needs tensorboardX: pip install 'codec_jax[tracking]'"
            ) from None
        self.writer = SummaryWriter(logdir=str(run_dir / "tensorboard"), purge_step=first_epoch)
        if first_epoch == 1:
            self.writer.add_text("config", f"```\n{json.dumps(config, indent=2)}\n```", 0)
            self.writer.add_hparams(flat_hyperparameters(config), {}, name=".", global_step=0)

    def log(self, epoch: int, record: Mapping[str, Any]) -> None:
        for key, value in _numeric(record).items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _Wandb:
    def __init__(self, run_dir: Path, config: Mapping[str, Any], first_epoch: int) -> None:
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "training.loggers has 'wandb', which needs wandb: pip install 'codec_jax[tracking]'"
            ) from None
        id_file = run_dir / "wandb_id.txt"
        resuming = id_file.is_file() and first_epoch > 1
        run_id = id_file.read_text().strip() if resuming else secrets.token_hex(4)
        id_file.write_text(run_id)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "codec_jax"),
            name=str(config.get("name", run_dir.name)),
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=dict(config),
            reinit="finish_previous",
        )

    def log(self, epoch: int, record: Mapping[str, Any]) -> None:
        self.run.log({**_numeric(record), "epoch": epoch}, step=epoch)

    def close(self) -> None:
        self.run.finish()


_TRACKERS: dict[str, Callable[[Path, Mapping[str, Any], int], Tracker]] = {
    "tensorboard": _TensorBoard,
    "wandb": _Wandb,
}


def open_trackers(
    loggers: Sequence[str], run_dir: Path, config: Mapping[str, Any], first_epoch: int
) -> list[Tracker]:
    """The trackers named in ``loggers`` (``"jsonl"`` needs none: the training loop writes it),
    opened for a run starting at ``first_epoch`` (> 1 when resuming); none on processes other
    than 0."""
    check_loggers(loggers)
    if jax.process_index() != 0:
        return []
    return [_TRACKERS[name](run_dir, config, first_epoch) for name in loggers if name in _TRACKERS]
