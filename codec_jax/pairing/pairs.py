"""Positive pairs: the :class:`PairSet` value type and its ``.npz`` files.

A :class:`PairSet` holds rows of a nominal and of an alternate sample that form positive pairs
(MACK: EMD below a cutoff; CoDec: two jets of one class), the EMD of each pair and the settings
of the search that produced them. :func:`save_pairs` writes it atomically, :func:`load_pairs`
reads it back with a clear error naming the file and key when something is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.errors import DataError
from codec_jax.files import atomic_path

__all__ = ["PairSet", "save_pairs", "load_pairs", "read_npz", "json_key"]


def read_npz(path: Path, what: str, writer: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (no pickles); :class:`DataError` naming the file
    when it is missing or unreadable (``what``: e.g. "pairs file"; ``writer``: what writes it)."""
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a {what} written by {writer} ({error})") from None


def json_key(path: Path, contents: dict[str, np.ndarray], key: str) -> Any:
    """The JSON document stored as the string array ``contents[key]`` of ``path``."""
    try:
        return json.loads(str(contents[key]))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: key {key!r} is not valid JSON ({error})") from None


@dataclasses.dataclass(frozen=True, eq=False)
class PairSet:
    """Positive pairs.

    Attributes:
        nominal_index: ``[n_pairs]`` int64 rows of the nominal sample (original indexing).
        alternate_index: ``[n_pairs]`` int64 rows of the alternate sample.
        emd: ``[n_pairs]`` float32 EMD of each pair (GeV unless ``settings["norm"]``).
        settings: JSON-serialisable settings and statistics of the search.
        candidate_emd: optional ``[n_evaluated]`` float32 EMDs of all evaluated candidates.
    """

    nominal_index: np.ndarray
    alternate_index: np.ndarray
    emd: np.ndarray
    settings: dict
    candidate_emd: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nominal_index", np.asarray(self.nominal_index, np.int64))
        object.__setattr__(self, "alternate_index", np.asarray(self.alternate_index, np.int64))
        object.__setattr__(self, "emd", np.asarray(self.emd, np.float32))
        if self.candidate_emd is not None:
            object.__setattr__(self, "candidate_emd", np.asarray(self.candidate_emd, np.float32))
        n = self.nominal_index.shape
        if len(n) != 1 or self.alternate_index.shape != n or self.emd.shape != n:
            raise ValueError(
                "PairSet arrays must all be [n_pairs]; got nominal_index "
                f"{self.nominal_index.shape}, alternate_index {self.alternate_index.shape}, emd {self.emd.shape}"
            )

    def __len__(self) -> int:
        return self.nominal_index.shape[0]

    def summary(self) -> dict[str, float]:
        """Number of pairs and EMD quantiles (5, 50, 95%)."""
        out = {"n_pairs": float(len(self))}
        if len(self):
            for q in (5, 50, 95):
                out[f"emd_q{q}"] = float(np.percentile(self.emd, q))
        return out


# --------------------------------------------------------------------------- files
_REQUIRED = {"nominal_index": np.int64, "alternate_index": np.int64, "emd": np.float32}


def save_pairs(pairs: PairSet, path: str | os.PathLike) -> Path:
    """Write ``pairs`` to an ``.npz`` file atomically (temporary file, then rename)."""
    path = Path(path)
    arrays = {name: getattr(pairs, name) for name in _REQUIRED}
    if pairs.candidate_emd is not None:
        arrays["candidate_emd"] = pairs.candidate_emd
    arrays["settings_json"] = np.array(json.dumps(pairs.settings, sort_keys=True))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_pairs(path: str | os.PathLike) -> PairSet:
    """Read a :class:`PairSet` written by :func:`save_pairs`; raises :class:`DataError` naming the
    file and key when something is missing or malformed."""
    path = Path(path)
    contents = read_npz(path, "pairs file", "save_pairs")
    for name, dtype in (*_REQUIRED.items(), ("settings_json", np.str_)):
        if name not in contents:
            raise DataError(f"{path}: key {name!r} missing (found {sorted(contents)})")
        if not np.issubdtype(contents[name].dtype, dtype):
            raise DataError(
                f"{path}: key {name!r} has dtype {contents[name].dtype}, expected {np.dtype(dtype)}"
            )
    settings = json_key(path, contents, "settings_json")
    if (contents["nominal_index"] < 0).any() or (contents["alternate_index"] < 0).any():
        raise DataError(f"{path}: negative jet indices in 'nominal_index' or 'alternate_index'")
    try:
        return PairSet(
            nominal_index=contents["nominal_index"],
            alternate_index=contents["alternate_index"],
            emd=contents["emd"],
            settings=settings,
            candidate_emd=contents.get("candidate_emd"),
        )
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
