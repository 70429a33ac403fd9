"""Candidate (nominal, alternate) jet pairs for the positive-pair search, and cheap jet keys.

All functions work on host NumPy arrays: ``pt [n_jets, P]`` (GeV, zero = padding) and
``xy [n_jets, P, 2]`` (eta, phi relative to the jet axis). The cheap EMD lower bound that the
``prefiltered`` search applies to the candidates is :func:`codec_jax.emd.emd_lower_bound`. Candidates come back as two int64 index
arrays ``[n_candidates]`` into the nominal and the alternate jets, without duplicate pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "random_candidates",
    "block_candidates",
    "block_matching",
    "nearest_candidates",
    "binned_candidates",
    "jet_width",
]


def _unique_pairs(
    nominal: np.ndarray, alternate: np.ndarray, n_alternate: int
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.unique(nominal.astype(np.int64) * n_alternate + alternate.astype(np.int64))
    return codes // n_alternate, codes % n_alternate


def random_candidates(
    rng: np.random.Generator, n_nominal: int, n_alternate: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` quasi-random alternate jets per nominal jet (the published MACK scheme).

    Each of the ``k`` rounds deals out a fresh random permutation of the alternate jets over the
    nominal jets, so every alternate jet is used about equally often (``k * n_nominal /
    n_alternate`` times) instead of Poisson-distributed.
    """
    nominal = np.arange(n_nominal)
    picks = [rng.permutation(n_alternate)[nominal % n_alternate] for _ in range(k)]
    return _unique_pairs(np.tile(nominal, k), np.concatenate(picks), n_alternate)


def block_candidates(
    rng: np.random.Generator, n_nominal: int, n_alternate: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``k x k`` pairs of blocks of ``k`` random nominal and ``k`` random alternate jets (the
    ``ot_plan`` search; the same budget of ``k`` candidates per nominal jet as
    :func:`random_candidates`).

    The nominal jets, in a random order, are cut into blocks of ``k`` (the last may be smaller);
    block ``b`` meets the alternate jets ``b k ... b k + k - 1`` of a random permutation of the
    alternate sample, taken cyclically (``k`` distinct jets when ``k <= n_alternate``).

    Returns:
        ``(nominal [n], alternate [n], block [n])`` int64 index arrays, ``n = n_nominal * k'`` with
        ``k' = min(k, n_alternate)``; no pair appears twice.
    """
    k = min(k, n_alternate)
    nominal_order = rng.permutation(n_nominal)
    alternate_order = rng.permutation(n_alternate)
    nominal, alternate, block = [], [], []
    for index, start in enumerate(range(0, n_nominal, k)):
        rows = nominal_order[start : start + k]
        partners = alternate_order[(start + np.arange(k)) % n_alternate]
        nominal.append(np.repeat(rows, k))
        alternate.append(np.tile(partners, len(rows)))
        block.append(np.full(len(rows) * k, index))
    return (
        np.concatenate(nominal).astype(np.int64),
        np.concatenate(alternate).astype(np.int64),
        np.concatenate(block).astype(np.int64),
    )


def block_matching(
    nominal: np.ndarray, alternate: np.ndarray, block: np.ndarray, emd: np.ndarray
) -> np.ndarray:
    """In every block of :func:`block_candidates`, the one-to-one matching of nominal and
    alternate jets with the least total EMD (exact assignment, ``scipy.optimize.
    linear_sum_assignment``).

    Args:
        nominal, alternate, block: ``[n]`` candidate arrays as returned by :func:`block_candidates`.
        emd: ``[n]`` the EMD of every candidate.

    Returns:
        ``[m]`` sorted indices into the candidate arrays of the matched pairs: one per nominal jet
        (each alternate jet used at most once per block).
    """
    chosen = []
    for index in np.unique(block):
        members = np.flatnonzero(block == index)
        rows, row_index = np.unique(nominal[members], return_inverse=True)
        cols, col_index = np.unique(alternate[members], return_inverse=True)
        cost = np.full((len(rows), len(cols)), np.inf)
        cost[row_index, col_index] = emd[members]
        lookup = np.full((len(rows), len(cols)), -1, np.int64)
        lookup[row_index, col_index] = members
        matched_rows, matched_cols = linear_sum_assignment(cost)
        chosen.append(lookup[matched_rows, matched_cols])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def nearest_candidates(
    nominal_key: np.ndarray, alternate_key: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks along the diagonal of the all-pairs grid with both axes sorted by a cheap key.

    Nominal jets sorted by ``nominal_key [n_nominal]`` are cut into blocks of ``k``; each block is
    paired with the ``k`` alternate jets of nearest key (``alternate_key [n_alternate]``), a
    ``k x k`` block of the grid. Every nominal jet gets ``k`` candidates, the same budget as
    :func:`random_candidates`, but similar ones.
    """
    n_nominal, n_alternate = len(nominal_key), len(alternate_key)
    k = min(k, n_alternate)
    nominal_order = np.argsort(nominal_key, kind="stable")
    alternate_order = np.argsort(alternate_key, kind="stable")
    sorted_alternate_key = alternate_key[alternate_order]
    nominal, alternate = [], []
    for start in range(0, n_nominal, k):
        block = nominal_order[start : start + k]
        centre = np.searchsorted(sorted_alternate_key, np.median(nominal_key[block]))
        first = int(np.clip(centre - k // 2, 0, n_alternate - k))
        window = alternate_order[first : first + k]
        nominal.append(np.repeat(block, k))
        alternate.append(np.tile(window, len(block)))
    return _unique_pairs(np.concatenate(nominal), np.concatenate(alternate), n_alternate)


def binned_candidates(
    rng: np.random.Generator,
    nominal_features: np.ndarray,
    alternate_features: np.ndarray,
    k: int,
    *,
    bins: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` random alternate jets per nominal jet drawn from the same bin of cheap features.

    Args:
        nominal_features, alternate_features: ``[n, F]`` per-jet features (e.g. total pT and
            width); each is cut into ``bins`` quantile bins of the alternate sample, so a bin
            holds about ``n_alternate / bins**F`` jets. Nominal jets in a bin with fewer than
            ``k`` alternate jets draw from all alternate jets.
    """
    n_alternate = len(alternate_features)
    levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]

    def cell(features: np.ndarray) -> np.ndarray:
        index = np.zeros(len(features), np.int64)
        for f in range(features.shape[1]):
            edges = np.quantile(alternate_features[:, f], levels)
            index = index * bins + np.searchsorted(edges, features[:, f], side="right")
        return index

    nominal_cell, alternate_cell = cell(nominal_features), cell(alternate_features)
    members = {c: np.flatnonzero(alternate_cell == c) for c in np.unique(alternate_cell)}
    everyone = np.arange(n_alternate)
    nominal, alternate = [], []
    for c in np.unique(nominal_cell):
        rows = np.flatnonzero(nominal_cell == c)
        pool = members.get(c, everyone)
        if len(pool) < k:
            pool = everyone
        draws = [rng.permutation(pool)[np.arange(len(rows)) % len(pool)] for _ in range(k)]
        nominal.append(np.tile(rows, k))
        alternate.append(np.concatenate(draws))
    return _unique_pairs(np.concatenate(nominal), np.concatenate(alternate), n_alternate)


def jet_width(pt: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """pT-weighted mean angular distance of the particles from the jet axis, ``[n_jets]``
    (roughly mass / pT); 0 for empty jets."""
    total = pt.sum(axis=1)
    radius = np.sqrt((xy**2).sum(axis=-1))
    return (pt * radius).sum(axis=1) / np.where(total > 0, total, 1.0)
