"""Checkpoints (the only module that imports Orbax).

A run directory holds ``checkpoints/<epoch>/`` written by an Orbax ``CheckpointManager``; each
checkpoint is a ``Composite`` of four items:

* ``state`` -- the :class:`~codec_jax.train.state.TrainState` (step, params, opt_state);
* ``config`` -- the resolved run config (JSON);
* ``normalisation`` -- the feature standardisation fitted on the training sample (JSON);
* ``progress`` -- the driver's bookkeeping (epoch, best validation loss, epochs without
  improvement) so that ``--resume`` continues early stopping exactly;
* ``checksums`` -- a SHA-256 of every array of ``state`` (bytes, dtype and shape) and of each JSON
  item, computed before the save and checked after every restore: a checkpoint whose bytes changed
  on disk (a flipped bit, a truncated file that Orbax still reads) is refused with one error line
  naming the epoch and the array (:class:`~codec_jax.errors.CheckpointError`). Checkpoints written
  before this item existed are restored unchecked.

Saves are asynchronous and atomic (Orbax writes to a temporary directory and renames it); the
manager waits for the previous save before starting the next one and :meth:`Checkpointer.close`
waits for the last, so write errors surface in the run that caused them -- as one ``OSError``
naming the checkpoint directory (disk full, permission, read-only filesystem); Orbax's own
logging of the failure in its background threads is silenced while a writing Checkpointer is open.

Fine-tuning uses :func:`restore_encoder`: a partial restore of only ``state.params.encoder`` of
the latest pretraining checkpoint, checked key by key and shape by shape against the fresh
encoder it replaces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from codec_jax.errors import CheckpointError

__all__ = [
    "CHECKPOINT_SUBDIR",
    "Restored",
    "Checkpointer",
    "checkpoint_directory",
    "restore_encoder",
    "state_checksums",
]

CHECKPOINT_SUBDIR = "checkpoints"
_JSON_ITEMS = ("config", "normalisation", "progress")
_CHECKSUMS = "checksums"


def _array_digest(leaf: Any) -> str | None:
    """SHA-256 of an array's dtype, shape and bytes; None for an array this process cannot read
    whole (sharded over hosts). A replicated array of a multi-host run is read from this
    process's copy, so every process computes the same checksums."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        if not leaf.sharding.is_fully_replicated:
            return None
        leaf = leaf.addressable_data(0)
    array = np.ascontiguousarray(np.asarray(leaf))
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def state_checksums(state: Any, json_items: dict[str, dict]) -> dict[str, str]:
    """``{"state/<path>": sha256, ..., "<json item>": sha256}`` of a checkpoint's contents."""
    checksums = {
        f"state/{_key_name(path)}": digest
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if (digest := _array_digest(leaf)) is not None
    }
    checksums.update({name: _json_digest(value) for name, value in json_items.items()})
    return checksums


def _verify(location: str, expected: dict[str, str], actual: dict[str, str]) -> None:
    """Raise :class:`CheckpointError` naming the first entry of ``actual`` whose checksum differs
    from the saved one (entries not restored, e.g. by a partial restore, are not compared)."""
    for name, digest in actual.items():
        if name in expected and expected[name] != digest:
            raise CheckpointError(
                f"checkpoint {location} is corrupt: {name} does not match the checksum saved with it"
            )


@contextlib.contextmanager
def _quiet_partial_restore():
    """Orbax logs a warning for every item it is not asked to restore; our partial restores (only
    the JSON items, only the encoder) are on purpose, so hide warnings while they run."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


#: What Orbax raises for a checkpoint that is incomplete, corrupt or of another layout.
_ORBAX_ERRORS = (ValueError, KeyError, TypeError, OSError)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def _unreadable(directory: Path, epoch: int):
    """Turn Orbax's errors on a damaged checkpoint (a missing item, invalid JSON, a missing file)
    into a :class:`CheckpointError` naming the checkpoint."""
    try:
        yield
    except CheckpointError:
        raise
    except _ORBAX_ERRORS as error:
        raise CheckpointError(
            f"checkpoint {directory}/{epoch} is incomplete or not a codec_jax checkpoint: "
            f"{type(error).__name__}: {_one_line(error)}"
        ) from error


_WRITE_ERRORS = (OSError, RuntimeError, ValueError)


#: Set once a checkpoint write failed: the leftovers of that failure are not logged again.
_FAILED_WRITES: list[str] = []


class _OrbaxFailureFilter(logging.Filter):
    """Drops the ERROR records (with tracebacks) that Orbax's background save threads log for a
    failed write, and asyncio's "... exception was never retrieved" for the futures of a failed
    checkpoint write: :class:`Checkpointer` raises that failure itself, as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        if f"{os.sep}orbax{os.sep}" in record.pathname:
            return False
        return not (_FAILED_WRITES and "exception was never retrieved" in str(record.msg))


def _is_closed_loop_callback(kind: type, value: BaseException, tb: Any) -> bool:
    """A tensorstore write completing after Orbax closed the event loop of a failed save."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return kind is RuntimeError and tb is not None and tb.tb_frame.f_code.co_name == "_check_closed"


def _silence_orbax_write_failures() -> None:
    for name in ("absl", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OrbaxFailureFilter) for f in logger.filters):
            logger.addFilter(_OrbaxFailureFilter())
    if not getattr(sys.unraisablehook, "_codec_jax", False):
        previous = sys.unraisablehook

        def unraisablehook(unraisable):
            if not _is_closed_loop_callback(
                unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback
            ):
                previous(unraisable)

        unraisablehook._codec_jax = True
        sys.unraisablehook = unraisablehook


@contextlib.contextmanager
def _writing(directory: Path, epoch: int | None):
    """Turn an error of an Orbax save (raised when the save starts, or by the wait for an
    asynchronous one) into one ``OSError`` naming the checkpoint directory."""
    try:
        yield
    except CheckpointError:
        raise
    except _WRITE_ERRORS as error:
        cause = error
        while not isinstance(cause, OSError) and cause.__cause__ is not None:
            cause = cause.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else _one_line(error)
        where = directory if epoch is None else directory / str(epoch)
        _FAILED_WRITES.append(str(where))
        raise OSError(
            getattr(cause, "errno", None), f"cannot write the checkpoint: {reason}", str(where)
        ) from error


def _saved_checksums(manager: ocp.CheckpointManager, directory: Path, epoch: int) -> dict[str, str]:
    """The checksums saved with ``epoch`` in ``directory`` ({} for a checkpoint written without
    them); ``manager`` must have a JSON handler for them."""
    if not (directory / str(epoch) / _CHECKSUMS).exists():
        return {}
    with _quiet_partial_restore(), _unreadable(directory, epoch):
        restored = manager.restore(epoch, args=ocp.args.Composite(**{_CHECKSUMS: ocp.args.JsonRestore()}))
    return dict(restored[_CHECKSUMS])


@dataclasses.dataclass(frozen=True)
class Restored:
    """What :meth:`Checkpointer.restore` returns: the state and the three JSON items."""

    epoch: int
    state: Any
    config: dict
    normalisation: dict
    progress: dict


def checkpoint_directory(path: str | os.PathLike) -> Path:
    """The checkpoint directory of a run directory (``RUN/checkpoints``), or ``path`` itself when
    it already is one. Raises :class:`CheckpointError` when neither exists."""
    path = Path(path).expanduser().resolve()
    if (path / CHECKPOINT_SUBDIR).is_dir():
        return path / CHECKPOINT_SUBDIR
    if path.is_dir() and path.name == CHECKPOINT_SUBDIR:
        return path
    if not path.exists():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    raise CheckpointError(f"{path} is not a run directory: it has no {CHECKPOINT_SUBDIR}/ subdirectory")


class Checkpointer:
    """Save a checkpoint per epoch and restore the latest (``--resume``).

    Args:
        directory: the ``checkpoints`` directory (created when missing unless ``read_only``).
        max_to_keep: how many of the most recent epochs to keep on disk.
        read_only: open an existing directory for restoring only.
    """

    def __init__(
        self, directory: str | os.PathLike, *, max_to_keep: int = 2, read_only: bool = False
    ) -> None:
        self.directory = Path(directory).expanduser().resolve()
        if read_only and not self.directory.is_dir():
            raise CheckpointError(f"checkpoint directory {self.directory} does not exist")
        handlers = {"state": ocp.StandardCheckpointHandler()}
        handlers.update({name: ocp.JsonCheckpointHandler() for name in (*_JSON_ITEMS, _CHECKSUMS)})
        with _quiet_partial_restore():  # read-only options and managers warn about what they ignore
            options = ocp.CheckpointManagerOptions(
                max_to_keep=None if read_only else max_to_keep, create=not read_only, read_only=read_only
            )
            with _writing(self.directory, None):
                self._manager = ocp.CheckpointManager(self.directory, item_handlers=handlers, options=options)
        self._last_saved: int | None = None
        if not read_only:
            _silence_orbax_write_failures()

    def save(self, epoch: int, state: Any, *, config: dict, normalisation: dict, progress: dict) -> None:
        """Start saving the checkpoint of ``epoch`` with its checksums (asynchronous; see
        :meth:`wait`)."""
        json_items = {"config": config, "normalisation": normalisation, "progress": progress}
        checksums = state_checksums(state, json_items)
        with _writing(self.directory, self._last_saved if self._last_saved is not None else epoch):
            self._manager.wait_until_finished()  # a failure of the previous save surfaces here
        with _writing(self.directory, epoch):
            self._manager.save(
                epoch,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),
                    **{name: ocp.args.JsonSave(value) for name, value in json_items.items()},
                    **{_CHECKSUMS: ocp.args.JsonSave(checksums)},
                ),
            )
        self._last_saved = epoch

    def latest_epoch(self) -> int | None:
        """The newest saved epoch, or None when the directory holds no checkpoint."""
        return self._manager.latest_step()

    def _existing_epoch(self, epoch: int | None) -> int:
        """``epoch`` (default: the latest), checked to exist on disk."""
        epochs = self.all_epochs()
        if not epochs:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        epoch = max(epochs) if epoch is None else epoch
        if epoch not in epochs:
            raise CheckpointError(f"{self.directory} has no checkpoint of epoch {epoch} (it has {epochs})")
        return epoch

    def all_epochs(self) -> list[int]:
        return list(self._manager.all_steps())

    def restore(self, abstract_state: Any, epoch: int | None = None) -> Restored:
        """Restore ``epoch`` (default: the latest) into the layout of ``abstract_state``.

        ``abstract_state`` comes from ``jax.eval_shape`` (optionally with ``sharding`` set on its
        leaves); the restored arrays get those shardings.
        """
        epoch = self._existing_epoch(epoch)
        expected = _saved_checksums(self._manager, self.directory, epoch)
        try:
            with _quiet_partial_restore():
                restored = self._manager.restore(
                    epoch,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state),
                        **{name: ocp.args.JsonRestore() for name in _JSON_ITEMS},
                    ),
                )
        except _ORBAX_ERRORS as error:
            raise CheckpointError(
                f"checkpoint {self.directory}/{epoch} is damaged or does not match the model being restored: "
                f"{_one_line(error)}"
            ) from error
        json_items = {name: dict(restored[name]) for name in _JSON_ITEMS}
        _verify(f"{self.directory}/{epoch}", expected, state_checksums(restored.state, json_items))
        return Restored(
            epoch=epoch,
            state=restored.state,
            config=dict(restored.config),
            normalisation=dict(restored.normalisation),
            progress=dict(restored.progress),
        )

    def restore_latest_good(self, abstract_state: Any) -> tuple[Restored, list[str]]:
        """Restore the newest checkpoint that passes its checks, deleting the damaged newer ones
        (so that training can write those epochs again).

        Returns ``(restored, skipped)``, ``skipped`` one line per damaged checkpoint passed over.

        Raises:
            CheckpointError: no checkpoint, or none of them restores (the newest one's error).
        """
        skipped: list[str] = []
        errors: list[CheckpointError] = []
        for epoch in sorted(self.all_epochs(), reverse=True):
            try:
                restored = self.restore(abstract_state, epoch)
            except CheckpointError as error:
                skipped.append(str(error))
                errors.append(error)
                continue
            for damaged in sorted(self.all_epochs()):
                if damaged > epoch:
                    self._manager.delete(damaged)
            return restored, skipped
        if errors:
            raise errors[0]
        raise CheckpointError(f"no checkpoint found in {self.directory}")

    def read_json(self, epoch: int | None = None) -> dict[str, dict]:
        """The JSON items (config, normalisation, progress) of ``epoch`` (default: latest)."""
        epoch = self._existing_epoch(epoch)
        expected = _saved_checksums(self._manager, self.directory, epoch)
        with _quiet_partial_restore(), _unreadable(self.directory, epoch):
            restored = self._manager.restore(
                epoch, args=ocp.args.Composite(**{name: ocp.args.JsonRestore() for name in _JSON_ITEMS})
            )
        items = {name: dict(restored[name]) for name in _JSON_ITEMS}
        _verify(f"{self.directory}/{epoch}", expected, {name: _json_digest(v) for name, v in items.items()})
        return items

    def wait(self) -> None:
        """Block until pending asynchronous saves are written (raises their errors as one
        ``OSError`` naming the checkpoint)."""
        with _writing(self.directory, self._last_saved):
            self._manager.wait_until_finished()

    def close(self) -> None:
        """Wait for pending saves and release the manager."""
        try:
            self.wait()
        finally:
            with contextlib.suppress(*_WRITE_ERRORS):
                self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _key_name(path: tuple) -> str:
    return "/".join(str(getattr(entry, "key", getattr(entry, "name", entry))) for entry in path)


def _check_subtree(directory: Path, stored: Any, fresh: Any, subtree: str) -> None:
    """Raise :class:`CheckpointError` naming the first key or shape that differs."""
    stored_leaves = dict((_key_name(p), leaf) for p, leaf in jax.tree_util.tree_leaves_with_path(stored))
    fresh_leaves = dict((_key_name(p), leaf) for p, leaf in jax.tree_util.tree_leaves_with_path(fresh))
    missing = sorted(set(fresh_leaves) - set(stored_leaves))
    unexpected = sorted(set(stored_leaves) - set(fresh_leaves))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {directory}: the {subtree!r} parameters differ from the model's: "
            f"missing in the checkpoint {missing[:5]}, not in the model {unexpected[:5]}"
        )
    for key, leaf in fresh_leaves.items():
        stored_shape = tuple(stored_leaves[key].shape)
        if stored_shape != tuple(np.shape(leaf)):
            raise CheckpointError(
                f"checkpoint {directory}: parameter {subtree}/{key} has shape {stored_shape} in the "
                f"checkpoint but {tuple(np.shape(leaf))} in the model"
            )


def restore_encoder(
    run_dir: str | os.PathLike, params: dict, *, subtree: str = "encoder", epoch: int | None = None
) -> tuple[dict, dict[str, dict]]:
    """Replace ``params[subtree]`` with the one saved in a (pretraining) run directory.

    Args:
        run_dir: the pretraining run directory (or its ``checkpoints`` directory).
        params: freshly initialised parameters ``{"encoder": ..., "projector": ..., "head": ...}``
            (concrete arrays or ``jax.ShapeDtypeStruct`` with shardings); only ``params[subtree]``
            is read from disk, the other subtrees are returned unchanged.
        subtree: the parameter subtree to restore.
        epoch: which checkpoint (default: the latest).

    Returns:
        ``(params, json_items)``: the merged parameters and the checkpoint's ``config``,
        ``normalisation`` and ``progress`` dicts.

    Raises:
        CheckpointError: missing or empty directory, no ``subtree`` in the checkpoint, or any key
            or shape mismatch (named in the message).
    """
    directory = checkpoint_directory(run_dir)
    if subtree not in params:
        raise CheckpointError(f"the model has no {subtree!r} parameters to restore (keys {list(params)})")
    with _quiet_partial_restore():
        manager = ocp.CheckpointManager(
            directory,
            item_handlers={"state": ocp.PyTreeCheckpointHandler()}
            | {name: ocp.JsonCheckpointHandler() for name in (*_JSON_ITEMS, _CHECKSUMS)},
            options=ocp.CheckpointManagerOptions(read_only=True),
        )
        try:
            epoch = manager.latest_step() if epoch is None else epoch
            if epoch is None:
                raise CheckpointError(f"no checkpoint found in {directory}")
            if epoch not in manager.all_steps():
                raise CheckpointError(
                    f"{directory} has no checkpoint of epoch {epoch} (it has {list(manager.all_steps())})"
                )
            with _unreadable(directory, epoch):
                metadata = manager.item_metadata(epoch)["state"]
            tree = getattr(metadata, "tree", metadata)
            stored = (tree or {}).get("params", {}).get(subtree) if isinstance(tree, dict) else None
            if stored is None:
                raise CheckpointError(f"checkpoint {directory}/{epoch} has no params/{subtree} subtree")
            _check_subtree(directory, stored, params[subtree], subtree)
            target = jax.tree.map(lambda leaf: _abstract(leaf), params[subtree])
            with _unreadable(directory, epoch):
                restored = manager.restore(
                    epoch,
                    args=ocp.args.Composite(
                        state=ocp.args.PyTreeRestore(
                            item={"params": {subtree: target}},
                            restore_args=ocp.checkpoint_utils.construct_restore_args(
                                {"params": {subtree: target}}
                            ),
                            partial_restore=True,
                        ),
                        **{name: ocp.args.JsonRestore() for name in _JSON_ITEMS},
                    ),
                )
            expected = _saved_checksums(manager, directory, epoch)
        finally:
            manager.close()
    json_items = {name: dict(restored[name]) for name in _JSON_ITEMS}
    encoder = restored.state["params"][subtree]
    _verify(f"{directory}/{epoch}", expected, state_checksums({"params": {subtree: encoder}}, json_items))
    return {**params, subtree: encoder}, json_items


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return leaf
    sharding = getattr(leaf, "sharding", None)
    return jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype, sharding=sharding)
