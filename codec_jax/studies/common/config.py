"""Study configs: load a ``configs/<study>.py`` file, apply ``--set`` overrides, write JSON.

A study config is a dataclass (e.g. :class:`codec_jax.studies.mack.MackConfig`) whose fields are
plain values, nested study dataclasses, or engine :class:`codec_jax.config.Config` templates (the
pretraining and classifier runs). Overrides use dotted paths; a path into an engine template is
handed to :func:`codec_jax.config.apply_overrides`, so its type checks apply::

    config = load_study_config("configs/mack.py", preset="smoke")
    config = apply_study_overrides(config, ["seeds=0,1,2", "samples.n_jets=2000",
                                            "pretrain.training.epochs=5", "pairing.cutoff=40", "pairing.cutoff_quantile=none"])

Study values are parsed by :func:`codec_jax.config.parse_value`, the parser of the engine
overrides, against the field's annotation (or, when the annotation cannot be resolved, the type of
its current value): ``int``/``float``/``str``, ``bool`` from ``true/false/1/0/yes/no``, tuples
from comma-separated lists (or JSON lists), dicts from JSON objects, or one entry at a time
(``samples.jetnet.qcd_nominal=q.hdf5``; the value is parsed as JSON, else kept as a string). An
unknown key or a malformed value raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
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


#: A JSON-ready nested dict of a study config (tuples become lists).
study_to_dict = config_lib.to_dict
#: The resolved study config as indented JSON (what a study writes as ``config.json``).
study_to_json = config_lib.to_json


def apply_study_overrides(config: Any, overrides: Iterable[str]) -> Any:
    """Apply ``path.to.field=value`` overrides to a deep copy of ``config`` and return it."""
    config = copy.deepcopy(config)
    for override in overrides:
        key, text = config_lib.split_override(override)
        config = _apply_one(config, key.split("."), key, text)
    return config


def _apply_one(target: Any, parts: list[str], key: str, text: str) -> Any:
    """``target`` with the override ``parts = value`` applied: mutable dataclasses are changed in
    place, frozen ones (value types such as :class:`~codec_jax.emd.EMDSettings`) are rebuilt with
    :func:`dataclasses.replace` (which also re-runs their validation)."""
    name, rest = parts[0], parts[1:]
    fields = {field.name for field in dataclasses.fields(target)}
    if name not in fields:
        raise ConfigError(f"unknown config key {key!r}: {name!r} is not one of {sorted(fields)}")
    value = getattr(target, name)
    if isinstance(value, config_lib.Config):
        if not rest:
            raise ConfigError(
                f"config key {key!r} is a run config: set one of its fields ({key}.training.epochs=...)"
            )
        try:
            new_value = config_lib.apply_overrides(value, [f"{'.'.join(rest)}={text}"])
        except ConfigError as error:
            raise ConfigError(f"override {key!r}: {error}") from None
    elif dataclasses.is_dataclass(value) and rest:
        new_value = _apply_one(value, rest, key, text)
    elif isinstance(value, dict) and rest:
        config_lib.set_entry(value, key, rest, text)
        new_value = value
    elif rest:
        raise ConfigError(f"config key {key!r}: {name!r} has no fields")
    else:
        new_value = config_lib.parse_value(key, text, _annotation(target, name, value))
    if type(target).__dataclass_params__.frozen:
        try:
            return dataclasses.replace(target, **{name: new_value})
        except (ConfigError, ValueError, TypeError) as error:
            raise ConfigError(f"override {key!r}: {error}") from None
    setattr(target, name, new_value)
    return target


def _annotation(target: Any, name: str, current: Any) -> Any:
    """The annotation of field ``name`` of the dataclass ``target``; when it cannot be resolved,
    one built from the type of the field's current value ``current``."""
    try:
        return typing.get_type_hints(type(target))[name]
    except (NameError, TypeError, KeyError):
        pass
    if isinstance(current, tuple):
        return tuple[type(current[0]) if current else str, ...]
    if isinstance(current, dict):
        return dict[str, Any]
    return type(current)
