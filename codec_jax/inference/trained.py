"""A trained run loaded for inference: its network, parameters and input preparation.

:func:`load_trained_run` reads what a run directory of the engine (``codec-jax train / pretrain /
finetune`` or any study run) stores in its latest checkpoint -- the resolved config (network and
input fields), the feature standardisation and the parameters -- and returns a
:class:`TrainedRun` that can score new jets exactly as the run saw its own.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax

from codec_jax.checkpoint import restore_encoder
from codec_jax.errors import CheckpointError, ConfigError
from codec_jax.inference.scoring import build_run_model, read_run_items, standardised_inputs
from codec_jax.jets import JetSample
from codec_jax.losses import loss_names

__all__ = ["TrainedRun", "load_trained_run", "run_kind"]


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A run's parameters and checkpoint JSON items.

    Attributes:
        run_dir: the run directory.
        kind: ``"classifier"`` (supervised or fine-tuned: the head is trained) or ``"pretraining"``
            (encoder and projector only; no usable score).
        params: ``{"encoder": ..., "projector": ..., "head": ...}`` as restored (the subtrees a
            pretraining run did not train keep their initial values and are never used).
        items: the checkpoint's ``config``, ``normalisation`` and ``progress`` dicts.
    """

    run_dir: Path
    kind: str
    params: Any
    items: dict[str, dict]

    @property
    def max_particles(self) -> int:
        return int(self.items["config"]["data"]["max_particles"])

    @property
    def loss_name(self) -> str:
        return str(self.items["config"]["loss"]["name"])


def run_kind(config: dict) -> str:
    """``"pretraining"`` or ``"classifier"`` from a stored run config's loss name.

    Raises:
        ConfigError: the loss is in no registry kind (a loss registered by the user's own code
            must be registered again before its runs are loaded).
    """

    name = config["loss"]["name"]
    if name in loss_names("pretrain"):
        return "pretraining"
    if name in loss_names("supervised"):
        return "classifier"
    raise ConfigError(
        f"the run's loss {name!r} is not registered; register it (codec_jax.losses.register_loss) "
        "before loading the run"
    )


def load_trained_run(run_dir: str | os.PathLike, example: JetSample) -> TrainedRun:
    """Load the latest checkpoint of ``run_dir``.

    Args:
        run_dir: an engine run directory (holding ``checkpoints/``).
        example: any jet sample of the kind the run reads (one jet suffices): it fixes the input
            shapes with which the network is initialised before the stored parameters replace
            the initial ones.

    Raises:
        CheckpointError: no checkpoint, or stored parameters that do not fit the run's network.
        ConfigError: the run's loss is not registered.
    """

    run_dir = Path(run_dir)
    items = read_run_items(run_dir)  # CheckpointError for a directory that is not a run
    kind = run_kind(items["config"])
    model = build_run_model(items["config"]["model"])
    x, mask = standardised_inputs(items, example[:1])
    params = model.init(jax.random.key(0), x, mask)["params"]
    subtrees = ("encoder", "projector") if kind == "pretraining" else ("encoder", "head")
    for subtree in subtrees:
        if subtree not in params:
            if subtree == "projector":
                continue
            raise CheckpointError(f"{run_dir}: the run's network has no {subtree!r} parameters")
        params, _ = restore_encoder(run_dir, params, subtree=subtree)
    return TrainedRun(run_dir=run_dir, kind=kind, params=params, items=items)
