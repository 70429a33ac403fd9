"""Files on disk: atomic writes and one-line descriptions of operating-system errors.

Everything codec_jax writes goes through :class:`atomic_path` (a temporary file in the target's
directory, renamed onto the target on success), so a killed job never leaves a half-written file
behind; :func:`describe_os_error` turns an ``OSError`` into the one line the command line prints.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from codec_jax.errors import ConfigError, DataError

__all__ = ["atomic_path", "describe_os_error", "refuse_overwriting_inputs"]


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
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


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
