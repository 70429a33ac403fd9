"""Heads on top of an encoder's representation ``[batch, d_repr]``.

* :class:`Projector` -- the contrastive projector (e.g. 64-64): ReLU between layers, linear output,
  used only during pretraining (VICReg, Barlow Twins, NT-Xent act on its output).
* :class:`PredictionHead` -- the classifier (logits) or regression head (values), e.g. 64-32-1:
  ReLU hidden layers and a linear ``n_outputs`` layer. For classification its output is a logit
  (apply a sigmoid for a score); for mass regression it is the predicted value in the units of the
  training target.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from codec_jax.models.layers import MLP

__all__ = ["Projector", "PredictionHead"]


class Projector(nn.Module):
    """``[batch, d_repr] -> [batch, dims[-1]]``: Dense layers ``dims``, ReLU between, linear last."""

    dims: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, representation: jax.Array) -> jax.Array:
        if not self.dims:
            raise ValueError("Projector: dims needs at least one layer (use projector_dims=None for none)")
        return MLP(self.dims, activate_final=False, name="mlp")(representation)


class PredictionHead(nn.Module):
    """``[batch, d_repr] -> [batch, n_outputs]``: ReLU layers ``hidden_dims`` then a linear layer.

    ``hidden_dims=()`` gives a single linear layer.
    """

    hidden_dims: Sequence[int] = (64, 32)
    n_outputs: int = 1

    @nn.compact
    def __call__(self, representation: jax.Array) -> jax.Array:
        hidden = MLP(self.hidden_dims, name="hidden")(representation)
        return nn.Dense(self.n_outputs, name="output")(hidden)
