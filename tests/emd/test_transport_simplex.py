"""The numba transportation simplex (codec_jax.emd.transport_simplex) against POT's ``ot.emd2`` on
problems built here with plain NumPy, and ``exact_emd`` with it against the POT path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
ot = pytest.importorskip("ot")

from codec_jax.data.synthetic import make_jets, perturb_jets  # noqa: E402
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, exact_emd  # noqa: E402
from codec_jax.emd import exact as exact_module  # noqa: E402
from codec_jax.emd.transport_simplex import solve_chunk  # noqa: E402


def _solve(problems, max_iter=1_000_000):
    """``(value [K], status [K])`` of problems ``(a, b, cost)`` padded into one chunk."""
    rows = np.array([len(a) for a, _, _ in problems], np.int64)
    cols = np.array([len(b) for _, b, _ in problems], np.int64)
    wa = np.zeros((len(problems), rows.max() + 2))  # wider than needed: padding must be ignored
    wb = np.zeros((len(problems), cols.max() + 3))
    cost = np.full((len(problems), wa.shape[1], wb.shape[1]), -5.0)
    for k, (a, b, c) in enumerate(problems):
        wa[k, : len(a)], wb[k, : len(b)], cost[k, : len(a), : len(b)] = a, b, c
    value, status = np.full(len(problems), np.nan), np.full(len(problems), -1, np.int64)
    solve_chunk(wa, wb, cost, rows, cols, np.ones(len(problems), bool), max_iter, value, status)
    return value, status


def _reference(a, b, c):
    b = b * (a.sum() / b.sum())
    return float(ot.emd2(a, b, np.ascontiguousarray(c), numItermax=10**7))


def _random_problem(rng, m, n, dim=2):
    a, b = rng.random(m) + 0.01, rng.random(n) + 0.01
    xa, xb = rng.normal(size=(m, dim)), rng.normal(size=(n, dim))
    cost = np.sqrt(((xa[:, None] - xb[None]) ** 2).sum(-1))
    return a / a.sum(), b / b.sum(), cost


def _check(problems):
    value, status = _solve(problems)
    expected = np.array([_reference(*p) for p in problems])
    assert np.all(status == 0)
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("m, n", [(1, 1), (1, 9), (9, 1), (5, 7), (31, 31), (101, 101), (101, 57)])
def test_random_sizes_equal_pot(m, n):
    rng = np.random.default_rng(m * 1000 + n)
    _check([_random_problem(rng, m, n) for _ in range(8)])


def test_degenerate_problems_equal_pot():
    rng = np.random.default_rng(7)
    problems = []
    for m, n in [(5, 5), (12, 12), (31, 31), (8, 24), (24, 8), (30, 45), (101, 101)]:
        ones_a, ones_b = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
        xa, xb = rng.integers(0, 3, (m, 2)).astype(float), rng.integers(0, 3, (n, 2)).astype(float)
        grid = np.sqrt(((xa[:, None] - xb[None]) ** 2).sum(-1))  # many ties, many zero costs
        problems += [
            (ones_a, ones_b, rng.random((m, n))),  # equal weights (1/n: partial sums coincide)
            (ones_a, ones_b, grid),
            (ones_a, ones_b, np.zeros((m, n))),  # every plan optimal
            (ones_a, ones_b, np.round(rng.random((m, n)) * 2)),
        ]
        integer = rng.integers(1, 4, m).astype(float), rng.integers(1, 4, n).astype(float)
        problems.append((integer[0] / integer[0].sum(), integer[1] / integer[1].sum(), grid))
        points = rng.normal(size=(m, 2))  # duplicate points: the same cloud on both sides
        if m == n:
            same = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
            problems.append((ones_a, ones_b, same))
            w = rng.random(m)
            problems.append((w / w.sum(), w / w.sum(), same))
    _check(problems)


def test_tiny_weights_equal_pot():
    rng = np.random.default_rng(11)
    problems = []
    for m, n in [(5, 7), (31, 31), (60, 40)]:
        for _ in range(5):
            a, b, cost = _random_problem(rng, m, n)
            a[rng.random(m) < 0.3] = 1e-12
            b[rng.random(n) < 0.2] = 1e-12
            problems.append((a / a.sum(), b / b.sum(), cost))
    _check(problems)


def test_many_mixed_problems_equal_pot():
    """2,000 problems of mixed sizes and kinds in one chunk, against ``ot.emd2``."""
    rng = np.random.default_rng(2024)
    problems = []
    for k in range(2000):
        m, n = (int(x) for x in rng.integers(1, 48, 2))
        a, b, cost = _random_problem(rng, m, n)
        if k % 4 == 1:  # equal weights and rounded costs: degenerate
            a, b, cost = np.full(m, 1.0 / m), np.full(n, 1.0 / n), np.round(cost)
        elif k % 4 == 2:  # a dummy-like row and column at distance 1
            cost[-1, :], cost[:, -1] = 1.0, 1.0
            cost[-1, -1] = 0.0
        problems.append((a, b, cost))
    _check(problems)


def test_iteration_limit_gives_status_and_upper_bound():
    rng = np.random.default_rng(3)
    problems = [_random_problem(rng, 31, 31) for _ in range(3)]
    value, status = _solve(problems, max_iter=1)
    expected = np.array([_reference(*p) for p in problems])
    assert np.all(status == 1)
    assert np.all(value >= expected - 1e-12)


def _jet_pairs(kind: str, n: int = 40, particles: int = 30) -> CloudPair:
    rng = np.random.default_rng({"random": 0, "near": 1, "padded": 2}[kind])
    pt, xy = make_jets(rng, 2 * n, particles)
    if kind == "near":  # near-duplicate jets
        b_pt, b_xy = perturb_jets(rng, pt[:n], xy[:n], scale=1e-3, smear=1e-3)
        return CloudPair(ParticleClouds(pt[:n], xy[:n]), ParticleClouds(b_pt, b_xy))
    if kind == "padded":  # padding in the middle and wider padding on one side
        a_pt = pt[:n].copy()
        a_pt[:, 1::4] = 0.0
        b_pt, b_xy = np.pad(pt[n:], ((0, 0), (0, 7))), np.pad(xy[n:], ((0, 0), (0, 7), (0, 0)))
        return CloudPair(ParticleClouds(a_pt, xy[:n]), ParticleClouds(b_pt, b_xy))
    return CloudPair(ParticleClouds(pt[:n], xy[:n]), ParticleClouds(pt[n:], xy[n:]))


@pytest.mark.parametrize("kind", ["random", "near", "padded"])
@pytest.mark.parametrize("norm", [False, True])
def test_exact_emd_equals_pot_path(kind, norm, monkeypatch):
    pair, settings = _jet_pairs(kind), EMDSettings(norm=norm)
    got = exact_emd(pair, settings, workers=1)
    monkeypatch.setattr(exact_module, "_SOLVER", "pot")
    expected = exact_emd(pair, settings, workers=1)
    scale = 1.0 if norm else np.max(expected)  # GeV without norm
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale)


def test_exact_emd_fallback_without_numba(monkeypatch):
    pair = _jet_pairs("random", n=10)
    got = exact_emd(pair, workers=1)
    monkeypatch.setattr(exact_module, "_compiled_solver", lambda: None)
    np.testing.assert_allclose(exact_emd(pair, workers=1), got, rtol=1e-12, atol=1e-12)


def test_threads_equal_serial_exactly():
    pair = _jet_pairs("random", n=100)
    serial = exact_emd(pair, workers=1)
    np.testing.assert_array_equal(exact_emd(pair, workers=2, chunk_size=9), serial)


def test_iteration_limit_warns(monkeypatch):
    monkeypatch.setattr(exact_module, "_MAX_ITER", 0)
    with pytest.warns(RuntimeWarning, match="not solved to optimality"):
        exact_emd(_jet_pairs("random", n=4), workers=1)


def test_pairs_without_initial_tree_go_to_pot(monkeypatch):
    """Status 2 from the compiled solver (not expected) re-solves those pairs with POT."""
    pair = _jet_pairs("padded", n=6)
    expected = exact_emd(pair, workers=1)
    compiled = exact_module._compiled_solver()

    def failing(*args):
        compiled(*args)
        value, status = args[-2], args[-1]
        value[::2], status[::2] = np.nan, 2

    monkeypatch.setattr(exact_module, "_compiled_solver", lambda: failing)
    np.testing.assert_allclose(exact_emd(pair, workers=1), expected, rtol=1e-12, atol=1e-12)


def test_first_compilation_from_threads(tmp_path):
    """With an empty numba cache, the first call with 2 threads compiles once (numba's first
    compilation from several threads at once fails)."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from codec_jax.data.synthetic import make_jets\n"
        "from codec_jax.emd import CloudPair, ParticleClouds, exact_emd\n"
        "jets = ParticleClouds(*make_jets(np.random.default_rng(0), 64, 10))\n"
        "pair = CloudPair(jets.take(slice(32)), jets.take(slice(32, None)))\n"
        "print(exact_emd(pair, workers=2, chunk_size=4).sum())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
