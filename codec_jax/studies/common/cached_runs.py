"""Engine runs inside a study directory that are done once and reused on a rerun.

A study (``codec-jax run CONFIG --out DIR``) trains many runs; rerunning it in the same ``DIR``
must reuse every finished run and redo the interrupted ones. A pretraining run counts as finished
when ``RUN_DIR/finished.json`` exists, a classifier/regression run when its ``RUN_DIR/scores.npz``
exists (written atomically after training and scoring). :func:`prepare_study_dir` refuses a
directory that holds a study with another config, so results of different configs never mix --
with one exception: a study config class may name ``EXTENSIBLE_FIELDS``, fields that only choose
*which* runs are trained and how they are measured (models, seeds, working points). A changed
config that differs from the directory's only in those fields *extends* the study: the runs it
shares with the earlier config are reused (their names fix their configs, since the run templates,
samples and pairs must be unchanged) and only the new ones are trained. A field the directory's
config.json lacks (added to the library later) counts as its default
(:func:`codec_jax.config.with_added_defaults`).

Where the trainings run: in this process, one after the other, unless a study runs inside
:func:`training_executor` (``codec-jax run --dask``): then :func:`train_all` runs the
independent trainings of a study concurrently and each training goes to the executor -- a Dask
worker or any ``concurrent.futures.Executor`` -- in its own process, writing its run directory on
the shared filesystem; scoring stays in this process with the parameters the worker sends back, so
the study's metrics equal the sequential run's. In a multi-host run (``jax.distributed``) every
process trains together; only process 0 writes the markers and score files.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np

from codec_jax import config as config_lib
from codec_jax import parallel
from codec_jax.errors import ConfigError
from codec_jax.files import atomic_path
from codec_jax.inference.scoring import read_run_items
from codec_jax.studies.common.config import study_to_json
from codec_jax.train.runs import finetune, pretrain

__all__ = [
    "prepare_study_dir",
    "run_dir_name",
    "pretrain_once",
    "finetune_and_score",
    "training_executor",
    "train_all",
]

_EXECUTOR: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("training_executor", default=None)
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@contextlib.contextmanager
def training_executor(executor: Executor | None) -> Iterator[None]:
    """Within the block, :func:`pretrain_once` and :func:`finetune_and_score` train on
    ``executor`` (None: in this process) and :func:`train_all` runs its items concurrently."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def train_all(items: Sequence[_Item], train: Callable[[_Item], _Result]) -> list[_Result]:
    """``[train(item) for item in items]``, the items independent of each other: in order in this
    thread, or -- inside :func:`training_executor` with an executor -- each in its own thread,
    waiting on its trainings in the executor. Results come back in the order of ``items``."""
    if _EXECUTOR.get() is None or len(items) <= 1:
        return [train(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="study-run") as threads:
        futures = [threads.submit(contextvars.copy_context().run, train, item) for item in items]
        return [future.result() for future in futures]


def _on_executor(function: Callable[..., _Result], *args: Any) -> _Result:
    """``function(*args)`` on the training executor, or here when there is none."""
    executor = _EXECUTOR.get()
    if executor is None:
        return function(*args)
    return executor.submit(function, *args).result()


def _clear_unfinished(run_dir: Path) -> None:
    """Remove a run directory left by an interrupted training (process 0; the others wait)."""
    if parallel.is_main_process() and run_dir.exists():
        shutil.rmtree(run_dir)
    parallel.barrier(f"codec_jax:cleared:{run_dir}")


def prepare_study_dir(config: Any, out: Path) -> list[str]:
    """Create ``out`` and write ``out/config.json`` (the study config as JSON); in a multi-host
    run process 0 does it and the others share its verdict.

    Returns the fields in which ``config`` extends the study already in ``out`` (empty for a new
    directory or the same config; always empty on processes other than 0).

    Raises:
        ConfigError: ``out`` already holds a study run with a different config (other than in the
            class's ``EXTENSIBLE_FIELDS``); the differing fields are named.
    """
    return parallel.main_process_verdict(lambda: _prepare_study_dir(config, out), "codec_jax:study_dir") or []


def _prepare_study_dir(config: Any, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.json"
    extended: list[str] = []
    if path.is_file():
        saved = config_lib.with_added_defaults(json.loads(path.read_text()), config)
        current = json.loads(study_to_json(config))
        changed = sorted(key for key in current.keys() | saved.keys() if saved.get(key) != current.get(key))
        fixed = [key for key in changed if key not in getattr(type(config), "EXTENSIBLE_FIELDS", ())]
        if fixed:
            raise ConfigError(
                f"{out} holds a study with a different config ({path}: {fixed} differ); choose another --out"
            )
        extended = changed
    with atomic_path(path) as tmp:
        tmp.write_text(study_to_json(config) + "\n")
    return extended


def run_dir_name(model: str) -> str:
    """A directory name for a model name such as ``"emd_pairs/epochs:1"``."""
    return model.replace("/", "-").replace(":", "")


def pretrain_once(run_config: config_lib.Config, run_dir: Path) -> float:
    """Pretrain into ``run_dir`` unless ``run_dir/finished.json`` exists (an unfinished
    directory is removed and trained again); returns the seconds the training took."""

    marker = run_dir / "finished.json"
    if marker.is_file():
        return float(json.loads(marker.read_text())["seconds"])
    _clear_unfinished(run_dir)
    return _on_executor(_pretrain_and_mark, run_config, run_dir)


def _pretrain_and_mark(run_config: config_lib.Config, run_dir: Path) -> float:
    """Pretrain into ``run_dir``, then write ``finished.json``; returns the training's seconds."""
    start = time.perf_counter()
    result = pretrain(run_config, run_dir)
    seconds = time.perf_counter() - start
    if parallel.is_main_process():
        with atomic_path(run_dir / "finished.json") as tmp:
            tmp.write_text(
                json.dumps(
                    {"seconds": seconds, "best_epoch": result.best_epoch, "epochs": len(result.history)}
                )
            )
    return seconds


def _finetuned_parameters(
    run_config: config_lib.Config, run_dir: Path, pretrained: Path | None
) -> tuple[float, Any]:
    """Fine-tune into ``run_dir``; returns the training's seconds and the final parameters as
    host (NumPy) arrays, which an executor can send back."""
    start = time.perf_counter()
    result = finetune(run_config, run_dir, pretrained=pretrained)
    seconds = time.perf_counter() - start
    return seconds, jax.device_get(result.state.params)


def finetune_and_score(
    run_config: config_lib.Config,
    run_dir: Path,
    pretrained: Path | None,
    score: Callable[[Any, dict[str, dict]], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Train a classifier or regression (:func:`codec_jax.train.runs.finetune`) into ``run_dir``
    and store ``score(params, items)`` -- a dict of arrays, e.g. test-set scores -- as
    ``run_dir/scores.npz``; reuse that file if it exists. ``items`` are the run's checkpoint JSON
    items (:func:`codec_jax.inference.scoring.read_run_items`). The returned dict also holds
    ``train_seconds`` (a 0-d array)."""

    path = run_dir / "scores.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    _clear_unfinished(run_dir)
    seconds, params = _on_executor(_finetuned_parameters, run_config, run_dir, pretrained)
    scores = dict(score(params, read_run_items(run_dir)))
    scores["train_seconds"] = np.asarray(seconds)
    if parallel.is_main_process():
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **scores)
    return scores
