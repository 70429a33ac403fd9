"""EMDs of many candidate pairs in fixed-size chunks: backend choice, progress, certification.

Inputs are host clouds gathered per candidate pair, a :class:`~codec_jax.emd.CloudPair` of
``pt [n, P]`` and ``xy [n, P, 2]`` on each side, and the :class:`~codec_jax.emd.EMDSettings`. The
Sinkhorn backend runs chunks of ``batch_size`` pairs (the last one padded, so the solver compiles
once per shape); the exact backend runs POT's network simplex on all CPU cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from concurrent.futures import Executor, as_completed
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from codec_jax.emd import CloudPair, EMDSettings, exact_emd, sinkhorn_emd_refined, sinkhorn_emd_with_bounds
from codec_jax.errors import ConfigError
from codec_jax.pairing.config import BACKENDS

__all__ = ["BACKENDS", "EMDResult", "pick_backend", "evaluate_emd", "certify", "CERTIFY_MARGIN"]

#: Relative safety margin (times the pair's larger total pT, or 1 for ``norm=True``) applied to
#: the Sinkhorn bounds before they decide ``EMD < C``: covers float32 round-off in the bounds.
CERTIFY_MARGIN = 1e-4


@dataclasses.dataclass(frozen=True)
class EMDResult:
    """EMDs of ``n`` pairs: ``emd [n]`` float64; ``lower``/``upper`` ``[n]`` from Sinkhorn or None."""

    emd: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def pick_backend(backend: str) -> str:
    """Resolve ``"auto"``: the exact solver on a CPU (faster there), Sinkhorn on GPU/TPU."""
    if backend not in BACKENDS:
        raise ConfigError(f"EMD backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend

    return "exact" if jax.default_backend() == "cpu" else "sinkhorn"


def _progress(total: int, enabled: bool, desc: str):

    return tqdm(total=total, disable=not enabled, desc=desc, unit="pair", leave=False)


def evaluate_emd(
    pair: CloudPair,
    settings: EMDSettings,
    *,
    backend: str = "auto",
    batch_size: int = 1024,
    sinkhorn_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    refine_tolerance: float | None = None,
    executor: Executor | None = None,
) -> EMDResult:
    """EMD of each of the ``n`` pairs of ``pair`` (host clouds ``pt [n, P]``, ``xy [n, P, 2]``)
    with the chosen backend (``"auto"``, ``"exact"`` or ``"sinkhorn"``), ``batch_size`` at a time;
    with ``refine_tolerance``, Sinkhorn pairs whose bracket is wider are solved again
    (:func:`codec_jax.emd.sinkhorn_emd_refined`). With ``executor`` (a Dask cluster's, a process
    pool, ...: :mod:`codec_jax.executors`) the exact backend's chunks are solved there, each
    with the solver's own threads; the values are the same."""

    backend = pick_backend(backend)
    n = pair.n_pairs
    emd = np.zeros(n, np.float64)
    if backend == "exact" and executor is not None:
        starts = range(0, n, batch_size)
        futures = {
            executor.submit(exact_emd, pair.take(slice(start, min(start + batch_size, n))), settings): start
            for start in starts
        }
        with _progress(n, progress, "EMD (exact, executor)") as bar:
            for future in as_completed(futures):
                start = futures[future]
                values = future.result()
                emd[start : start + len(values)] = values
                bar.update(len(values))
        return EMDResult(emd)
    if backend == "exact":
        with _progress(n, progress, "EMD (exact)") as bar:
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                emd[start:stop] = exact_emd(pair.take(slice(start, stop)), settings)
                bar.update(stop - start)
        return EMDResult(emd)
    lower, upper = np.zeros(n, np.float64), np.zeros(n, np.float64)
    options = dict(sinkhorn_options or {})
    with _progress(n, progress, "EMD (Sinkhorn)") as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            rows = np.minimum(np.arange(start, start + batch_size), n - 1)
            if refine_tolerance is None:
                out = sinkhorn_emd_with_bounds(pair.take(rows), settings, **options)
            else:
                out = sinkhorn_emd_refined(pair.take(rows), settings, tolerance=refine_tolerance, **options)
            used = stop - start
            emd[start:stop] = np.asarray(out.emd)[:used]
            lower[start:stop] = np.asarray(out.lower)[:used]
            upper[start:stop] = np.asarray(out.upper)[:used]
            bar.update(used)
    return EMDResult(emd, lower, upper)


def certify(
    result: EMDResult, pair: CloudPair, settings: EMDSettings, *, cutoff: float
) -> tuple[EMDResult, dict[str, float]]:
    """Make ``result.emd < cutoff`` agree with the exact EMD for every pair of ``pair``.

    Pairs with ``upper < C - margin`` are positives and pairs with ``lower >= C + margin`` are
    negatives (their Sinkhorn value lies in the bracket, so it is on the right side of ``C``); the
    undecided rest is solved exactly and gets the exact value.
    """
    if result.lower is None or result.upper is None:
        raise ValueError("certify needs Sinkhorn bounds (lower/upper)")

    if settings.norm:
        scale = np.ones(pair.n_pairs)
    else:
        scale = np.maximum(pair.a.pt.sum(axis=1), pair.b.pt.sum(axis=1)).astype(np.float64)
    margin = CERTIFY_MARGIN * np.maximum(scale, 1e-12)
    decided = (result.upper < cutoff - margin) | (result.lower >= cutoff + margin)
    undecided = np.flatnonzero(~decided)
    emd = result.emd.copy()
    if len(undecided):
        emd[undecided] = exact_emd(pair.take(undecided), settings)
    stats = {
        "n_certified_by_bounds": int(decided.sum()),
        "n_exact_for_certification": int(len(undecided)),
        "fraction_decided_by_bounds": float(decided.mean()) if len(decided) else 1.0,
    }
    return EMDResult(emd, result.lower, result.upper), stats
