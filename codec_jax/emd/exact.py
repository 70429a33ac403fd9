"""Exact EMD on the CPU: chunks of pairs set up in vectorised NumPy and solved by a compiled
network simplex (numba's, :mod:`codec_jax.emd.transport_simplex`, or POT's), in parallel threads
(or processes).

The same definition and arguments as :func:`codec_jax.emd.sinkhorn_emd` (see that module): a
:class:`~codec_jax.emd.CloudPair` and :class:`~codec_jax.emd.EMDSettings`; the energy difference
goes through a dummy particle on the lighter jet at ground distance 1. Padded particles
(pT <= 0) are trimmed before solving, and each problem is solved in float64 after normalising
the weights (by the heavier jet's pT sum, or each jet's own with ``norm``).

How: a chunk of pairs is set up 256 pairs at a time in vectorised NumPy (trimming the padding,
normalising the weights, adding the dummy particle). When numba imports (the default,
``_SOLVER = "numba"``), the whole block then goes to the compiled, GIL-free
:func:`~codec_jax.emd.transport_simplex.solve_chunk_points`, which fills each pair's cost matrix
and solves it with a transportation simplex written for this project, looping over the pairs in
compiled code. Without numba (or with ``_SOLVER = "pot"``) the cost matrices are filled in NumPy
and each pair goes to POT's compiled ``ot.lp.emd_wrap.emd_c``, which releases the GIL while it
solves. benchmarks/exact_emd.py (3,000 toy-jet pairs, R = 0.8, beta = 1, idle 2-core machine;
benchmarks/RESULTS.md): one worker 49,900 pairs/s with 30 particles and 5,500 with 100 (1.56x and
1.81x energyflow's single-threaded C++ solver, 3.7x and 4.1x the POT path), two threads 1.84x
and 1.96x one worker.

POT (``pip install pot``, in the ``dev`` extra, with numba) is required and imported lazily; a
missing POT raises an :class:`ImportError` naming the package.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from codec_jax.emd.inputs import CloudPair, EMDSettings, ParticleClouds, check_inputs

__all__ = ["exact_emd", "exact_emd_pair"]

_MAX_ITER = 1_000_000
_BLOCK = 256  # pairs set up at once (bounds the memory of the cost matrices)
# "numba": codec_jax.emd.transport_simplex (compiled, whole blocks without the GIL) when numba
# imports, else POT; "pot": POT's emd_c per pair. Module-level so tests can compare the two.
_SOLVER = "numba"


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
    _import_pot()
    pair = CloudPair(*(ParticleClouds(np.asarray(c.pt)[None], np.asarray(c.xy)[None]) for c in pair))
    return float(_solve_chunk(pair, settings)[0])


def _host_chunk(pair: CloudPair) -> tuple[np.ndarray, ...]:
    """``a_pt [n, P]``, ``a_xy [n, P, 2]``, ``b_pt [n, Q]``, ``b_xy [n, Q, 2]`` as C-ordered float64."""
    return tuple(np.ascontiguousarray(x, np.float64) for cloud in pair for x in cloud)


def _solve_chunk(pair: CloudPair, settings: EMDSettings) -> np.ndarray:
    """EMD ``[n]`` of a chunk of pairs with padded clouds ``[n, P]`` / ``[n, Q]``: the problems are
    set up in vectorised NumPy, ``_BLOCK`` pairs at a time, and solved by the compiled solver (see
    :func:`_solve_arrays`), which releases the GIL."""
    emd, status = _solve_arrays(*_host_chunk(pair), settings)
    if np.any(status != 0):
        warnings.warn(
            f"exact_emd: {int(np.sum(status != 0))} of {len(status)} pairs not solved to optimality "
            f"(iteration limit {_MAX_ITER} or infeasible); their EMD is an upper estimate",
            RuntimeWarning,
            stacklevel=3,
        )
    return emd


def _chunk_problems(a_pt, a_xy, b_pt, b_xy, settings: EMDSettings):
    """Vectorised set-up of a chunk: kept particles first (stable order), the dummy right
    after them, weights normalised; returns ``(wa [n, P+1], wb [n, Q+1], cost [n, P+1, Q+1],
    rows [n], cols [n], scale [n], fixed [n])``: pair ``k`` is ``wa[k, :rows[k]]`` against
    ``wb[k, :cols[k]]`` with cost ``cost[k, :rows[k], :cols[k]]``; ``fixed`` holds the EMD of the
    pairs with an empty side (NaN where the solver is needed)."""
    wa, wb, xa, xb, na, nb, rows, cols, scale, fixed = _chunk_weights(a_pt, a_xy, b_pt, b_xy, settings)
    return wa, wb, _cost_matrices(xa, xb, na, nb, settings), rows, cols, scale, fixed


def _chunk_weights(a_pt, a_xy, b_pt, b_xy, settings: EMDSettings):
    """:func:`_chunk_problems` without the cost matrices: ``(wa, wb, xa [n, P+1, 2],
    xb [n, Q+1, 2], na [n], nb [n], rows, cols, scale, fixed)``, with the coordinates of the kept
    particles first (those of the dummy slots are zero) and ``na``, ``nb`` kept particles."""
    n, idx = len(a_pt), np.arange(len(a_pt))
    sides = []
    for pt, xy in ((a_pt, a_xy), (b_pt, b_xy)):
        keep = pt > 0
        order = np.argsort(~keep, axis=1, kind="stable")
        w = np.where(keep, pt, 0.0)[idx[:, None], order]
        sides.append((w, xy[idx[:, None], order], keep.sum(axis=1), np.where(keep, pt, 0.0).sum(axis=1)))
    (wa, xa, na, a_sum), (wb, xb, nb, b_sum) = sides
    fixed = np.full(n, np.nan)
    if settings.norm:
        fixed[(a_sum == 0) | (b_sum == 0)] = 1.0
        fixed[(a_sum == 0) & (b_sum == 0)] = 0.0
        a_div, b_div, scale = np.where(a_sum > 0, a_sum, 1.0), np.where(b_sum > 0, b_sum, 1.0), np.ones(n)
        a_dummy = b_dummy = np.zeros(n)
    else:
        scale = np.maximum(a_sum, b_sum)
        fixed[scale == 0] = 0.0
        a_div = b_div = np.where(scale > 0, scale, 1.0)
        a_dummy, b_dummy = (scale - a_sum) / a_div, (scale - b_sum) / b_div
    wa = np.concatenate([wa / a_div[:, None], np.zeros((n, 1))], axis=1)
    wb = np.concatenate([wb / b_div[:, None], np.zeros((n, 1))], axis=1)
    wa[idx, na], wb[idx, nb] = a_dummy, b_dummy
    xa = np.concatenate([xa, np.zeros((n, 1, 2))], axis=1)
    xb = np.concatenate([xb, np.zeros((n, 1, 2))], axis=1)
    rows, cols = na + (wa[idx, na] > 0), nb + (wb[idx, nb] > 0)
    return wa, wb, xa, xb, na, nb, rows, cols, scale, fixed


def _cost_matrices(xa, xb, na, nb, settings: EMDSettings) -> np.ndarray:
    """``cost [n, P+1, Q+1]``: ``(sqrt(d_eta^2 + d_phi^2) / R) ** beta`` between the particles,
    1 to the dummy (row ``na``, column ``nb``), 0 between the two dummies."""
    n, idx = len(xa), np.arange(len(xa))
    delta = np.zeros((n, xa.shape[1], xb.shape[1], 2))
    delta[:, :-1, :-1] = xa[:, :-1, None, :] - xb[:, None, :-1, :]
    d_phi = np.mod(delta[..., 1] + np.pi, 2.0 * np.pi) - np.pi
    d2 = (delta[..., 0] ** 2 + d_phi**2) / (settings.R * settings.R)
    cost = np.sqrt(d2) if settings.beta == 1 else d2 ** (0.5 * settings.beta)
    cost[idx, na, :], cost[idx, :, nb] = 1.0, 1.0
    cost[idx, na, nb] = 0.0
    return cost


_COMPILED: list = []  # the compiled solver (or None) once loaded
_COMPILED_LOCK = threading.Lock()


def _compiled_solver():
    """The numba-compiled chunk solver of :mod:`codec_jax.emd.transport_simplex`, or None when numba
    is not installed (then POT's ``emd_c`` solves each pair). Compiled (or loaded from numba's
    cache) once per process, under a lock, on a one-pair problem set up like the real ones:
    numba's first compilation fails with a ``TypingError`` when several threads start it at once."""
    with _COMPILED_LOCK:
        if not _COMPILED:
            try:
                from codec_jax.emd.transport_simplex import solve_chunk_points
            except ImportError:  # pragma: no cover - depends on the environment
                solve_chunk_points = None
            if solve_chunk_points is not None:
                ones, zeros = np.ones((1, 1)), np.zeros((1, 1, 2))
                wa, wb, xa, xb, na, nb, n0, n1, _, fixed = _chunk_weights(
                    ones, zeros, ones, zeros, EMDSettings()
                )
                value, code = np.zeros(1), np.zeros(1, np.int64)
                solve_chunk_points(
                    wa, wb, xa, xb, na, nb, n0, n1, np.isnan(fixed), 0.8, 1.0, _MAX_ITER, value, code
                )
            _COMPILED.append(solve_chunk_points)
        return _COMPILED[0]


def _solve_arrays(
    a_pt, a_xy, b_pt, b_xy, settings: EMDSettings, solver: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised set-up, then the exact solver: the compiled transportation simplex on the whole
    block (``solver="numba"``, the default when numba imports) or POT's compiled ``emd_c`` per pair
    (``"pot"``; also the fallback). Returns ``(emd [n], status [n])`` (status 0: optimal)."""
    solver = solver or _SOLVER
    if solver not in ("numba", "pot"):
        raise ValueError(f"solver must be 'numba' or 'pot', got {solver!r}")
    compiled = _compiled_solver() if solver == "numba" else None
    emd, status = np.empty(len(a_pt)), np.zeros(len(a_pt), np.int64)
    for start in range(0, len(a_pt), _BLOCK):
        rows = slice(start, start + _BLOCK)
        chunk = a_pt[rows], a_xy[rows], b_pt[rows], b_xy[rows]
        if compiled is not None:  # the cost matrices are filled inside, pair by pair
            wa, wb, xa, xb, na, nb, n0, n1, scale, fixed = _chunk_weights(*chunk, settings)
            todo, value, code = np.isnan(fixed), np.zeros(len(fixed)), np.zeros(len(fixed), np.int64)
            compiled(
                wa, wb, xa, xb, na, nb, n0, n1, todo, float(settings.R), float(settings.beta), _MAX_ITER,
                value, code,
            )  # fmt: skip
            for k in np.flatnonzero(todo & (code == 2)):  # no initial tree (not expected): POT
                one = slice(k, k + 1)
                cost = _cost_matrices(xa[one], xb[one], na[one], nb[one], settings)[0]
                value[k], code[k] = _solve_pot(wa[k, : n0[k]], wb[k, : n1[k]], cost[: n0[k], : n1[k]])
            emd[rows] = np.where(todo, scale * value, fixed)
            status[rows] = code
            continue
        wa, wb, cost, n0, n1, scale, fixed = _chunk_problems(*chunk, settings)
        emd[rows] = fixed
        for k in np.flatnonzero(np.isnan(fixed)):
            value, status[start + k] = _solve_pot(wa[k, : n0[k]], wb[k, : n1[k]], cost[k, : n0[k], : n1[k]])
            emd[start + k] = scale[k] * value
    return emd, status


def _solve_pot(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> tuple[float, int]:
    """One problem with POT's compiled ``emd_c``: ``(value, status)`` (status 0: optimal)."""
    from ot.lp.emd_wrap import emd_c

    b = b * (a.sum() / b.sum())  # exact balance in float64
    _, value, _, _, code = emd_c(a, b, np.ascontiguousarray(cost), _MAX_ITER, 1)
    return value, int(code != 1)  # 1: optimal


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
        executor: ``"threads"`` (the default and the fast one: the set-up is vectorised and the
            compiled solver releases the GIL, so threads scale with cores) or ``"processes"`` (a spawned pool,
            started once and reused; the calling script needs the usual
            ``if __name__ == "__main__":`` guard).
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
