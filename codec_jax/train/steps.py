"""Pure step factories: each returns an *un-jitted* function that the driver jits with shardings.

Batches are dicts of arrays with the batch on the leading axis:

* pretraining: ``x_a``, ``x_b`` -- the two views of each jet, ``[batch, particles, features]``
  (or ``[batch, features]`` for jet-level inputs), ``mask_a``, ``mask_b``
  ``[batch, particles]`` bool (absent for jet-level inputs), and optionally ``jet_pt_a``,
  ``jet_pt_b`` ``[batch]`` in GeV (forwarded to ``augment_fn`` as ``jet_pt``, for smearing). The views come from a pair list
  (nominal jet, alternate jet) or are the same jet twice; ``augment_fn`` then transforms each view
  with its own key.
* supervised: ``x`` (and ``mask``), ``target [batch]`` (label or regression target),
  ``weight [batch]`` per-jet weights, ``label [batch]`` (1 = signal), ``mass [batch]`` (used by the
  decorrelation penalty, which sees background jets only).
* both, with a distribution-alignment term: ``x_alt``, ``mask_alt`` (and ``jet_pt_alt``), a
  batch of alternate jets not paired with the rows (``align_fn(h_nominal, h_alternate)``: on the
  projections of view ``a`` and of the alternate jets, augmented alike, in pretraining; on the
  encoder's representations in supervised training). A batch without ``x_alt`` (e.g. validation
  files) is evaluated without the term.

Losses and penalties arrive ready to call (names and keyword arguments are resolved by
:func:`codec_jax.losses.configured_loss`); nothing here reads a config.

Randomness: the ``key`` argument is the run's base key; a step uses
``fold_in(key, state.step)`` so that a resumed run draws the same numbers as an uninterrupted one.
Batch-coupled losses receive their inputs through :func:`codec_jax.parallel.gather`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from codec_jax.parallel import gather
from codec_jax.train.state import TrainState

__all__ = [
    "Alignment",
    "make_pretrain_step",
    "make_pretrain_eval_step",
    "make_supervised_step",
    "make_supervised_eval_step",
]

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Alignment:
    """A distribution-alignment term: ``weight * function(h_nominal, h_alternate)`` with
    ``function`` an ``"alignment"`` loss of the registry, its keyword arguments bound."""

    function: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]]
    weight: float

    def add(self, metrics: Metrics, h_nominal: jax.Array, h_alternate: jax.Array) -> jax.Array:
        """The weighted term on the gathered batches; its value and aux go into ``metrics``."""
        value, aux = self.function(gather(h_nominal), gather(h_alternate))
        metrics.update({"alignment": value, **{f"alignment_{k}": v for k, v in aux.items()}})
        return self.weight * value


ApplyFn = Callable[..., jax.Array]
Preprocess = Callable[[jax.Array, jax.Array | None], jax.Array]
AugmentFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def _identity(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    return x


# --------------------------------------------------------------------------- pretraining
def _pretrain_loss_fn(
    apply_fn: ApplyFn,
    loss_fn: Callable,
    augment_fn: AugmentFn | None,
    preprocess: Preprocess,
    alignment: Alignment | None,
):
    def view(params: Any, batch: Batch, side: str, key: jax.Array) -> jax.Array:
        x, mask = batch[f"x_{side}"], batch.get(f"mask_{side}")
        if augment_fn is not None:
            jet_pt = batch.get(f"jet_pt_{side}")
            extra = {} if jet_pt is None else {"jet_pt": jet_pt}
            x, mask = augment_fn(key, x, mask, **extra)
        return apply_fn({"params": params}, preprocess(x, mask), mask, method="project")

    def loss_and_metrics(params: Any, batch: Batch, key: jax.Array) -> tuple[jax.Array, Metrics]:
        key_a, key_b = jax.random.split(key)
        z_a = view(params, batch, "a", key_a)
        z_b = view(params, batch, "b", key_b)
        loss, aux = loss_fn(gather(z_a), gather(z_b))
        metrics = {"contrastive_loss": loss, **aux} if alignment is not None else aux
        if alignment is not None and "x_alt" in batch:
            z_alt = view(params, batch, "alt", jax.random.fold_in(key, 2))
            loss = loss + alignment.add(metrics, z_a, z_alt)
        return loss, {"loss": loss, **metrics}

    return loss_and_metrics


def make_pretrain_step(
    apply_fn: ApplyFn,
    tx: optax.GradientTransformation,
    loss_fn: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]],
    *,
    augment_fn: AugmentFn | None = None,
    preprocess: Preprocess | None = None,
    alignment: Alignment | None = None,
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]:
    """Contrastive pretraining step: project both views, ``loss_fn(z_a, z_b)``, one update.

    Args:
        apply_fn: the model's ``apply``; called with ``method="project"`` on
            ``(x [batch, particles, features], mask [batch, particles])``, returning
            ``z [batch, latent]``.
        tx: the optax optimizer.
        loss_fn: ``(z_a, z_b) -> (scalar, aux)`` (VICReg, Barlow Twins, NT-Xent).
        augment_fn: ``(key, x, mask) -> (x, mask)`` applied to each view (raw relative features).
        preprocess: ``(x, mask) -> x`` applied after augmentation (feature standardisation).
        alignment: an :class:`Alignment` between the projections of view ``a`` and of the
            batch's ``x_alt`` jets (augmented alike); adds ``contrastive_loss``, ``alignment``
            and its aux terms to the metrics.

    Returns:
        ``step(state, batch, key) -> (state, metrics)``; metrics hold ``loss``, the loss's aux
        terms and ``grad_norm`` (scalars).
    """
    loss_and_metrics = _pretrain_loss_fn(apply_fn, loss_fn, augment_fn, preprocess or _identity, alignment)
    return _update_step(loss_and_metrics, tx)


def make_pretrain_eval_step(
    apply_fn: ApplyFn,
    loss_fn: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]],
    *,
    augment_fn: AugmentFn | None = None,
    preprocess: Preprocess | None = None,
    alignment: Alignment | None = None,
) -> Callable[[Any, Batch, jax.Array], Metrics]:
    """``eval_step(params, batch, key) -> metrics`` with the pretraining loss and no update.

    Pass the same ``key`` every epoch so the validation loss is comparable between epochs.
    """
    loss_and_metrics = _pretrain_loss_fn(apply_fn, loss_fn, augment_fn, preprocess or _identity, alignment)

    def eval_step(params: Any, batch: Batch, key: jax.Array) -> Metrics:
        return loss_and_metrics(params, batch, key)[1]

    return eval_step


# --------------------------------------------------------------------------- supervised
def _supervised_loss_fn(
    apply_fn: ApplyFn,
    loss_fn: Callable,
    penalty_fn: Callable | None,
    penalty_weight: float,
    preprocess: Preprocess,
    alignment: Alignment | None,
):
    def loss_and_metrics(params: Any, batch: Batch) -> tuple[jax.Array, Metrics]:
        mask = batch.get("mask")
        x = preprocess(batch["x"], mask)
        aligned = alignment is not None and "x_alt" in batch
        if aligned:
            outputs, representation = apply_fn({"params": params}, x, mask, method="classify_and_embed")
        else:
            outputs = apply_fn({"params": params}, x, mask, method="classify")
        predictions = outputs[:, 0] if outputs.shape[-1] == 1 else outputs
        predictions, target, weight = gather((predictions, batch["target"], batch["weight"]))
        loss, aux = loss_fn(predictions, target, weight)
        metrics = {"task_loss": loss, **aux}
        if penalty_fn is not None:
            label, mass = gather((batch["label"], batch["mass"]))
            background_weight = jnp.where(label == 0, weight, 0.0)
            penalty, penalty_aux = penalty_fn(jax.nn.sigmoid(predictions), mass, weights=background_weight)
            loss = loss + penalty_weight * penalty
            metrics.update({"penalty": penalty, **{f"penalty_{k}": v for k, v in penalty_aux.items()}})
        if aligned:
            mask_alt = batch.get("mask_alt")
            x_alt = preprocess(batch["x_alt"], mask_alt)
            representation_alt = apply_fn({"params": params}, x_alt, mask_alt, method="embed")
            loss = loss + alignment.add(metrics, representation, representation_alt)
        metrics["loss"] = loss
        return loss, metrics

    return loss_and_metrics


def make_supervised_step(
    apply_fn: ApplyFn,
    tx: optax.GradientTransformation,
    loss_fn: Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, dict]],
    *,
    penalty_fn: Callable[[jax.Array, jax.Array, jax.Array], tuple] | None = None,
    penalty_weight: float = 0.0,
    preprocess: Preprocess | None = None,
    alignment: Alignment | None = None,
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]:
    """Supervised (tagging or regression) step, optionally with a decorrelation penalty.

    loss = ``loss_fn(predictions, target, weight)`` + ``penalty_weight`` *
    ``penalty_fn(sigmoid(predictions), mass, weights=weight * [label == 0])``, where ``predictions
    [batch]`` is the head's output (``method="classify"``; logits for ``bce``) and ``penalty_fn``
    a ``"penalty"`` of the loss registry with its keyword arguments bound, e.g.
    ``losses.configured_loss("mode", "penalty", {"order": 0})``; ``alignment`` (an
    :class:`Alignment`) adds its term between the encoder representations of the batch's jets and
    of its ``x_alt`` jets. Fine-tuning is this
    step with a masked optimizer (:func:`codec_jax.train.optim.finetune_optimizer`). The ``key``
    argument is accepted for a uniform signature (the models are deterministic).
    """
    loss_and_metrics = _supervised_loss_fn(
        apply_fn, loss_fn, penalty_fn, penalty_weight, preprocess or _identity, alignment
    )

    def with_key(params: Any, batch: Batch, key: jax.Array) -> tuple[jax.Array, Metrics]:
        return loss_and_metrics(params, batch)

    return _update_step(with_key, tx)


def make_supervised_eval_step(
    apply_fn: ApplyFn,
    loss_fn: Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, dict]],
    *,
    penalty_fn: Callable | None = None,
    penalty_weight: float = 0.0,
    preprocess: Preprocess | None = None,
    alignment: Alignment | None = None,
) -> Callable[[Any, Batch, jax.Array], Metrics]:
    """``eval_step(params, batch, key) -> metrics``: the supervised loss without an update."""
    loss_and_metrics = _supervised_loss_fn(
        apply_fn, loss_fn, penalty_fn, penalty_weight, preprocess or _identity, alignment
    )

    def eval_step(params: Any, batch: Batch, key: jax.Array) -> Metrics:
        return loss_and_metrics(params, batch)[1]

    return eval_step


# --------------------------------------------------------------------------- shared update
def _update_step(loss_and_metrics: Callable, tx: optax.GradientTransformation):
    grad_fn = jax.value_and_grad(loss_and_metrics, has_aux=True)

    def step(state: TrainState, batch: Batch, key: jax.Array) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(key, state.step)
        (_, metrics), grads = grad_fn(state.params, batch, step_key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return step
