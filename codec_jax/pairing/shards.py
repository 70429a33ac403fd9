"""Sharded pair search: shard ``i`` of ``N`` solves a slice of the candidate EMDs, a merge applies C.

:func:`find_pair_shard` draws the candidates exactly as :func:`~codec_jax.pairing.find_pairs`
(the same seed gives the same candidates in every shard: each shard draws all of them, which is
cheap, and keeps its slice) and solves the EMDs of the ``i``-th of ``N`` contiguous slices of
the candidate list. The slices are cut at multiples of ``batch_size``, so every solver call sees
the same pairs as in the unsharded search. Candidates are sorted by nominal jet (``ot_plan``: by
block), so a shard handles about ``1/N`` of the nominal jets. The shard keeps every solved
candidate and its EMD, not yet cut: a quantile cutoff needs all shards' EMDs.
:func:`merge_pair_shards` checks that the shards are the ``N`` shards of one job and returns the
:class:`~codec_jax.pairing.PairSet` of the unsharded search: the same pairs in the same order, the
same candidate EMDs and settings, plus ``settings["merged_shards"] = N``.

A *pair shard file* (``.npz``, written atomically by :func:`save_pair_shard`) holds
``nominal_index``/``alternate_index`` ``[m]`` int64 (sample rows), ``emd`` ``[m]`` float64 (the
solver's values; certified for ``certified`` with a fixed cutoff), ``block`` ``[m]`` int64
(``ot_plan`` only) and ``shard_json``: the shard ``i/N``, its slice ``[start, stop)`` of the
``n_evaluated`` candidates to solve, the search record and counts, the job (config, seed,
backend), the SHA-256 of the input clouds, the provenance (``inputs``: file names) and the
``digest`` of job + inputs + ``N`` that every shard of one job shares.

Not shardable (:class:`ConfigError`): ``oracle`` pairs; a quantile cutoff with pruning
(``prune`` or ``prefiltered``: which candidates to solve depends on all EMDs) or with Sinkhorn
certification (which needs C first). Use a fixed ``cutoff`` there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.data.generation_plan import check_shard
from codec_jax.emd import emd_lower_bound
from codec_jax.errors import ConfigError, DataError
from codec_jax.files import atomic_path, refuse_overwriting_inputs
from codec_jax.jets import JetSample
from codec_jax.pairing.config import PairingConfig
from codec_jax.pairing.evaluate import certify, pick_backend
from codec_jax.pairing.pairs import PairSet, json_key, read_npz
from codec_jax.pairing.search import (
    Candidates,
    draw_candidates,
    finish_pairs,
    quantile_cutoff,
    seed_entropy,
)

__all__ = [
    "PairShard",
    "check_shard",
    "shard_slice",
    "find_pair_shard",
    "save_pair_shard",
    "load_pair_shard",
    "merge_pair_shards",
]

FORMAT = "codec_jax pair shard"
VERSION = 1
#: Certification counts that add up over shards (the fraction is recomputed from them).
_CERTIFY_COUNTS = ("n_certified_by_bounds", "n_exact_for_certification")
#: Candidates per call of the cheap lower bound (bounds memory; the values do not depend on it).
_BOUND_SLICE = 65_536


@dataclasses.dataclass(frozen=True, eq=False)
class PairShard:
    """The solved candidates of shard ``i`` of ``N``.

    Attributes:
        nominal_index, alternate_index: ``[m]`` int64 sample rows of the candidates, in order.
        emd: ``[m]`` float64 their EMDs.
        block: ``[m]`` int64 ``ot_plan`` blocks, or None.
        header: JSON-ready: ``shard`` ("i/N"), ``start``/``stop``/``n_evaluated``, ``record``,
            ``stats``, ``job``, ``inputs_sha256``, ``inputs``, ``digest``.
    """

    nominal_index: np.ndarray
    alternate_index: np.ndarray
    emd: np.ndarray
    block: np.ndarray | None
    header: dict

    @property
    def shard(self) -> tuple[int, int]:
        """``(i, N)``."""
        index, count = self.header["shard"].split("/")
        return int(index), int(count)


def shard_slice(n: int, batch_size: int, shard: tuple[int, int]) -> slice:
    """Shard ``(i, N)``'s contiguous slice of ``n`` candidates: the ``i``-th of ``N`` near-equal
    runs of whole solver batches of ``batch_size`` (the last batch may be short)."""
    index, count = check_shard(shard)
    batches = -(-n // batch_size)
    return slice(
        min(index * batches // count * batch_size, n), min((index + 1) * batches // count * batch_size, n)
    )


def _refuse_unshardable(config: PairingConfig, backend: str) -> None:
    if config.strategy == "oracle":
        raise ConfigError("pairing.strategy='oracle' has no candidate search to shard; run it unsharded")
    if config.cutoff is not None:
        return
    if config.prune or config.strategy == "prefiltered":
        raise ConfigError(
            "a sharded search cannot prune with a quantile cutoff (pairing.prune or strategy "
            "'prefiltered': which candidates to solve depends on every shard's EMDs); set a fixed "
            "pairing.cutoff, or leave out pruning"
        )
    if config.certified and backend == "sinkhorn":
        raise ConfigError(
            "a sharded search cannot certify against a quantile cutoff (C needs every shard's EMDs "
            "first); set a fixed pairing.cutoff, or use the exact backend"
        )


def _inputs_sha256(found: Candidates) -> str:
    """SHA-256 of what the search reads from the samples: the rows and their clouds."""
    digest = hashlib.sha256()
    for array in (found.nominal_rows, found.alternate_rows, *found.a, *found.b):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _job(key: Any, config: PairingConfig, backend: str) -> dict:
    return {
        "config": json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)),
        "seed": seed_entropy(key),
        "backend": backend,
    }


def _digest(job: dict, inputs_sha256: str, count: int) -> str:
    text = json.dumps({"job": job, "inputs_sha256": inputs_sha256, "shards": count}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _bound(found: Candidates) -> np.ndarray:
    """``[n_candidates]`` cheap lower bounds, computed a slice at a time (row by row, so the same
    values as one call)."""
    n = len(found.ia)
    parts = [
        emd_lower_bound(found.pairs(np.arange(start, min(start + _BOUND_SLICE, n))), found.settings)
        for start in range(0, n, _BOUND_SLICE)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def find_pair_shard(
    key: Any,
    nominal: JetSample,
    alternate: JetSample,
    config: PairingConfig,
    shard: tuple[int, int],
    *,
    progress: bool = True,
    executor: Executor | None = None,
    inputs: Mapping[str, str] | None = None,
) -> PairShard:
    """Shard ``(i, N)`` of :func:`~codec_jax.pairing.find_pairs` with the same arguments.

    Args:
        shard: ``(i, N)``, ``0 <= i < N``.
        inputs: provenance recorded in the header (e.g. ``{"nominal": path, ...}``), not compared.

    Raises:
        ConfigError: a bad shard or config, or a config that cannot be sharded (module docs).
    """
    if not isinstance(config, PairingConfig):
        raise TypeError(f"find_pair_shard takes a PairingConfig, got {type(config).__name__}")
    index, count = check_shard(shard)
    config.validate()
    _refuse_unshardable(config, pick_backend(config.backend))
    found = draw_candidates(key, nominal, alternate, config)
    n_candidates = len(found.ia)
    evaluated = np.arange(n_candidates)
    stats: dict[str, Any] = {"n_candidates": int(n_candidates), "n_skipped_by_bound": 0}
    if config.prune or config.strategy == "prefiltered":  # a fixed cutoff (else refused above)
        evaluated = np.flatnonzero(_bound(found) < config.cutoff)
        stats["n_skipped_by_bound"] = int(n_candidates - len(evaluated))
    part = shard_slice(len(evaluated), config.batch_size, (index, count))
    rows = evaluated[part]
    result = found.evaluate(rows, progress=progress, executor=executor)
    if config.certified and result.lower is not None:  # a fixed cutoff (else refused above)
        result, certify_stats = certify(result, found.pairs(rows), found.settings, cutoff=config.cutoff)
        stats.update({name: certify_stats[name] for name in _CERTIFY_COUNTS})
    job = _job(key, config, found.backend)
    inputs_sha256 = _inputs_sha256(found)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "shard": f"{index}/{count}",
        "start": int(part.start),
        "stop": int(part.stop),
        "n_evaluated": int(len(evaluated)),
        "record": found.record(),
        "stats": stats,
        "job": job,
        "inputs_sha256": inputs_sha256,
        "inputs": {name: str(value) for name, value in (inputs or {}).items()},
        "digest": _digest(job, inputs_sha256, count),
    }
    return PairShard(
        nominal_index=found.nominal_rows[found.ia[rows]],
        alternate_index=found.alternate_rows[found.ib[rows]],
        emd=np.asarray(result.emd, np.float64),
        block=None if found.block is None else found.block[rows],
        header=header,
    )


# --------------------------------------------------------------------------- files
def save_pair_shard(shard: PairShard, path: str | os.PathLike) -> Path:
    """Write ``shard`` to an ``.npz`` file atomically; returns the path."""
    path = Path(path)
    arrays = {
        "nominal_index": np.asarray(shard.nominal_index, np.int64),
        "alternate_index": np.asarray(shard.alternate_index, np.int64),
        "emd": np.asarray(shard.emd, np.float64),
        "shard_json": np.array(json.dumps(shard.header, sort_keys=True)),
    }
    if shard.block is not None:
        arrays["block"] = np.asarray(shard.block, np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


_ARRAYS = {"nominal_index": np.int64, "alternate_index": np.int64, "emd": np.float64}
_HEADER = ("shard", "start", "stop", "n_evaluated", "record", "stats", "job", "inputs_sha256", "digest")


def load_pair_shard(path: str | os.PathLike) -> PairShard:
    """Read a shard written by :func:`save_pair_shard`; :class:`DataError` naming the file when it
    is missing, not a pair shard file, or inconsistent."""
    path = Path(path)
    contents = read_npz(path, "pair shard file", "codec-jax pair --shard")
    if "shard_json" not in contents:
        raise DataError(
            f"{path}: not a pair shard file (no 'shard_json'; written by codec-jax pair without --shard?)"
        )
    header = json_key(path, contents, "shard_json")
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DataError(f"{path}: not a version-{VERSION} pair shard file")
    missing = [name for name in _HEADER if name not in header]
    if missing:
        raise DataError(f"{path}: 'shard_json' lacks {missing}")
    for name, dtype in _ARRAYS.items():
        if name not in contents or contents[name].dtype != dtype or contents[name].ndim != 1:
            raise DataError(f"{path}: key {name!r} missing or not a [m] {np.dtype(dtype)} array")
    sizes = {len(contents[name]) for name in (*_ARRAYS, *(["block"] if "block" in contents else []))}
    if sizes != {header["stop"] - header["start"]}:
        raise DataError(
            f"{path}: its arrays hold {sorted(sizes)} candidates, its slice [{header['start']}, "
            f"{header['stop']}) {header['stop'] - header['start']}"
        )
    shard = PairShard(
        contents["nominal_index"], contents["alternate_index"], contents["emd"], contents.get("block"), header
    )
    try:
        index, count = check_shard(shard.shard)
    except (ConfigError, ValueError, AttributeError):
        raise DataError(f"{path}: bad shard {header['shard']!r} in 'shard_json'") from None
    if header["digest"] != _digest(header["job"], header["inputs_sha256"], count):
        raise DataError(f"{path}: its digest does not match its settings and inputs (the file was edited)")
    return shard


# --------------------------------------------------------------------------- merge
def _check_same_job(shards: list[tuple[Path, PairShard]]) -> None:
    (first, reference), *others = shards
    for path, shard in others:
        if shard.header["digest"] == reference.header["digest"]:
            continue
        if shard.shard[1] != reference.shard[1]:
            reason = f"it is shard {shard.header['shard']}, that one {reference.header['shard']}"
        elif shard.header["job"] != reference.header["job"]:
            ours, theirs = shard.header["job"], reference.header["job"]
            config = {**ours["config"], "seed": ours["seed"], "backend": ours["backend"]}
            other = {**theirs["config"], "seed": theirs["seed"], "backend": theirs["backend"]}
            reason = f"settings differ: {sorted(k for k in set(config) | set(other) if config.get(k) != other.get(k))}"
        else:
            reason = "their input samples differ"
        raise DataError(f"{path} is not a shard of the same pairing job as {first}: {reason}")


def merge_pair_shards(paths: Sequence[str | os.PathLike], *, out: str | os.PathLike | None = None) -> PairSet:
    """The :class:`PairSet` of the unsharded search from all ``N`` shard files of one job (any
    order); ``settings["merged_shards"] = N`` records the merge.

    Args:
        paths: the shard files.
        out: the file the caller will write, refused if it is one of ``paths``.

    Raises:
        DataError: a file that is not a shard, shards of different jobs (settings or inputs), a
            shard missing or given twice.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise ConfigError("no pair shard files to merge")
    refuse_overwriting_inputs(paths, files=[out])
    shards = [(path, load_pair_shard(path)) for path in paths]
    _check_same_job(shards)
    by_index: dict[int, tuple[Path, PairShard]] = {}
    for path, shard in shards:
        index, count = shard.shard
        if index in by_index:
            raise DataError(f"{path} and {by_index[index][0]} are both shard {index}/{count}")
        by_index[index] = (path, shard)
    count = shards[0][1].shard[1]
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        raise DataError(f"the pairing job has {count} shards; missing {missing} (given {len(paths)} files)")
    ordered = [by_index[index][1] for index in range(count)]
    stop = 0
    for index, shard in enumerate(ordered):
        if shard.header["start"] != stop or shard.header["n_evaluated"] != ordered[0].header["n_evaluated"]:
            raise DataError(f"{by_index[index][0]}: its slice does not continue shard {index - 1}'s")
        stop = shard.header["stop"]
    if stop != ordered[0].header["n_evaluated"]:
        raise DataError(
            f"{by_index[count - 1][0]}: the shards cover {stop} of {ordered[0].header['n_evaluated']} candidates"
        )
    emd = np.concatenate([shard.emd for shard in ordered])
    record = ordered[0].header["record"]
    stats = dict(ordered[0].header["stats"])
    if _CERTIFY_COUNTS[0] in stats:
        for name in _CERTIFY_COUNTS:
            stats[name] = int(sum(shard.header["stats"][name] for shard in ordered))
        stats["fraction_decided_by_bounds"] = stats[_CERTIFY_COUNTS[0]] / len(emd) if len(emd) else 1.0
    cutoff = record["cutoff"]
    if cutoff is None:
        cutoff = quantile_cutoff(emd, record["cutoff_quantile"])
    blocks = [shard.block for shard in ordered]
    pairs = finish_pairs(
        record,
        stats,
        np.concatenate([shard.nominal_index for shard in ordered]),
        np.concatenate([shard.alternate_index for shard in ordered]),
        emd,
        cutoff,
        block=None if any(block is None for block in blocks) else np.concatenate(blocks),
    )
    pairs.settings["merged_shards"] = count
    return pairs
