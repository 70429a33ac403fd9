"""Loss names usable in configs (``loss.name``), and how to add your own.

Two kinds of losses exist, with different call signatures:

* ``"pretrain"`` (contrastive): ``loss(z_a, z_b, **kwargs) -> (scalar, aux)`` on the projections
  ``[batch, dim]`` of the two views;
* ``"supervised"``: ``loss(predictions, target, weight, **kwargs) -> (scalar, aux)`` with
  ``predictions [batch, n_outputs]``, ``target [batch]`` and per-jet ``weight [batch]``.

``aux`` is a dict of scalars, logged per epoch. :func:`register_loss` adds a function under a
name, after which ``loss.name=<name>`` works in every config and on the command line (``--set``);
``loss.kwargs`` are passed as keyword arguments.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from codec_jax.errors import ConfigError
from codec_jax.losses.contrastive import barlow_twins, ntxent, vicreg
from codec_jax.losses.supervised import bce, mass_regression

__all__ = ["LOSS_KINDS", "register_loss", "get_loss", "loss_names", "configured_loss"]

#: kind -> name -> function.
LOSS_KINDS: dict[str, dict[str, Callable]] = {
    "pretrain": {"vicreg": vicreg, "barlow_twins": barlow_twins, "ntxent": ntxent},
    "supervised": {"bce": bce, "mass_regression": mass_regression},
}


def _kind(kind: str) -> dict[str, Callable]:
    if kind not in LOSS_KINDS:
        raise ValueError(f"loss kind must be one of {sorted(LOSS_KINDS)}, got {kind!r}")
    return LOSS_KINDS[kind]


def register_loss(name: str, function: Callable, *, kind: str, overwrite: bool = False) -> None:
    """Make ``function`` available as ``loss.name=name`` for runs of ``kind`` (``"pretrain"`` or
    ``"supervised"``; see the module docstring for the signatures)."""
    losses = _kind(kind)
    if not callable(function):
        raise TypeError(f"register_loss({name!r}): expected a function, got {function!r}")
    if name in losses and not overwrite:
        raise ValueError(f"{kind} loss {name!r} is already registered (pass overwrite=True to replace it)")
    losses[name] = function


def loss_names(kind: str) -> tuple[str, ...]:
    """The registered names of ``kind``, sorted."""
    return tuple(sorted(_kind(kind)))


def get_loss(name: str, kind: str) -> Callable:
    """The loss registered as ``name`` for ``kind``.

    Raises:
        ConfigError: no such loss of that kind (the message lists the valid names).
    """
    losses = _kind(kind)
    if name not in losses:
        use = "pretrain" if kind == "pretrain" else "fine-tune"
        raise ConfigError(f"loss.name={name!r} cannot {use}; expected one of {', '.join(loss_names(kind))}")
    return losses[name]


def configured_loss(name: str, kind: str, kwargs: Mapping[str, Any]) -> Callable:
    """:func:`get_loss` with ``kwargs`` bound, checked against the function's signature first.

    Raises:
        ConfigError: unknown loss, or ``kwargs`` names an argument the function does not take.
    """
    function = get_loss(name, kind)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins without a signature: trust the caller
        return functools.partial(function, **kwargs)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown and not takes_any:
        accepted = [p for p in parameters if p not in ("z_a", "z_b", "predictions", "target", "weight")]
        raise ConfigError(f"loss.kwargs {unknown} are not arguments of loss {name!r}; it accepts {accepted}")
    return functools.partial(function, **kwargs)
