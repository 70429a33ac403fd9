"""Optimizers, learning-rate schedules and the fine-tuning levels of a pretrained encoder.

Schedule ``warmup_cosine`` (step t, peak rate r, W warm-up steps, T total steps, end rate e)::

    lr(t) = r * t / W                                           for t < W
    lr(t) = e + (r - e) * (1 + cos(pi * (t - W) / (T - W))) / 2   for W <= t <= T (then e)

Fine-tuning levels (:func:`finetune_optimizer`), applied to the ``"encoder"`` parameter subtree:

* ``frozen`` -- the encoder never changes: its updates are ``optax.set_to_zero`` and the base
  optimizer only sees the other subtrees (no moments are kept for the encoder).
* ``epochs:N`` -- the encoder is updated like every other parameter during the first N epochs
  (optimizer steps ``0 .. N * steps_per_epoch - 1``) and frozen from then on: its *updates* (not
  just its gradients, so Adam momentum or weight decay cannot move it) are multiplied by 0.
* ``full`` -- everything is trained.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from codec_jax.config import OptimizerConfig
from codec_jax.errors import ConfigError

__all__ = [
    "OPTIMIZERS",
    "learning_rate_schedule",
    "make_optimizer",
    "optimizer_from_config",
    "parse_finetune_level",
    "finetune_optimizer",
]

OPTIMIZERS = ("adam", "sgd", "lars")
ENCODER = "encoder"


def learning_rate_schedule(config: OptimizerConfig, steps_per_epoch: int, epochs: int) -> optax.Schedule:
    """The learning rate as a function of the optimizer step (see the module docstring)."""
    if config.schedule == "constant":
        return optax.constant_schedule(config.learning_rate)
    if config.schedule != "warmup_cosine":
        raise ConfigError(f"optimizer.schedule={config.schedule!r}; expected 'warmup_cosine' or 'constant'")
    total = max(1, steps_per_epoch * epochs)
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if not 0 <= warmup < total:
        raise ConfigError(
            f"optimizer.warmup_epochs={config.warmup_epochs} gives {warmup} warm-up steps, "
            f"expected fewer than the {total} steps of training"
        )
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=warmup,
        decay_steps=total,
        end_value=config.learning_rate * config.end_fraction,
    )


def _matrices_only(params: Any) -> Any:
    """True for weight matrices/kernels, False for biases and other 1-d parameters."""
    return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


def make_optimizer(
    name: str,
    learning_rate: optax.ScalarOrSchedule,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    clip_norm: float = 0.0,
) -> optax.GradientTransformation:
    """``adam`` (AdamW when ``weight_decay`` > 0), ``sgd`` (with momentum, decoupled weight decay)
    or ``lars`` (biases excluded from weight decay and trust ratio), optionally preceded by
    global-norm gradient clipping."""
    if name == "adam":
        base = (
            optax.adamw(learning_rate, weight_decay=weight_decay)
            if weight_decay
            else optax.adam(learning_rate)
        )
    elif name == "sgd":
        base = optax.chain(
            optax.add_decayed_weights(weight_decay) if weight_decay else optax.identity(),
            optax.sgd(learning_rate, momentum=momentum or None),
        )
    elif name == "lars":
        base = optax.lars(
            learning_rate,
            weight_decay=weight_decay,
            weight_decay_mask=_matrices_only,
            trust_ratio_mask=_matrices_only,
            momentum=momentum,
        )
    else:
        raise ConfigError(f"optimizer.name={name!r}; expected one of {OPTIMIZERS}")
    if clip_norm:
        return optax.chain(optax.clip_by_global_norm(clip_norm), base)
    return base


def optimizer_from_config(
    config: OptimizerConfig, steps_per_epoch: int, epochs: int
) -> optax.GradientTransformation:
    """:func:`make_optimizer` with :func:`learning_rate_schedule` from an :class:`OptimizerConfig`."""
    return make_optimizer(
        config.name,
        learning_rate_schedule(config, steps_per_epoch, epochs),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        clip_norm=config.clip_norm,
    )


def parse_finetune_level(level: str) -> tuple[str, int]:
    """``"frozen"`` -> ``("frozen", 0)``, ``"epochs:3"`` -> ``("epochs", 3)``, ``"full"`` ->
    ``("full", 0)``; anything else raises :class:`ConfigError`."""
    if level in ("frozen", "full"):
        return level, 0
    kind, _, count = level.partition(":")
    if kind == "epochs" and count.isdigit() and int(count) >= 1:
        return "epochs", int(count)
    raise ConfigError(f"finetune.level={level!r}; expected 'frozen', 'epochs:N' with N >= 1, or 'full'")


def _encoder_labels(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict) or ENCODER not in params:
        raise ConfigError(f"fine-tuning needs params with an {ENCODER!r} subtree, got keys {list(params)}")
    labels = {}
    for key, value in params.items():
        label = ENCODER if key == ENCODER else "rest"
        labels[key] = jax.tree.map(lambda _, label=label: label, value)
    return labels


def finetune_optimizer(
    base: optax.GradientTransformation, level: str, steps_per_epoch: int
) -> optax.GradientTransformation:
    """Wrap ``base`` so the ``"encoder"`` subtree follows the fine-tuning ``level``."""
    kind, n_epochs = parse_finetune_level(level)
    if kind == "full":
        return base
    if kind == "frozen":
        return optax.multi_transform({ENCODER: optax.set_to_zero(), "rest": base}, _encoder_labels)
    last_step = n_epochs * steps_per_epoch

    def gate(count: jax.Array) -> jax.Array:
        return (count < last_step).astype(jnp.float32)

    return optax.chain(
        base,
        optax.multi_transform(
            {ENCODER: optax.scale_by_schedule(gate), "rest": optax.identity()}, _encoder_labels
        ),
    )
