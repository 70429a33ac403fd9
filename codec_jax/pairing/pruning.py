"""Fewer exact solves: decide candidates by a cheap lower bound on their EMD before solving.

A candidate whose lower bound (:func:`codec_jax.emd.emd_lower_bound`) is at least the cutoff C
cannot be a pair; it is never solved. With a fixed C that is one comparison. With C a quantile of
all candidate EMDs (MACK's 20%), the candidates are solved in increasing order of their bound
until the bound of the next one is at least the order statistic the quantile needs among those
solved: every candidate left has an EMD at least that large, so the quantile -- and hence C and
the pair set -- is exactly the one of solving every candidate (linear interpolation as
``numpy.quantile``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from codec_jax.pairing.evaluate import EMDResult

__all__ = ["evaluate_pruned"]


def _take(result: EMDResult, order: np.ndarray) -> EMDResult:
    def pick(values):
        return None if values is None else values[order]

    return EMDResult(result.emd[order], pick(result.lower), pick(result.upper))


def _concatenate(results: list[EMDResult]) -> EMDResult:
    def join(name):
        parts = [getattr(r, name) for r in results]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    return EMDResult(np.concatenate([r.emd for r in results]), join("lower"), join("upper"))


def evaluate_pruned(
    bound: np.ndarray,
    evaluate: Callable[[np.ndarray], EMDResult],
    *,
    cutoff: float | None,
    quantile: float | None,
    chunk: int = 2048,
) -> tuple[np.ndarray, EMDResult, float]:
    """Evaluate only the candidates that the bound cannot decide.

    Args:
        bound: ``[n]`` lower bounds of the candidates' EMDs.
        evaluate: ``rows -> EMDResult`` of those candidates.
        cutoff: a fixed C, or None to use ``quantile`` of all n candidate EMDs.
        quantile: in (0, 1) when ``cutoff`` is None.
        chunk: candidates solved per step beyond the first ``quantile * n``.

    Returns:
        ``(rows, result, cutoff)``: the evaluated candidates (sorted), their EMDs in that order,
        and C. Every candidate not in ``rows`` has EMD >= bound >= C.
    """
    n = len(bound)
    if cutoff is not None:
        rows = np.flatnonzero(bound < cutoff)
        return rows, evaluate(rows), float(cutoff)
    order = np.argsort(bound, kind="stable")
    needed = math.ceil((n - 1) * quantile)  # the largest order statistic numpy.quantile reads
    done, results = 0, []
    while True:
        stop = min(n, max(done + chunk, needed + 1))
        results.append(evaluate(order[done:stop]))
        done = stop
        values = np.concatenate([r.emd for r in results])
        if done == n or bound[order[done]] >= np.partition(values, needed)[needed]:
            break
    result = _concatenate(results)
    # C from all n values, the unsolved ones replaced by a value above every solved one: the order
    # statistics up to `needed` are the true ones, so this is numpy.quantile of the true EMDs.
    stand_in = np.full(n - done, max(float(values.max()), float(bound.max())) + 1.0)
    cutoff = float(np.quantile(np.concatenate([values, stand_in]), quantile))
    rows = order[:done]
    sort = np.argsort(rows, kind="stable")
    return rows[sort], _take(result, sort), cutoff
