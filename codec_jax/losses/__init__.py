"""Losses: pure functions of arrays returning ``(scalar_loss, aux)``, ``aux`` a dict of scalars.

* contrastive: :func:`vicreg`, :func:`barlow_twins`, :func:`ntxent` on two views ``[batch, dim]``;
* decorrelation: :func:`disco`, :func:`mode` on scores and mass ``[batch]`` (background jets);
* supervised: :func:`bce` on logits, :func:`mass_regression`, both with per-jet weights.

Configs name losses (``loss.name``) and penalties (``loss.decorrelation``) through
:mod:`codec_jax.losses.registry`; :func:`register_loss` adds your own (see docs/losses.md for the
formulas and worked examples).
"""

from codec_jax.losses.contrastive import barlow_twins, ntxent, vicreg
from codec_jax.losses.decorrelation import disco, mode
from codec_jax.losses.registry import configured_loss, get_loss, loss_names, register_loss
from codec_jax.losses.supervised import bce, mass_regression

__all__ = [
    "vicreg",
    "barlow_twins",
    "ntxent",
    "disco",
    "mode",
    "bce",
    "mass_regression",
    "register_loss",
    "get_loss",
    "loss_names",
    "configured_loss",
]
