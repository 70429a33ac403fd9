"""Typed run configuration: dataclasses, loading ``configs/*.py`` files, dotted CLI overrides.

A config file is a Python file that defines ``get_config(preset=None) -> Config``; presets (e.g.
``"smoke"``) are plain ``if`` branches inside it. Every run writes its resolved config as
``config.json`` in its run directory (:func:`to_json`), and :func:`from_dict` reads it back with
the same type checks as the overrides.

Overrides use dotted paths and are type-checked against the dataclass annotations::

    config = load_config("configs/example_pretrain.py", preset="smoke")
    config = apply_overrides(config, ["training.epochs=3", "optimizer.name=lars",
                                      "model.encoder_kwargs.hidden=32", "data.train=a.root,b.root"])

Values are parsed by the field's type (:func:`parse_value`): ``int``/``float``/``str``; ``bool``
from ``true/false/1/0/yes/no/on/off``; tuples from comma-separated lists (or JSON lists); dicts
from JSON objects, or one entry at a time via ``section.field.key=value`` (:func:`set_entry`: the
value is parsed as JSON, else kept as a string); ``X | None`` from ``none``/``null`` or an ``X``.
Unknown sections, fields or malformed values raise :class:`ConfigError` naming the key. The study
configs (:mod:`codec_jax.studies.common.config`) parse their overrides with the same functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codec_jax.errors import ConfigError

__all__ = [
    "execute_config_file",
    "ModelConfig",
    "DataConfig",
    "LossConfig",
    "OptimizerConfig",
    "TrainingConfig",
    "FinetuneConfig",
    "Config",
    "load_config",
    "apply_overrides",
    "split_override",
    "parse_value",
    "set_entry",
    "from_dict",
    "to_dict",
    "to_json",
    "check_values",
    "StrictFields",
]


class StrictFields:
    """Base of every config dataclass: assigning an attribute that is not a field raises
    :class:`ConfigError` (a typo such as ``config.training.epochz = 3`` in a config file would
    otherwise be accepted and ignored)."""

    def __setattr__(self, name: str, value: Any) -> None:
        fields = getattr(type(self), "__dataclass_fields__", {})
        if name not in fields:
            raise ConfigError(f"{type(self).__name__} has no field {name!r}; fields: {sorted(fields)}")
        object.__setattr__(self, name, value)


@dataclasses.dataclass
class ModelConfig(StrictFields):
    """Network (see :func:`codec_jax.models.build_model`).

    encoder: architecture name; encoder_kwargs: its keyword arguments; projector_dims: widths of
    the contrastive projector (the last is the latent size); head_dims: hidden widths of the
    classifier/regression head; n_outputs: head outputs (1 for a binary tagger or a mass).
    """

    encoder: str = "deepsets"
    encoder_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    projector_dims: tuple[int, ...] = (64, 64)
    head_dims: tuple[int, ...] = (64, 32)
    n_outputs: int = 1


@dataclasses.dataclass
class DataConfig(StrictFields):
    """Input files and how they become batches.

    train: ROOT files of the (nominal) training sample; validation: ROOT files for validation, or
    empty to split ``validation_fraction`` of ``train`` off (a fixed, seeded split);
    alternate: ROOT files of the alternate (e.g. other shower) sample, and pairs: the pair file
    from ``codec-jax pair`` -- both set means pretraining views are (nominal, alternate) pairs;
    max_particles: particles per jet after padding/truncation; inputs: ``"particles"``
    (relative constituents ``pt_rel, eta_rel, phi_rel``) or ``"jets"`` (jet-level fields listed
    in ``jet_features``); mass_field: the jet field used as mass by decorrelation penalties;
    target: ``"label"`` for tagging or a jet field (``"truth_mass"``, ``"mass"``) for regression;
    background_only: keep only background jets (label 0) for pretraining.
    """

    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    validation_fraction: float = 0.2
    alternate: tuple[str, ...] = ()
    pairs: str = ""
    max_particles: int = 30
    inputs: str = "particles"
    jet_features: tuple[str, ...] = ("msd", "pt", "n2", "tau21")
    mass_field: str = "msd"
    target: str = "label"
    background_only: bool = False


@dataclasses.dataclass
class LossConfig(StrictFields):
    """Training objective.

    name: ``vicreg``, ``barlow_twins`` or ``ntxent`` (pretraining); ``bce`` or
    ``mass_regression`` (supervised / fine-tuning); kwargs: its keyword arguments (e.g.
    ``{"sim_weight": 25.0}``); augmentations: names for :func:`codec_jax.augment.build_augmentation`
    applied to both views (pretraining), with augmentation_kwargs; decorrelation: ``none``,
    ``disco``, ``mode`` or another penalty of the loss registry (kind ``"penalty"``) -- a penalty
    on background jets added with decorrelation_weight; decorrelation_kwargs: its keyword
    arguments (e.g. ``{"order": 0}`` for MoDe); alignment: ``none`` or a distribution-alignment
    term of the loss registry (kind ``"alignment"``, e.g. ``sinkhorn``) between the embeddings of
    nominal jets and of jets from ``data.alternate`` (docs/ot.md), added with alignment_weight;
    alignment_kwargs: its keyword arguments. kwargs, decorrelation_kwargs and alignment_kwargs are
    checked against the function's signature (:func:`codec_jax.losses.configured_loss`).
    """

    name: str = "vicreg"
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    augmentations: tuple[str, ...] = ()
    augmentation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    decorrelation: str = "none"
    decorrelation_weight: float = 0.0
    decorrelation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    alignment: str = "none"
    alignment_weight: float = 0.0
    alignment_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimizerConfig(StrictFields):
    """Optimizer and learning-rate schedule (see :mod:`codec_jax.train.optim`).

    name: ``adam`` (AdamW when weight_decay > 0), ``sgd`` or ``lars``; learning_rate: the peak
    rate; warmup_epochs: linear warm-up from 0 (may be fractional); end_fraction: the cosine decay
    ends at ``end_fraction * learning_rate`` after the last epoch; schedule: ``warmup_cosine`` or
    ``constant``; momentum: for sgd/lars; weight_decay; clip_norm: global gradient-norm clipping
    (0 = off).
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "warmup_cosine"
    warmup_epochs: float = 0.0
    end_fraction: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    clip_norm: float = 0.0


@dataclasses.dataclass
class TrainingConfig(StrictFields):
    """The driver: epochs, batch size (global, over all devices), seed, early-stopping patience
    (epochs without a validation-loss improvement larger than min_delta; 0 = off), how many
    checkpoints to keep, whether to show a progress bar, the number of devices to use
    (0 = all), and where the per-epoch metrics are logged (loggers: ``jsonl`` -- always --,
    ``tensorboard``, ``wandb``; :mod:`codec_jax.train.tracking`)."""

    epochs: int = 10
    batch_size: int = 256
    seed: int = 0
    patience: int = 10
    min_delta: float = 0.0
    keep_checkpoints: int = 2
    progress: bool = True
    devices: int = 0
    loggers: tuple[str, ...] = ("jsonl",)


@dataclasses.dataclass
class FinetuneConfig(StrictFields):
    """Fine-tuning level of the pretrained encoder: ``frozen`` (never updated), ``epochs:N``
    (updated during the first N epochs, frozen afterwards) or ``full`` (always updated)."""

    level: str = "full"


@dataclasses.dataclass
class Config(StrictFields):
    """One run. ``name`` labels it in logs and reports."""

    name: str = "run"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    finetune: FinetuneConfig = dataclasses.field(default_factory=FinetuneConfig)


# --------------------------------------------------------------------------- value ranges
#: (section.field, test, what is expected) for every numeric field with a limited range.
_RANGES: tuple[tuple[str, Any, str], ...] = (
    ("model.n_outputs", lambda v: v >= 1, ">= 1"),
    ("data.validation_fraction", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    ("data.max_particles", lambda v: v >= 1, ">= 1"),
    ("loss.decorrelation_weight", lambda v: v >= 0.0, ">= 0"),
    ("loss.alignment_weight", lambda v: v >= 0.0, ">= 0"),
    (
        "optimizer.learning_rate",
        lambda v: v >= 0.0,
        ">= 0 (0: the parameters never change, e.g. the random-encoder control)",
    ),
    ("optimizer.warmup_epochs", lambda v: v >= 0.0, ">= 0"),
    ("optimizer.end_fraction", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("optimizer.momentum", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    ("optimizer.weight_decay", lambda v: v >= 0.0, ">= 0"),
    ("optimizer.clip_norm", lambda v: v >= 0.0, ">= 0 (0 = no clipping)"),
    ("training.epochs", lambda v: v >= 1, ">= 1"),
    ("training.batch_size", lambda v: v >= 1, ">= 1"),
    ("training.seed", lambda v: v >= 0, ">= 0"),
    ("training.patience", lambda v: v >= 0, ">= 0 (0 = no early stopping)"),
    ("training.min_delta", lambda v: v >= 0.0, ">= 0"),
    ("training.keep_checkpoints", lambda v: v >= 1, ">= 1"),
    ("training.devices", lambda v: v >= 0, ">= 0 (0 = all)"),
)


def check_values(config: Config) -> Config:
    """Check the numeric fields of an engine config against their ranges (:data:`_RANGES`).

    Returns ``config``. Raises:
        ConfigError: the first field out of range, named with its value and the expected range.
    """
    for key, test, expected in _RANGES:
        section, field = key.split(".")
        value = getattr(getattr(config, section), field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not test(value):
            raise ConfigError(f"{key}={value!r} is out of range: expected {expected}")
    return config


# --------------------------------------------------------------------------- loading
def execute_config_file(path: str | Path, preset: str | None = None) -> Any:
    """Execute the Python file ``path`` and return whatever its ``get_config(preset)`` returns.

    Shared by :func:`load_config` (engine configs) and the study loader, which check the type.

    Raises:
        ConfigError: the file is missing, fails to execute, or does not define ``get_config``.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"config file {path} {what}")
    spec = importlib.util.spec_from_file_location(f"codec_jax_config_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"config file {path} is not a Python file (expected configs/NAME.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"config file {path} failed to execute: {type(error).__name__}: {error}") from error
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"config file {path} must define get_config(preset=None)")
    try:
        return get_config(preset)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(
            f"config file {path}: get_config(preset={preset!r}) failed: {type(error).__name__}: {error}"
        ) from error


def load_config(path: str | Path, preset: str | None = None) -> Config:
    """Execute the Python file ``path`` and return ``get_config(preset)``.

    Raises:
        ConfigError: the file is missing, does not define ``get_config``, or does not return a
            :class:`Config`.
    """
    config = execute_config_file(path, preset)
    if not isinstance(config, Config):
        raise ConfigError(
            f"get_config in {path} returned {type(config).__name__}, expected codec_jax.config.Config"
        )
    return config


# --------------------------------------------------------------------------- (de)serialisation
def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config dataclass, engine or study (tuples become lists)."""
    return dataclasses.asdict(config)


def with_added_defaults(saved: Mapping[str, Any], like: Any) -> dict[str, Any]:
    """``saved`` (a config.json of an earlier version) with every field that ``like``'s dataclass
    has and ``saved`` lacks filled in with that field's class default, recursively.

    The compatibility rule for config files: a field added to the library after a run was written
    reads as its default, so the run still matches a config that leaves the new field at its
    default (and differs from one that sets it). ``like`` is a config dataclass instance (engine or
    study) giving the field structure; values present in ``saved`` are kept as they are.
    """
    filled = dict(saved)
    for field in dataclasses.fields(like):
        current = getattr(like, field.name)
        if field.name not in filled:
            if field.default is not dataclasses.MISSING:
                default = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                continue
            filled[field.name] = json.loads(json.dumps(_plain(default)))
        elif dataclasses.is_dataclass(current) and isinstance(filled[field.name], Mapping):
            filled[field.name] = with_added_defaults(filled[field.name], current)
    return filled


def _plain(value: Any) -> Any:
    return to_dict(value) if dataclasses.is_dataclass(value) else value


def same_config(saved: Mapping[str, Any], config: Any) -> bool:
    """Whether the JSON dict ``saved`` describes ``config``, under the rule of
    :func:`with_added_defaults`."""
    return with_added_defaults(saved, config) == json.loads(to_json(config))


def to_json(config: Any) -> str:
    """The resolved config as indented JSON (what runs and studies write as ``config.json``)."""
    return json.dumps(to_dict(config), indent=2, sort_keys=True)


def from_dict(values: Mapping[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :func:`to_dict` output, type-checking every field.

    Missing fields keep their defaults; unknown ones raise :class:`ConfigError`.
    """
    config = Config()
    for section_name, section_values in values.items():
        if section_name == "name":
            config.name = _coerce("name", section_values, str)
            continue
        section = _section(config, section_name)
        if not isinstance(section_values, Mapping):
            raise ConfigError(f"config section {section_name!r} must be a mapping, got {section_values!r}")
        hints = typing.get_type_hints(type(section))
        for field, value in section_values.items():
            if field not in hints:
                raise ConfigError(_unknown(f"{section_name}.{field}", hints))
            setattr(section, field, _coerce(f"{section_name}.{field}", value, hints[field]))
    return config


# --------------------------------------------------------------------------- overrides
def apply_overrides(config: Config, overrides: Iterable[str]) -> Config:
    """Apply ``section.field=value`` overrides to a deep copy of ``config`` and return it."""
    config = _copy(config)
    for override in overrides:
        key, text = split_override(override)
        parts = key.split(".")
        if parts == ["name"]:
            config.name = text
            continue
        if len(parts) < 2:
            raise ConfigError(f"override key {key!r} must be section.field (e.g. training.epochs)")
        section = _section(config, parts[0])
        hints = typing.get_type_hints(type(section))
        field = parts[1]
        if field not in hints:
            raise ConfigError(_unknown(f"{parts[0]}.{field}", hints))
        if len(parts) == 2:
            setattr(section, field, parse_value(key, text, hints[field]))
        elif typing.get_origin(hints[field]) is dict:
            set_entry(getattr(section, field), key, parts[2:], text)
        else:
            raise ConfigError(
                f"override key {key!r}: {parts[0]}.{field} is not a mapping, use {parts[0]}.{field}=value"
            )
    return config


def split_override(override: str) -> tuple[str, str]:
    """``"path.to.field=value"`` -> ``("path.to.field", "value")``; raises :class:`ConfigError`
    when there is no ``=`` or no key."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {override!r} must look like section.field=value")
    return key, text


def set_entry(mapping: dict, key: str, names: Sequence[str], text: str) -> None:
    """Set ``mapping[names[0]][names[1]]...[names[-1]]`` to ``text`` parsed as JSON (a number,
    bool, null, list or object), or kept as a string when it is not JSON; intermediate mappings
    are created. ``key`` names the override in errors."""
    for name in names[:-1]:
        mapping = mapping.setdefault(name, {})
        if not isinstance(mapping, dict):
            raise ConfigError(f"override key {key!r}: {name!r} is not a mapping")
    text = text.strip()
    mapping[names[-1]] = _json(key, text) if text.startswith(("[", "{")) else _json_or_string(text)


def _copy(config: Config) -> Config:
    return from_dict(json.loads(json.dumps(to_dict(config))))


def _section(config: Config, name: str) -> Any:
    sections = [f.name for f in dataclasses.fields(Config) if f.name != "name"]
    if name not in sections:
        raise ConfigError(f"unknown config section {name!r}; expected one of {sections}")
    return getattr(config, name)


def _unknown(key: str, hints: Mapping[str, Any]) -> str:
    return f"unknown config key {key!r}; fields of this section: {sorted(hints)}"


def _json_or_string(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"config key {key!r}: {text!r} is not valid JSON") from None


def _optional(annotation: Any) -> Any:
    """``X`` for ``X | None`` (None for any other annotation)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return args[0] if len(args) == 1 and len(typing.get_args(annotation)) == 2 else None


def _tuple_items(key: str, annotation: Any, length: int) -> tuple[Any, ...]:
    """The item types of a ``tuple[T, ...]`` or ``tuple[T1, T2]`` annotation for ``length`` items."""
    args = typing.get_args(annotation)
    if len(args) == 2 and args[1] is Ellipsis:
        return (args[0],) * length
    if length != len(args):
        raise ConfigError(f"config key {key!r} expects {len(args)} values, got {length}")
    return args


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Parse the override string ``text`` into ``annotation``'s type (``key`` names it in errors).

    Supported: ``bool``, ``int``, ``float``, ``str``, ``tuple[T, ...]`` and fixed-length tuples
    (comma-separated or a JSON list), ``dict`` (a JSON object), ``X | None`` (``none``/``null``)
    and ``Any`` (JSON, else the string).
    """
    text = text.strip()
    inner = _optional(annotation)
    if inner is not None:
        return None if text.lower() in ("none", "null") else parse_value(key, text, inner)
    if annotation is Any:
        return _json(key, text) if text.startswith(("[", "{")) else _json_or_string(text)
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"config key {key!r} expects a bool (true/false), got {text!r}")
    origin = typing.get_origin(annotation)
    if origin is tuple:
        if text.startswith("["):
            return _coerce(key, _json(key, text), annotation)
        items = [item.strip() for item in text.split(",") if item.strip()]
        item_types = _tuple_items(key, annotation, len(items))
        return tuple(
            parse_value(f"{key}[{i}]", item, t) for i, (item, t) in enumerate(zip(items, item_types))
        )
    if origin is dict:
        return _coerce(key, _json_or_string(text), annotation)
    return _coerce(key, text if annotation is str else _json_or_string(text), annotation)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check/convert a (JSON-decoded or parsed) value to ``annotation``'s type."""
    inner = _optional(annotation)
    if inner is not None:
        return None if value is None else _coerce(key, value, inner)
    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
        item_types = _tuple_items(key, annotation, len(value))
        return tuple(_coerce(f"{key}[{i}]", item, t) for i, (item, t) in enumerate(zip(value, item_types)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} expects a mapping (JSON object), got {value!r}")
        return json.loads(json.dumps(dict(value)))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects a bool, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            raise ConfigError(f"config key {key!r} expects an int, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key!r} expects a float, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key!r} expects a float, got {value!r}") from None
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} expects a string, got {value!r}")
        return value
    raise ConfigError(f"config key {key!r} has an unsupported type {annotation}")
