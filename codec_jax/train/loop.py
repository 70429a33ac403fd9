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
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from codec_jax import parallel, termination
from codec_jax.checkpoint import Checkpointer, Restored
from codec_jax.data.pipeline import iterate_batches, num_batches
from codec_jax.errors import CodecJaxError, DataError
from codec_jax.faults import kill_point
from codec_jax.files import atomic_path, naming_path
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


def _check_enough_rows(
    train_arrays: Mapping[str, np.ndarray],
    validation_arrays: Mapping[str, np.ndarray] | None,
    batch_size: int,
) -> None:
    """Batches are full (the last partial one is dropped): each set needs at least one.

    Raises:
        DataError: the training or validation set holds fewer rows than one batch.
    """
    for name, arrays in (("training", train_arrays), ("validation", validation_arrays)):
        if arrays:
            rows = len(next(iter(arrays.values())))
            if rows < batch_size:
                raise DataError(
                    f"the {name} set holds {rows} rows, fewer than one batch of training.batch_size={batch_size} "
                    "(batches are full): lower the batch size or give more jets"
                )


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The per-epoch entries of a ``metrics.jsonl`` file (a run directory's :data:`METRICS_FILE`),
    in order; ``[]`` if the file does not exist.

    A last line that is not valid JSON -- the record of a run killed while writing it -- is left
    out with a warning (``--resume`` then rewrites the file without it); an invalid line before
    the last raises :class:`~codec_jax.errors.DataError` naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                warnings.warn(
                    f"{path}: left out a torn last line (a run killed while writing its record)", stacklevel=2
                )
                continue
            raise DataError(
                f"{path}: line {number} is not a JSON record; the metrics file is damaged"
            ) from None
    return entries


def _rewrite_metrics(path: Path, up_to_epoch: int) -> list[dict]:
    """Keep the lines of epochs <= ``up_to_epoch`` (after a resume; a torn last line is dropped
    and every kept line ends with a newline again); atomic rewrite."""
    if not path.exists():
        return []
    kept = [entry for entry in read_metrics(path) if entry["epoch"] <= up_to_epoch]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(entry) + "\n" for entry in kept))
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


@dataclasses.dataclass
class _Progress:
    """Early-stopping bookkeeping after ``epoch`` epochs, saved with every checkpoint so that a
    resumed run continues it."""

    epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False

    @classmethod
    def restored(cls, progress: Mapping) -> _Progress:
        return cls(
            epoch=int(progress["epoch"]),
            best_loss=float(progress["best_loss"]),
            best_epoch=int(progress["best_epoch"]),
            bad_epochs=int(progress["bad_epochs"]),
            stopped_early=bool(progress.get("stopped_early")),
        )

    def update(self, epoch: int, monitored: float, *, min_delta: float, patience: int) -> None:
        """Count ``epoch`` (monitored loss ``monitored``) as an improvement or a bad epoch."""
        self.epoch = epoch
        if monitored < self.best_loss - min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = monitored, epoch, 0
        else:
            self.bad_epochs += 1
        self.stopped_early = patience > 0 and self.bad_epochs >= patience

    def to_json(self) -> dict:
        return {
            "epoch": self.epoch,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
        }


def _starting_point(
    state: TrainState, resume_from: Restored | None, metrics_path: Path
) -> tuple[TrainState, _Progress, list[dict]]:
    """The state, progress and history to start from: a fresh run deletes an old
    ``metrics.jsonl``; a resumed one keeps its lines up to the restored epoch. Only process 0
    changes the file; the others read it after a barrier."""
    main = parallel.is_main_process()
    if resume_from is None:
        if main and metrics_path.exists():
            metrics_path.unlink()
        parallel.barrier("codec_jax:metrics_started")
        return state, _Progress(), []
    progress = _Progress.restored(resume_from.progress)
    kept = _rewrite_metrics(metrics_path, progress.epoch) if main else []
    parallel.barrier("codec_jax:metrics_started")
    if not main:
        kept = [entry for entry in read_metrics(metrics_path) if entry["epoch"] <= progress.epoch]
    return resume_from.state, progress, kept


@dataclasses.dataclass(frozen=True)
class _EpochRunner:
    """What every epoch of a run uses: the jitted steps, the host arrays, batching and keys, and
    where its results go (``metrics.jsonl``, the checkpointer with its JSON items)."""

    train_jit: Callable
    eval_jit: Callable | None
    train_arrays: Mapping[str, np.ndarray]
    validation_arrays: Mapping[str, np.ndarray] | None
    batch_size: int
    steps_per_epoch: int
    keys: Mapping[str, jax.Array]
    mesh: jax.sharding.Mesh
    run_dir: Path
    checkpointer: Checkpointer | None
    checkpoint_json: Mapping[str, dict]

    def epoch(self, state: TrainState, epoch: int) -> tuple[TrainState, dict]:
        """Train and validate ``epoch``; returns the state and the epoch's ``metrics.jsonl`` line
        (epoch, step, the ``train/`` and ``val/`` means, timing of the train steps)."""
        start = time.perf_counter()
        state, means = self.train(state, epoch)
        elapsed = time.perf_counter() - start
        if self.eval_jit is not None:
            means.update(self.validate(state.params, epoch))
        return state, {
            "epoch": epoch,
            "step": int(state.step),
            **means,
            "epoch_seconds": elapsed,
            "examples_per_second": self.steps_per_epoch * self.batch_size / elapsed,
        }

    def train(self, state: TrainState, epoch: int) -> tuple[TrainState, dict[str, float]]:
        """The train steps of ``epoch`` (batches shuffled with ``fold_in(data_key, epoch)``) and
        their means ``train/<metric>``.

        Raises:
            NonFiniteLossError: a training loss is NaN or infinite (names its global step).
        """
        key = jax.random.fold_in(self.keys["data"], epoch)
        per_step = []
        for batch in iterate_batches(self.train_arrays, self.batch_size, key=key, mesh=self.mesh):
            state, metrics = self.train_jit(state, batch, self.keys["step"])
            per_step.append(metrics)
            termination.check()  # a safe point: SIGTERM stops here, the last checkpoint intact
        means, losses = _mean_metrics(per_step, "train")
        if not np.all(np.isfinite(losses)):
            bad = int(np.argmin(np.isfinite(losses)))
            raise NonFiniteLossError(
                f"the training loss became {losses[bad]} at step {(epoch - 1) * self.steps_per_epoch + bad} "
                f"(epoch {epoch}); the last checkpoint in {self.run_dir} is from epoch {epoch - 1}. "
                "Try a lower optimizer.learning_rate or set optimizer.clip_norm."
            )
        return state, means

    def validate(self, params: Any, epoch: int) -> dict[str, float]:
        """The means ``val/<metric>`` over the validation batches (in order, the fixed eval key).

        Raises:
            NonFiniteLossError: a validation loss is NaN or infinite.
        """
        batches = iterate_batches(self.validation_arrays, self.batch_size, mesh=self.mesh)
        means, losses = _mean_metrics(
            [self.eval_jit(params, batch, self.keys["eval"]) for batch in batches], "val"
        )
        if not np.all(np.isfinite(losses)):
            raise NonFiniteLossError(f"the validation loss became non-finite in epoch {epoch}")
        return means

    def save(self, state: TrainState, record: dict, progress: _Progress) -> None:
        """Append ``record`` to ``metrics.jsonl`` and checkpoint its epoch (asynchronously) with
        the config, normalisation and ``progress``."""
        path = self.run_dir / METRICS_FILE
        if parallel.is_main_process():  # multi-host: one line per epoch, from process 0
            try:
                with path.open("a") as stream:
                    stream.write(json.dumps(record) + "\n")
            except OSError as error:  # a full disk: the torn line is dropped on --resume
                raise naming_path(error, path) from error
        if self.checkpointer is not None:
            self.checkpointer.save(
                record["epoch"],
                state,
                config=self.checkpoint_json.get("config", {}),
                normalisation=self.checkpoint_json.get("normalisation", {}),
                progress=progress.to_json(),
            )
        kill_point("train:epoch_saved")  # fault tests: a kill while the checkpoint is being written


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
    _check_enough_rows(train_arrays, validation_arrays, batch_size)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state, done, history = _starting_point(state, resume_from, run_dir / METRICS_FILE)
    first_epoch = epochs + 1 if done.stopped_early else done.epoch + 1

    state = parallel.replicate(state, mesh)
    with jax.set_mesh(mesh), _waiting_for(checkpointer), termination.safe_points():
        validates = eval_step is not None and validation_arrays is not None
        runner = _EpochRunner(
            train_jit=jit_train_step(train_step, mesh),
            eval_jit=jit_eval_step(eval_step, mesh) if validates else None,
            train_arrays=train_arrays,
            validation_arrays=validation_arrays,
            batch_size=batch_size,
            steps_per_epoch=num_batches(len(next(iter(train_arrays.values()))), batch_size),
            keys=keys,
            mesh=mesh,
            run_dir=run_dir,
            checkpointer=checkpointer,
            checkpoint_json=dict(checkpoint_json or {}),
        )
        monitored = "val/loss" if validates else "train/loss"
        bar = tqdm(
            range(first_epoch, epochs + 1),
            desc="epochs",
            unit="epoch",
            disable=not progress or not parallel.is_main_process(),
        )
        for epoch in bar:
            state, record = runner.epoch(state, epoch)
            done.update(epoch, record[monitored], min_delta=min_delta, patience=patience)
            history.append(record)
            runner.save(state, record, done)
            bar.set_postfix(
                loss=f"{record['train/loss']:.4g}", val=f"{record.get('val/loss', float('nan')):.4g}"
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            if done.stopped_early:
                break
        bar.close()
    compilations = {"train": runner.train_jit._cache_size()}
    if validates:
        compilations["eval"] = runner.eval_jit._cache_size()
    return FitResult(
        state=state,
        history=history,
        best_epoch=done.best_epoch,
        best_loss=done.best_loss,
        stopped_early=done.stopped_early,
        compilations=compilations,
    )
