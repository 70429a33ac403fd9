"""Files on disk: atomic writes, output sets, and one-line descriptions of operating-system errors.

Everything codec_jax writes goes through :class:`atomic_path` (a temporary file in the target's
directory, renamed onto the target on success), so a killed job never leaves a half-written file
behind; :func:`describe_os_error` turns an ``OSError`` into the one line the command line prints.

Outputs that belong together (``flatten``'s ``signal.root`` + ``background.root``) are written as
a set with :func:`output_set`: a marker ``.codec_jax_set.writing`` is created before the first
file and removed after a manifest ``.codec_jax_set.json`` (SHA-256 of every member) is written
last. :func:`check_set_member`, called by every reader of those files
(:func:`codec_jax.data.io.read_root`), refuses a member of a set whose writing did not finish (a
killed run that overwrote part of an earlier one) or that differs from its manifest, so a reader
never mixes two runs.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from codec_jax.errors import ConfigError, DataError

__all__ = [
    "atomic_path",
    "naming_path",
    "output_set",
    "check_set_member",
    "SET_MANIFEST",
    "SET_WRITING",
    "describe_os_error",
    "expand_paths",
    "refuse_overwriting_inputs",
]

#: The manifest of a finished output set (member name -> SHA-256, and the producer).
SET_MANIFEST = ".codec_jax_set.json"
#: Present while an output set is being written (holds the producer's name).
SET_WRITING = ".codec_jax_set.writing"


class atomic_path:  # noqa: N801 - used as a context manager, reads like a function
    """Context manager yielding a temporary path next to ``path``; renamed onto ``path`` on
    success, deleted on failure. Parent directories are created.

    Example::

        with atomic_path("out/sample.root") as tmp:
            write_something(tmp)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as error:
            raise DataError(f"cannot write {describe_os_error(error, self.path)}") from error
        os.close(handle)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                os.replace(self.tmp, self.path)
            except OSError as error:
                self.tmp.unlink(missing_ok=True)
                raise naming_path(error, self.path) from error
            return
        self.tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # e.g. a full disk during the write
            raise naming_path(exc, self.path) from exc


def naming_path(error: OSError, path: str | os.PathLike) -> OSError:
    """``error`` itself when it names a file, else the same error (errno, reason) about ``path``:
    a write that fails on a full disk raises ``OSError(28)`` without a file name."""
    if error.filename is not None:
        return error
    return type(error)(error.errno, error.strerror or str(error) or type(error).__name__, str(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def output_set(directory: str | os.PathLike, producer: str) -> Iterator[list[Path]]:
    """Write several files of ``directory`` as one set; yields a list to which the caller appends
    the path of every member it writes (each written atomically, e.g. with :class:`atomic_path`).

    On success the manifest (members and their SHA-256) is written and the writing marker
    removed; on failure the marker stays, so :func:`check_set_member` refuses every member until
    a rerun finishes. ``producer`` (e.g. ``"codec-jax flatten"``) is named in those errors.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / SET_WRITING) as tmp:
        tmp.write_text(producer)
    (directory / SET_MANIFEST).unlink(missing_ok=True)
    members: list[Path] = []
    yield members
    manifest = {"producer": producer, "files": {Path(p).name: _sha256(Path(p)) for p in members}}
    with atomic_path(directory / SET_MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    (directory / SET_WRITING).unlink(missing_ok=True)


def check_set_member(path: str | os.PathLike) -> None:
    """Refuse ``path`` if it belongs to an output set (:func:`output_set`) that is unfinished or
    whose manifest records other contents.

    Raises:
        DataError: naming the file and the producer to rerun.
    """
    path = Path(path)
    writing = path.parent / SET_WRITING
    if writing.is_file():
        producer = writing.read_text().strip() or "the command that wrote it"
        raise DataError(
            f"{path}: its directory holds an unfinished output set ({producer} was interrupted while "
            "writing it, so its files may come from two runs); rerun it"
        )
    manifest_path = path.parent / SET_MANIFEST
    if not manifest_path.is_file():
        return
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["files"].get(path.name)
    except (ValueError, KeyError, AttributeError):
        raise DataError(
            f"{manifest_path}: damaged output-set manifest; rerun the command that wrote it"
        ) from None
    if expected is not None and _sha256(path) != expected:
        raise DataError(
            f"{path} differs from the file {manifest.get('producer', 'its producer')} wrote with the rest of "
            f"its set ({manifest_path}): it was replaced afterwards, so the set may mix two runs"
        )


def expand_paths(patterns: Iterable[str | os.PathLike], *, what: str, check_files: bool = True) -> list[Path]:
    """Files from paths and glob patterns (``*``, ``?``, ``[...]``), in the order given, each
    pattern's matches sorted by name -- shard files ``part_*.root`` stay in shard order.

    Raises:
        DataError: a pattern matches nothing, or (``check_files``) a path is not a file (``what``
            names the setting, e.g. ``"data.train"`` or ``"--data"``).
        ConfigError: no input at all.
    """
    patterns = [str(pattern) for pattern in patterns]
    if not patterns:
        raise ConfigError(f"{what} is empty: list the files to read")
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern))) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise DataError(f"{what} {pattern!r} matches no file")
        for match in matches:
            path = Path(match)
            if check_files and not path.is_file():
                raise DataError(f"{path}: no such input file ({what})")
            files.append(path)
    return files


def describe_os_error(error: OSError, target: str | os.PathLike | None = None) -> str:
    """One line naming the path an ``OSError`` is about and why, e.g. ``out/a.root: out is a file,
    not a directory`` or ``runs/x: Permission denied``; ``target`` is the path the caller meant
    to write (default: the error's own path)."""
    path = error.filename
    if path is None:
        return " ".join(str(error).split()) or type(error).__name__
    subject = target if target is not None else path
    if isinstance(error, (NotADirectoryError, FileExistsError)):
        for parent in (Path(path), *Path(path).parents):
            if parent.exists() and not parent.is_dir():
                return f"{subject}: {parent} is a file, not a directory"
    reason = error.strerror or type(error).__name__
    if str(subject) != str(path):
        reason += f" ({path})"
    if getattr(error, "filename2", None):
        reason += f" (-> {error.filename2})"
    return f"{subject}: {reason}"


def refuse_overwriting_inputs(
    inputs: Iterable[str | os.PathLike],
    *,
    files: Iterable[str | os.PathLike | None] = (),
    directories: Iterable[str | os.PathLike | None] = (),
) -> None:
    """Refuse, before any work, outputs that would overwrite an input.

    Paths are compared after resolving symlinks. An output file may not be an input; an output
    directory may not contain an input (at any depth) nor be one.

    Args:
        inputs: the files (or directories) a command reads.
        files: the files it will write (``None`` entries are skipped).
        directories: the directories it will write into.

    Raises:
        ConfigError: naming the output and the input it would overwrite.
    """

    resolved = [(Path(path), Path(path).expanduser().resolve()) for path in inputs]
    for output in files:
        if output is None:
            continue
        target = Path(output).expanduser().resolve()
        for given, source in resolved:
            if target == source:
                raise ConfigError(f"the output {output} is the input {given}: it would be overwritten")
    for output in directories:
        if output is None:
            continue
        target = Path(output).expanduser().resolve()
        for given, source in resolved:
            if target == source or target in source.parents:
                raise ConfigError(
                    f"the output directory {output} contains the input {given}: its files could be "
                    "overwritten; choose another directory"
                )
