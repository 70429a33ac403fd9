"""The training driver: epochs, validation, early stopping, JSONL metrics, NaN guard, resume.

:func:`fit` jits the pure steps once (replicated state, batches sharded along ``"data"``,
``donate_argnums=0``), then per epoch: shuffles with ``fold_in(data_key, epoch)``, runs the train
steps, evaluates on the validation batches with a fixed key, appends one JSON line to
``metrics.jsonl``, saves a checkpoint and decides on early stopping. Epochs are numbered from 1;
checkpoint ``k`` holds the state after epoch ``k``. Everything random derives from the one base
key, and the step folds in its own step counter, so a run resumed from checkpoint ``k`` ends with
the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from codec_jax import parallel
from codec_jax.checkpoint import Checkpointer, Restored
from codec_jax.data.pipeline import iterate_batches, num_batches
from codec_jax.errors import CodecJaxError
from codec_jax.train.state import TrainState

__all__ = [
    "NonFiniteLossError",
    "FitResult",
    "fit",
    "jit_train_step",
    "jit_eval_step",
    "run_keys",
    "METRICS_FILE",
]

METRICS_FILE = "metrics.jsonl"


class NonFiniteLossError(CodecJaxError, FloatingPointError):
    """The training or validation loss became NaN or infinite."""


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    state: the final :class:`TrainState` (last epoch run); history: one dict per epoch (as in
    ``metrics.jsonl``); best_epoch / best_loss: the epoch with the lowest monitored loss;
    stopped_early: early stopping ended the run; compilations: how many times each jitted step
    was compiled (1 each when shapes are static).
    """

    state: TrainState
    history: list[dict[str, float]]
    best_epoch: int
    best_loss: float
    stopped_early: bool
    compilations: dict[str, int]


def run_keys(seed: int) -> dict[str, jax.Array]:
    """The run's keys by purpose: ``init`` (parameters), ``data`` (shuffling, split), ``step``
    (base key of the train steps), ``eval`` (fixed key of the validation steps)."""
    init, data, step, evaluation = jax.random.split(jax.random.key(seed), 4)
    return {"init": init, "data": data, "step": step, "eval": evaluation}


def _mean_metrics(per_step: list[dict[str, jax.Array]], prefix: str) -> tuple[dict[str, float], np.ndarray]:
    host = jax.device_get(per_step)
    losses = np.array([float(m["loss"]) for m in host])
    means = {f"{prefix}/{name}": float(np.mean([float(m[name]) for m in host])) for name in host[0]}
    return means, losses


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The per-epoch entries of a ``metrics.jsonl`` file (a run directory's :data:`METRICS_FILE`),
    in order; ``[]`` if the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rewrite_metrics(path: Path, up_to_epoch: int) -> list[dict]:
    """Keep the lines of epochs <= ``up_to_epoch`` (after a resume); atomic rewrite."""
    if not path.exists():
        return []
    kept = [entry for entry in read_metrics(path) if entry["epoch"] <= up_to_epoch]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(entry) + "\n" for entry in kept))
    os.replace(tmp, path)
    return kept


def jit_train_step(train_step: Callable, mesh: jax.sharding.Mesh) -> Callable:
    """``jax.jit`` of ``step(state, batch, key)`` for data parallelism on ``mesh``: replicated state
    and key, batch sharded along ``"data"``, the input state donated. Call it under
    ``jax.set_mesh(mesh)`` so that :func:`codec_jax.parallel.gather` sees the mesh."""
    replicated, sharded = parallel.replicated_sharding(mesh), parallel.data_sharding(mesh)
    return jax.jit(
        train_step,
        in_shardings=(replicated, sharded, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )


def jit_eval_step(eval_step: Callable, mesh: jax.sharding.Mesh) -> Callable:
    """``jax.jit`` of ``eval_step(params, batch, key)`` with the shardings of :func:`jit_train_step`."""
    replicated, sharded = parallel.replicated_sharding(mesh), parallel.data_sharding(mesh)
    return jax.jit(eval_step, in_shardings=(replicated, sharded, replicated), out_shardings=replicated)


@contextlib.contextmanager
def _waiting_for(checkpointer: Checkpointer | None):
    """Wait for pending checkpoint writes on the way out, also after an error or interrupt."""
    try:
        yield
    finally:
        if checkpointer is not None:
            checkpointer.wait()


def fit(
    state: TrainState,
    train_step: Callable,
    eval_step: Callable | None,
    *,
    train_arrays: Mapping[str, np.ndarray],
    validation_arrays: Mapping[str, np.ndarray] | None,
    batch_size: int,
    epochs: int,
    keys: Mapping[str, jax.Array],
    mesh: jax.sharding.Mesh,
    run_dir: str | os.PathLike,
    checkpointer: Checkpointer | None = None,
    checkpoint_json: Mapping[str, dict] | None = None,
    resume_from: Restored | None = None,
    patience: int = 0,
    min_delta: float = 0.0,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Train for ``epochs`` epochs (or until early stopping).

    Args:
        state: the initial state (ignored when ``resume_from`` is given).
        train_step: ``step(state, batch, key) -> (state, metrics)`` from :mod:`.steps`.
        eval_step: ``eval_step(params, batch, key) -> metrics``, or None.
        train_arrays / validation_arrays: host arrays, one row per example (see the pipeline).
        batch_size: global batch size; must be a multiple of the mesh's device count.
        epochs: total number of epochs of the run (the same when resuming).
        keys: :func:`run_keys` of the run's seed.
        mesh: the data-parallel mesh (:func:`codec_jax.parallel.make_mesh`).
        run_dir: where ``metrics.jsonl`` is written.
        checkpointer: saves a checkpoint after every epoch (with ``checkpoint_json``'s
            ``config`` and ``normalisation``) when given.
        resume_from: a restored checkpoint to continue from.
        patience: stop after this many epochs without improvement of the validation loss (the
            training loss when there is no validation set) by more than ``min_delta``; 0 = never.
        progress: show a tqdm bar over epochs.
        on_epoch_end: called as ``on_epoch_end(epoch, metrics)`` after the epoch's checkpoint.

    Raises:
        NonFiniteLossError: a loss became NaN/inf (names the epoch and step; nothing is saved).
    """
    parallel.check_batch_size(batch_size, mesh)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / METRICS_FILE
    steps_per_epoch = num_batches(len(next(iter(train_arrays.values()))), batch_size)

    first_epoch, best_loss, best_epoch, bad_epochs = 1, math.inf, 0, 0
    history: list[dict] = []
    if resume_from is not None:
        done = resume_from.progress
        state = resume_from.state
        first_epoch = int(done["epoch"]) + 1
        best_loss, best_epoch, bad_epochs = (
            float(done["best_loss"]),
            int(done["best_epoch"]),
            int(done["bad_epochs"]),
        )
        history = _rewrite_metrics(metrics_path, int(done["epoch"]))
        if done.get("stopped_early"):
            first_epoch = epochs + 1
    elif metrics_path.exists():
        metrics_path.unlink()

    state = parallel.replicate(state, mesh)
    stopped_early = bool(resume_from and resume_from.progress.get("stopped_early"))
    with jax.set_mesh(mesh), _waiting_for(checkpointer):
        train_jit = jit_train_step(train_step, mesh)
        eval_jit = None
        if eval_step is not None and validation_arrays is not None:
            eval_jit = jit_eval_step(eval_step, mesh)

        bar = tqdm(range(first_epoch, epochs + 1), desc="epochs", unit="epoch", disable=not progress)
        for epoch in bar:
            start = time.perf_counter()
            per_step = []
            for batch in iterate_batches(
                train_arrays, batch_size, key=jax.random.fold_in(keys["data"], epoch), mesh=mesh
            ):
                state, metrics = train_jit(state, batch, keys["step"])
                per_step.append(metrics)
            record, losses = _mean_metrics(per_step, "train")
            elapsed = time.perf_counter() - start
            if not np.all(np.isfinite(losses)):
                bad = int(np.argmin(np.isfinite(losses)))
                raise NonFiniteLossError(
                    f"the training loss became {losses[bad]} at step {(epoch - 1) * steps_per_epoch + bad} "
                    f"(epoch {epoch}); the last checkpoint in {run_dir} is from epoch {epoch - 1}. "
                    "Try a lower optimizer.learning_rate or set optimizer.clip_norm."
                )
            monitored = record["train/loss"]
            if eval_jit is not None:
                val_steps = [
                    eval_jit(state.params, batch, keys["eval"])
                    for batch in iterate_batches(validation_arrays, batch_size, mesh=mesh)
                ]
                val_record, val_losses = _mean_metrics(val_steps, "val")
                if not np.all(np.isfinite(val_losses)):
                    raise NonFiniteLossError(f"the validation loss became non-finite in epoch {epoch}")
                record.update(val_record)
                monitored = record["val/loss"]
            if monitored < best_loss - min_delta:
                best_loss, best_epoch, bad_epochs = monitored, epoch, 0
            else:
                bad_epochs += 1
            stopped_early = patience > 0 and bad_epochs >= patience
            record = {
                "epoch": epoch,
                "step": int(state.step),
                **record,
                "epoch_seconds": elapsed,
                "examples_per_second": steps_per_epoch * batch_size / elapsed,
            }
            history.append(record)
            with metrics_path.open("a") as stream:
                stream.write(json.dumps(record) + "\n")
            if checkpointer is not None:
                json_items = dict(checkpoint_json or {})
                checkpointer.save(
                    epoch,
                    state,
                    config=json_items.get("config", {}),
                    normalisation=json_items.get("normalisation", {}),
                    progress={
                        "epoch": epoch,
                        "best_loss": best_loss,
                        "best_epoch": best_epoch,
                        "bad_epochs": bad_epochs,
                        "stopped_early": stopped_early,
                    },
                )
            bar.set_postfix(
                loss=f"{record['train/loss']:.4g}", val=f"{record.get('val/loss', float('nan')):.4g}"
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            if stopped_early:
                break
        bar.close()
    compilations = {"train": train_jit._cache_size()}
    if eval_jit is not None:
        compilations["eval"] = eval_jit._cache_size()
    return FitResult(
        state=state,
        history=history,
        best_epoch=best_epoch,
        best_loss=best_loss,
        stopped_early=stopped_early,
        compilations=compilations,
    )
