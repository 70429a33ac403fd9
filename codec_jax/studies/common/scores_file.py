"""Per-jet test scores of a study in one ROOT file, so that every reported number can be recomputed.

``DIR/test_scores.root`` holds one TTree per test set (MACK: ``nominal`` and ``alternate``; CoDec
tagging: ``test`` and ``sculpting``), one entry per test jet in the order the study evaluated them,
with the jet branches ``label`` (int32, 1 = signal), ``weight`` (float64, the evaluation weight),
``jet_pt`` and ``jet_msd`` (GeV; float64), any extra jet branches a study adds (e.g. ``sample``),
and one float64 branch per model and training seed, named by :func:`score_branch`::

    score__<model>__seed<k>        e.g. score__emd_pairs_frozen__seed0

(the characters ``/ : @ =`` of model names become ``_``). Read it back with :func:`read_test_scores`
or plain uproot (``uproot.open(path)["nominal"].arrays(library="np")``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import uproot

from codec_jax.errors import DataError
from codec_jax.files import atomic_path

__all__ = ["SCORES_FILE", "JET_BRANCHES", "score_branch", "write_test_scores", "read_test_scores"]

SCORES_FILE = "test_scores.root"
#: The jet branches every tree holds (besides study-specific extra ones and the scores).
JET_BRANCHES = ("label", "weight", "jet_pt", "jet_msd")
_REPLACED = re.compile(r"[/:@=]")


def score_branch(model: str, seed: int | str) -> str:
    """``score__<model>__seed<seed>`` with ``/ : @ =`` in the model name replaced by ``_``."""
    return f"score__{_REPLACED.sub('_', model)}__seed{seed}"


def write_test_scores(
    path: str | os.PathLike,
    trees: Mapping[str, Mapping[str, np.ndarray]],
) -> Path:
    """Write ``{tree: {branch: [n_jets] array}}`` atomically as flat TTrees.

    Every tree must hold the :data:`JET_BRANCHES`; all its branches have one entry per jet.
    Integer branches are written as int32 and float ones as float64.

    Raises:
        DataError: a jet branch is missing, lengths differ, or a score is not finite.
    """
    path = Path(path)
    prepared: dict[str, dict[str, np.ndarray]] = {}
    for tree, branches in trees.items():
        missing = [name for name in JET_BRANCHES if name not in branches]
        if missing:
            raise DataError(f"{path}: tree {tree!r} lacks the jet branch(es) {missing}")
        lengths = {name: len(values) for name, values in branches.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(f"{path}: tree {tree!r} has branches of different lengths {lengths}")
        columns = {}
        for name, values in branches.items():
            array = np.asarray(values)
            if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
                columns[name] = array.astype(np.int32)
            else:
                columns[name] = array.astype(np.float64)
                if name.startswith("score__") and not np.all(np.isfinite(columns[name])):
                    raise DataError(f"{path}: tree {tree!r}, branch {name!r} holds NaN/inf scores")
        prepared[tree] = columns
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as file:
            for tree, columns in prepared.items():
                file[tree] = columns
    return path


def read_test_scores(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``{tree: {branch: array}}`` of a file written by :func:`write_test_scores`.

    Raises:
        DataError: the file is missing or not a ROOT file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no test-scores file (written by a finished study)")
    try:
        with uproot.open(path) as file:
            names = sorted({key.split(";")[0] for key in file.keys()})
            return {name: file[name].arrays(library="np") for name in names}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a ROOT file of test scores ({error})") from None
