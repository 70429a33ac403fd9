"""Loss and penalty names usable in configs, and how to add your own.

Three kinds exist, with different call signatures:

* ``"pretrain"`` (contrastive, ``loss.name``): ``loss(z_a, z_b, **kwargs) -> (scalar, aux)`` on
  the projections ``[batch, dim]`` of the two views;
* ``"supervised"`` (``loss.name``): ``loss(predictions, target, weight, **kwargs) -> (scalar, aux)``
  with ``predictions [batch, n_outputs]``, ``target [batch]`` and per-jet ``weight [batch]``;
* ``"penalty"`` (mass decorrelation, ``loss.decorrelation``):
  ``penalty(scores, mass, weights, **kwargs) -> (scalar, aux)`` with ``scores [batch]`` (the
  tagger's probabilities), ``mass [batch]`` and ``weights [batch]``, zero for signal jets; the
  engine passes ``weights`` by keyword, so the argument must have that name;
* ``"alignment"`` (distribution alignment, ``loss.alignment``):
  ``align(h_nominal, h_alternate, **kwargs) -> (scalar, aux)`` with the embeddings
  ``[batch, dim]`` of a nominal and an alternate batch (no pairing between their rows); added with
  ``loss.alignment_weight`` in pretraining (on the projections) and supervised training (on the
  encoder's representation).

``aux`` is a dict of scalars, logged per epoch. :func:`register_loss` adds a function under a
name, after which ``loss.name=<name>`` (``loss.decorrelation=<name>`` for a penalty) works in
every config and on the command line (``--set``); ``loss.kwargs`` (``loss.decorrelation_kwargs``,
``loss.alignment_kwargs``) are checked against the signature by :func:`configured_loss` and passed as keyword arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from codec_jax.errors import ConfigError
from codec_jax.losses.alignment import sinkhorn_alignment
from codec_jax.losses.contrastive import barlow_twins, ntxent, vicreg
from codec_jax.losses.decorrelation import disco, mode
from codec_jax.losses.supervised import bce, mass_regression

__all__ = ["LOSS_KINDS", "register_loss", "get_loss", "loss_names", "configured_loss"]

#: kind -> name -> function.
LOSS_KINDS: dict[str, dict[str, Callable]] = {
    "pretrain": {"vicreg": vicreg, "barlow_twins": barlow_twins, "ntxent": ntxent},
    "supervised": {"bce": bce, "mass_regression": mass_regression},
    "penalty": {"disco": disco, "mode": mode},
    "alignment": {"sinkhorn": sinkhorn_alignment},
}


@dataclasses.dataclass(frozen=True)
class _KindFields:
    """How a kind appears in configs and messages, and which arguments are its arrays."""

    name_field: str  # the config field holding the name
    unknown: str  # what an unknown name cannot do
    kwargs_field: str  # the config field holding the keyword arguments
    noun: str  # "loss" or "penalty"
    positional_arrays: int  # leading array arguments
    keyword_arrays: tuple[str, ...] = ()  # array arguments passed by keyword
    other_values: tuple[str, ...] = ()  # valid config values that name no function


_FIELDS = {
    "pretrain": _KindFields("loss.name", "cannot pretrain", "loss.kwargs", "loss", 2),
    "supervised": _KindFields("loss.name", "cannot fine-tune", "loss.kwargs", "loss", 3),
    "penalty": _KindFields(
        "loss.decorrelation",
        "is not a decorrelation penalty",
        "loss.decorrelation_kwargs",
        "penalty",
        2,
        keyword_arrays=("weights",),
        other_values=("none",),
    ),
    "alignment": _KindFields(
        "loss.alignment",
        "is not a distribution-alignment term",
        "loss.alignment_kwargs",
        "alignment term",
        2,
        other_values=("none",),
    ),
}


def _kind(kind: str) -> dict[str, Callable]:
    if kind not in LOSS_KINDS:
        raise ValueError(f"loss kind must be one of {sorted(LOSS_KINDS)}, got {kind!r}")
    return LOSS_KINDS[kind]


def register_loss(name: str, function: Callable, *, kind: str, overwrite: bool = False) -> None:
    """Make ``function`` available by ``name`` for ``kind``: ``"pretrain"`` or ``"supervised"``
    (``loss.name=name``), ``"penalty"`` (``loss.decorrelation=name``) or ``"alignment"``
    (``loss.alignment=name``); see the module docstring
    for the signatures."""
    losses = _kind(kind)
    if not callable(function):
        raise TypeError(f"register_loss({name!r}): expected a function, got {function!r}")
    if name in _FIELDS[kind].other_values:
        raise ValueError(f"{name!r} is a reserved value of {_FIELDS[kind].name_field}, not a {kind} name")
    if name in losses and not overwrite:
        raise ValueError(f"{kind} loss {name!r} is already registered (pass overwrite=True to replace it)")
    losses[name] = function


def loss_names(kind: str) -> tuple[str, ...]:
    """The registered names of ``kind``, sorted."""
    return tuple(sorted(_kind(kind)))


def get_loss(name: str, kind: str) -> Callable:
    """The loss (or penalty) registered as ``name`` for ``kind``.

    Raises:
        ConfigError: no such loss of that kind (the message lists the valid names; for a penalty
            also ``none``, the config value for no penalty).
    """
    losses = _kind(kind)
    if name not in losses:
        fields = _FIELDS[kind]
        expected = ", ".join((*fields.other_values, *loss_names(kind)))
        raise ConfigError(f"{fields.name_field}={name!r} {fields.unknown}; expected one of {expected}")
    return losses[name]


def configured_loss(name: str, kind: str, kwargs: Mapping[str, Any]) -> Callable:
    """:func:`get_loss` with ``kwargs`` bound, checked against the function's signature first.

    The array arguments of the kind (see the module docstring) are not settable.

    Raises:
        ConfigError: unknown name, or ``kwargs`` names an argument the function does not take.
    """
    function = get_loss(name, kind)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins without a signature: trust the caller
        return functools.partial(function, **kwargs)
    fields = _FIELDS[kind]
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    accepted = [
        p
        for p in list(parameters)[fields.positional_arrays :]
        if p not in fields.keyword_arrays and parameters[p].kind not in variadic
    ]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown and not takes_any:
        raise ConfigError(
            f"{fields.kwargs_field} {unknown} are not arguments of {fields.noun} {name!r}; it accepts {accepted}"
        )
    return functools.partial(function, **kwargs)
