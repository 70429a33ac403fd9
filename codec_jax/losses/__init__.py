"""Losses: pure functions of arrays returning ``(scalar_loss, aux)``, ``aux`` a dict of scalars.

* contrastive: :func:`vicreg`, :func:`barlow_twins`, :func:`ntxent` on two views ``[batch, dim]``;
* decorrelation: :func:`disco`, :func:`mode` on scores and mass ``[batch]`` (background jets);
* supervised: :func:`bce` on logits, :func:`mass_regression`, both with per-jet weights;
* alignment: :func:`sinkhorn_alignment`, the Sinkhorn divergence between a nominal and an
  alternate batch of embeddings (docs/ot.md).

Configs name losses (``loss.name``), penalties (``loss.decorrelation``) and alignment terms
(``loss.alignment``) through
:mod:`codec_jax.losses.registry`; :func:`register_loss` adds your own (see docs/losses.md for the
formulas and worked examples).
"""

from codec_jax.losses.alignment import sinkhorn_alignment
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
    "sinkhorn_alignment",
    "register_loss",
    "get_loss",
    "loss_names",
    "configured_loss",
]
