"""Losses: pure functions of arrays returning ``(scalar_loss, aux)``, ``aux`` a dict of scalars.

* contrastive: :func:`vicreg`, :func:`barlow_twins`, :func:`ntxent` on two views ``[batch, dim]``;
* decorrelation: :func:`disco`, :func:`mode` on scores and mass ``[batch]`` (background jets);
* supervised: :func:`bce` on logits, :func:`mass_regression`, both with per-jet weights.

See docs/losses.md for the formulas and how to write your own.
"""

from codec_jax.losses.contrastive import barlow_twins, ntxent, vicreg
from codec_jax.losses.decorrelation import disco, mode
from codec_jax.losses.supervised import bce, mass_regression

__all__ = ["vicreg", "barlow_twins", "ntxent", "disco", "mode", "bce", "mass_regression"]
