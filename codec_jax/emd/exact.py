"""Exact EMD on the CPU with POT's network simplex, in parallel threads or processes.

The same definition and arguments as :func:`codec_jax.emd.sinkhorn_emd` (see that module): a
:class:`~codec_jax.emd.CloudPair` and :class:`~codec_jax.emd.EMDSettings`; the energy difference
goes through a dummy particle on the lighter jet at ground distance 1. Padded
particles (pT <= 0) are trimmed before solving (the solver is faster on small problems), and the
problem is solved in float64 after normalising the weights to sum to one.

POT (``pip install pot``, in the ``dev`` extra) is imported lazily; a missing POT raises an
:class:`ImportError` naming the package.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from codec_jax.emd.inputs import CloudPair, EMDSettings, ParticleClouds, check_inputs

__all__ = ["exact_emd", "exact_emd_pair"]


def _import_pot():
    try:
        import ot
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "exact_emd needs the POT package (Python Optimal Transport): pip install pot "
            "(it is part of codec_jax's `dev` extra)"
        ) from error
    return ot


def exact_emd_pair(pair: CloudPair, settings: EMDSettings | None = None) -> float:
    """Exact EMD of one pair: clouds without batch axis, ``pair.a`` ``pt [P]``, ``xy [P, 2]`` and
    ``pair.b`` ``pt [Q]``, ``xy [Q, 2]`` (e.g. ``batch.take(i)``); in GeV unless ``settings.norm``."""
    pair, settings = check_inputs(pair, settings, batched=False)
    return _solve_one(pair, settings, _import_pot())


def _solve_one(pair: CloudPair, settings: EMDSettings, ot) -> float:
    (a_pt, a_xy), (b_pt, b_xy) = pair
    R, beta, norm = settings.R, settings.beta, settings.norm
    keep_a, keep_b = a_pt > 0, b_pt > 0
    a_w = np.asarray(a_pt, np.float64)[keep_a]
    b_w = np.asarray(b_pt, np.float64)[keep_b]
    a_sum, b_sum = a_w.sum(), b_w.sum()
    if norm:
        if a_sum == 0 and b_sum == 0:
            return 0.0
        if a_sum == 0 or b_sum == 0:
            return 1.0
        a_w, b_w, scale = a_w / a_sum, b_w / b_sum, 1.0
        a_dummy = b_dummy = 0.0
    else:
        scale = max(a_sum, b_sum)
        if scale == 0:
            return 0.0
        a_w, b_w = a_w / scale, b_w / scale
        a_dummy, b_dummy = (scale - a_sum) / scale, (scale - b_sum) / scale
    delta = np.asarray(a_xy, np.float64)[keep_a][:, None, :] - np.asarray(b_xy, np.float64)[keep_b][None]
    d_phi = np.mod(delta[..., 1] + np.pi, 2.0 * np.pi) - np.pi
    cost = ((delta[..., 0] ** 2 + d_phi**2) / (R * R)) ** (0.5 * beta)
    # Dummy row/column at ground distance 1 (dummy-dummy 0); empty ones are dropped.
    cost = np.pad(cost, ((0, 1), (0, 1)), constant_values=1.0)
    cost[-1, -1] = 0.0
    a = np.append(a_w, a_dummy)
    b = np.append(b_w, b_dummy)
    rows, cols = a > 0, b > 0
    a, b = a[rows], b[cols]
    b *= a.sum() / b.sum()  # exact balance in float64
    cost = np.ascontiguousarray(cost[np.ix_(rows, cols)])
    value = ot.emd2(a, b, cost, numItermax=1_000_000)
    return float(scale * value)


def _solve_chunk(pair: CloudPair, settings: EMDSettings) -> np.ndarray:
    ot = _import_pot()
    return np.array([_solve_one(pair.take(i), settings, ot) for i in range(pair.n_pairs)], np.float64)


def _quiet_pot_backends() -> None:
    """Workers need POT's NumPy backend only: skip importing JAX, PyTorch, CuPy, TensorFlow."""
    for name in ("JAX", "PYTORCH", "CUPY", "TENSORFLOW"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{name}", "1")


@functools.cache
def _process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned processes, started once and reused, shut down at exit. Spawned, not
    forked: forking a process that runs JAX's threads can deadlock."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_pot_backends
    )
    atexit.register(pool.shutdown, wait=True, cancel_futures=True)
    return pool


def exact_emd(
    pair: CloudPair,
    settings: EMDSettings | None = None,
    *,
    workers: int | None = None,
    executor: str = "threads",
    chunk_size: int | None = None,
) -> np.ndarray:
    """Exact EMD of each pair, ``[batch]`` float64 (GeV unless ``settings.norm``).

    Args:
        pair: ``pair.a`` ``pt [batch, P]`` (GeV, zero marks padding), ``xy [batch, P, 2]``
            (eta, phi) relative to the jet axis; ``pair.b`` ``pt [batch, Q]``, ``xy [batch, Q, 2]``.
        settings: R, beta, norm (default ``EMDSettings()``: R = 0.8, beta = 1, norm = False).
        workers: parallel workers (default: all CPU cores; 1 solves in this thread).
        executor: ``"threads"`` (POT's C++ solver releases the GIL, but the per-pair Python
            work does not) or ``"processes"`` (a spawned pool, started once and reused; the
            calling script needs the usual ``if __name__ == "__main__":`` guard).
        chunk_size: pairs per task (default: a quarter of each worker's share, at least 16).
    """
    _import_pot()
    pair, settings = check_inputs(pair, settings)
    pair = CloudPair(*(ParticleClouds(np.asarray(c.pt), np.asarray(c.xy)) for c in pair))
    if executor not in ("threads", "processes"):
        raise ValueError(f"executor must be 'threads' or 'processes', got {executor!r}")
    n = pair.n_pairs
    workers = workers or os.cpu_count() or 1
    chunk_size = chunk_size or max(16, -(-n // (4 * workers)))
    if workers == 1 or n <= chunk_size:
        return _solve_chunk(pair, settings)
    chunks = [pair.take(slice(s, s + chunk_size)) for s in range(0, n, chunk_size)]
    if executor == "processes":
        pool = _process_pool(workers)
        return np.concatenate(list(pool.map(_solve_chunk, chunks, [settings] * len(chunks))))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.concatenate(list(pool.map(_solve_chunk, chunks, [settings] * len(chunks))))
