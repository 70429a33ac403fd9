"""The training state: one pytree holding everything that changes during training.

No functions live in it (the model's ``apply`` and the optimizer's ``update`` are passed to the
step factories), so it can be jitted, donated, sharded and checkpointed as plain arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import optax
from flax import struct

__all__ = ["TrainState", "create_state"]


@struct.dataclass
class TrainState:
    """``step``: int32 scalar, optimizer steps taken so far (drives the schedule and the per-step
    keys); ``params``: ``{"encoder": ..., "projector": ..., "head": ...}``; ``opt_state``: the
    optax state matching ``params``."""

    step: jax.Array
    params: Any
    opt_state: Any


def create_state(params: Any, tx: optax.GradientTransformation) -> TrainState:
    """A state at step 0 for ``params`` with a freshly initialised ``tx`` state."""
    return TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=params, opt_state=tx.init(params))
