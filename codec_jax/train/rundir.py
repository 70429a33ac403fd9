"""Run directories: refuse to overwrite a run, check the config on resume, write ``config.json``.

A run directory holds ``config.json`` (the resolved config), ``metrics.jsonl`` (written by the
driver) and ``checkpoints/`` (written by :class:`codec_jax.checkpoint.Checkpointer`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from codec_jax import config as config_lib
from codec_jax.checkpoint import CHECKPOINT_SUBDIR
from codec_jax.errors import ConfigError
from codec_jax.files import atomic_path, refuse_overwriting_inputs

__all__ = ["CONFIG_FILE", "check_run_dir", "write_config"]

CONFIG_FILE = "config.json"


def _changed_keys(saved: dict, current: dict) -> list[str]:
    """Dotted names of the fields whose values differ between two ``to_dict`` outputs."""
    changed = []
    for section, values in current.items():
        if not isinstance(values, dict):
            if saved.get(section) != values:
                changed.append(section)
            continue
        changed += [f"{section}.{key}" for key in values if saved.get(section, {}).get(key) != values[key]]
    return sorted(changed)


def check_run_dir(out: str | os.PathLike, config: config_lib.Config, resume: bool) -> Path:
    """The run directory ``out``, after checking that it may be used.

    Raises:
        ConfigError: ``out`` is, or contains, one of the run's input files; not resuming and
            ``out`` already holds a run; resuming and ``out`` has no ``config.json``, or its config
            differs from ``config`` (the differing keys are named; a field the saved config lacks
            counts as its default, :func:`codec_jax.config.with_added_defaults`).
    """
    data = config.data
    inputs = [*data.train, *data.validation, *data.alternate, *([data.pairs] if data.pairs else [])]
    refuse_overwriting_inputs(inputs, directories=[out])
    run_dir = Path(out)
    config_path = run_dir / CONFIG_FILE
    if not resume:
        if (run_dir / CHECKPOINT_SUBDIR).exists() or config_path.exists():
            raise ConfigError(
                f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out"
            )
        return run_dir
    if not config_path.is_file():
        raise ConfigError(f"cannot resume: {config_path} does not exist (was {run_dir} written by a run?)")
    saved = config_lib.with_added_defaults(json.loads(config_path.read_text()), config)
    current = json.loads(config_lib.to_json(config))
    if saved != current:
        changed = _changed_keys(saved, current)
        raise ConfigError(f"cannot resume {run_dir}: the config differs from its config.json in {changed}")
    return run_dir


def write_config(run_dir: Path, config: config_lib.Config) -> None:
    """Write ``RUN_DIR/config.json`` atomically (temporary file, then rename)."""
    with atomic_path(run_dir / CONFIG_FILE) as tmp:
        tmp.write_text(config_lib.to_json(config) + "\n")
