"""Study configs: load a ``configs/<study>.py`` file, apply ``--set`` overrides, write JSON.

A study config is a dataclass (e.g. :class:`codec_jax.studies.mack.MackConfig`) whose fields are
plain values, nested study dataclasses, or engine :class:`codec_jax.config.Config` templates (the
pretraining and classifier runs). Overrides use dotted paths; a path into an engine template is
handed to :func:`codec_jax.config.apply_overrides`, so its type checks apply::

    config = load_study_config("configs/mack.py", preset="smoke")
    config = apply_study_overrides(config, ["seeds=0,1,2", "samples.n_jets=2000",
                                            "pretrain.training.epochs=5", "pairing.cutoff=40"])

Study values are parsed by the type of the field's current value: ``int``/``float``/``str``,
``bool`` from ``true/false/1/0/yes/no``, tuples from comma-separated lists (or JSON lists), dicts
from JSON objects, or one entry at a time (``samples.jetnet.qcd_nominal=q.hdf5``; the value is
parsed as JSON, else kept as a string). An unknown key or a malformed value raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codec_jax import config as config_lib
from codec_jax.errors import ConfigError

__all__ = ["load_study_config", "apply_study_overrides", "study_to_dict", "study_to_json"]


def load_study_config(path: str | Path, preset: str | None = None) -> Any:
    """Execute the Python file ``path`` and return ``get_config(preset)`` (a study dataclass or an
    engine :class:`~codec_jax.config.Config`).

    Raises:
        ConfigError: the file is missing, fails to execute, lacks ``get_config``, or returns
            something that is not a dataclass instance.
    """
    config = config_lib.execute_config_file(path, preset)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(
            f"get_config in {path} returned {type(config).__name__}, expected a config dataclass"
        )
    return config


def study_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a study config (tuples become lists)."""
    return dataclasses.asdict(config)


def study_to_json(config: Any) -> str:
    """The resolved study config as indented JSON (what a study writes as ``config.json``)."""
    return json.dumps(study_to_dict(config), indent=2, sort_keys=True)


def apply_study_overrides(config: Any, overrides: Iterable[str]) -> Any:
    """Apply ``path.to.field=value`` overrides to a deep copy of ``config`` and return it."""
    config = copy.deepcopy(config)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {override!r} must look like section.field=value")
        _apply_one(config, key.split("."), key, text)
    return config


def _apply_one(target: Any, parts: list[str], key: str, text: str) -> None:
    for depth, name in enumerate(parts):
        fields = {field.name for field in dataclasses.fields(target)}
        if name not in fields:
            raise ConfigError(f"unknown config key {key!r}: {name!r} is not one of {sorted(fields)}")
        value = getattr(target, name)
        rest = parts[depth + 1 :]
        if isinstance(value, config_lib.Config):
            if not rest:
                raise ConfigError(
                    f"config key {key!r} is a run config: set one of its fields ({key}.training.epochs=...)"
                )
            try:
                setattr(target, name, config_lib.apply_overrides(value, [f"{'.'.join(rest)}={text}"]))
            except ConfigError as error:
                raise ConfigError(f"override {key!r}: {error}") from None
            return
        if dataclasses.is_dataclass(value) and rest:
            target = value
            continue
        if isinstance(value, dict) and len(rest) == 1:
            value[rest[0]] = _json(key, text) if text.strip()[:1] in "[{" else _scalar(text)
            return
        if rest:
            raise ConfigError(f"config key {key!r}: {name!r} has no fields")
        setattr(target, name, _parse(key, text, value))
        return


def _parse(key: str, text: str, current: Any) -> Any:
    """Parse ``text`` to the type of ``current`` (the field's present value)."""
    text = text.strip()
    if isinstance(current, bool):
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"config key {key!r} expects a bool (true/false), got {text!r}")
    try:
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"config key {key!r} expects a {type(current).__name__}, got {text!r}") from None
    if isinstance(current, str):
        return text
    if isinstance(current, tuple):
        items = (
            _json(key, text)
            if text.startswith("[")
            else [item.strip() for item in text.split(",") if item.strip()]
        )
        if current and not isinstance(current[0], str):
            return tuple(_parse(f"{key}[{i}]", str(item), current[0]) for i, item in enumerate(items))
        return tuple(str(item) for item in items)
    if isinstance(current, dict):
        value = _json(key, text)
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a JSON object, got {text!r}")
        return value
    raise ConfigError(f"config key {key!r} has a value of unsupported type {type(current).__name__}")


def _scalar(text: str) -> Any:
    """A dict entry: a JSON number/bool/null/string if it parses, else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"config key {key!r}: {text!r} is not valid JSON") from None
