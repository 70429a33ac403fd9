"""Exact balanced transportation problems in compiled code: a primal network simplex on the
bipartite graph of supplies (rows) and demands (columns), written for this project (numba).

Problem of pair ``k``: minimise ``sum_ij c_ij x_ij`` subject to ``sum_j x_ij = a_i``,
``sum_i x_ij = b_j``, ``x >= 0``, with ``a = wa[k, :rows[k]]``, ``b = wb[k, :cols[k]]`` (rescaled
to ``sum a``) and ``c = cost[k, :rows[k], :cols[k]]``. :func:`solve_chunk` loops over the pairs of
a chunk inside compiled code, without the GIL, so threads scale with cores;
:func:`solve_chunk_points` does the same from particle coordinates, filling each pair's cost
matrix (the EMD ground distance) into one reused buffer (what ``codec_jax.emd.exact`` uses).

Method (the textbook primal network simplex, e.g. Ahuja, Magnanti and Orlin, *Network Flows*,
chapter 11):

* Nodes: rows ``0 .. m-1``, columns ``m .. m+n-1``; arcs row -> column, uncapacitated. A basis is
  a spanning tree of ``m+n-1`` arcs, rooted at the last column and stored by parent pointers
  (the flow of each tree arc is kept on its child end), depths and doubly linked child lists.
  A row's arc to its parent always points towards the root, a column's away from it.
* Node potentials ``pi`` with ``c_ij = pi_i - pi_j`` on tree arcs; reduced cost
  ``c_ij - pi_i + pi_j``.
* Initial tree: the row-minimum rule (each row in turn ships to its cheapest open columns), run on
  supplies perturbed symbolically by ``+eps`` at every node but the root (each remaining amount
  is a pair ``(value, eps coefficient)`` compared lexicographically). The perturbed problem is
  non-degenerate, so the rule yields exactly ``m+n-1`` arcs, and its arcs of zero flow point
  towards the root: the tree is *strongly feasible*. Amounts within ``1e-14`` of the total mass
  of each other count as equal there, so that rounding in the remaining amounts cannot invert the
  order the perturbation prescribes (the leftovers, at rounding level, are dropped).
* Pricing: block search over the ``m x n`` arcs from a rotating cursor (the most negative reduced
  cost in the first block that has one below ``-tol``, ``tol = 1e-12 * max cost``); when a full
  sweep finds none, the potentials are recomputed from the tree and the sweep repeated once.
* Pivot: the cycle of the entering arc ``(k, l)`` through the apex of the tree paths of ``k`` and
  ``l``; the leaving arc is the last blocking arc met when walking the cycle in its orientation
  from the apex (Cunningham's rule), which keeps the tree strongly feasible and so rules out
  cycling on degenerate (zero-step) pivots. Flows are never rounded: the ratio test compares
  exact float values, so the blocking arcs become exactly zero.
* Tree update: the subtree cut off by the leaving arc is re-rooted at the entering arc's end
  inside it (parent pointers and arc flows along the path reversed) and hung under the other
  end; only that subtree's depths and potentials (shifted by the reduced cost) are updated.

The value is ``sum c_ij x_ij`` over the tree arcs. Status per pair: 0 optimal, 1 iteration limit
(the value is then that of a feasible plan, an upper bound), 2 the initial tree could not be
built (not expected with positive weights).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["solve_chunk", "solve_chunk_points"]

_TOL = 1e-12  # reduced costs above -_TOL * max cost count as non-negative


@njit(cache=True, nogil=True, inline="always")
def _arc_cost(cost, v, p, m):
    """Cost of the tree arc between node ``v`` and its parent ``p``."""
    if v < m:
        return cost[v, p - m]
    return cost[p, v - m]


@njit(cache=True, nogil=True, inline="always")
def _remove_child(first_child, next_sib, prev_sib, p, c):
    if prev_sib[c] >= 0:
        next_sib[prev_sib[c]] = next_sib[c]
    else:
        first_child[p] = next_sib[c]
    if next_sib[c] >= 0:
        prev_sib[next_sib[c]] = prev_sib[c]


@njit(cache=True, nogil=True, inline="always")
def _add_child(first_child, next_sib, prev_sib, p, c):
    head = first_child[p]
    next_sib[c] = head
    prev_sib[c] = -1
    if head >= 0:
        prev_sib[head] = c
    first_child[p] = c


@njit(cache=True, nogil=True)
def _potentials(cost, m, root, parent, depth, pot, first_child, next_sib, stack):
    """Depths and potentials of the whole tree from the root (``pot[root] = 0``)."""
    pot[root] = 0.0
    depth[root] = 0
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        x = stack[top]
        c = first_child[x]
        while c >= 0:
            depth[c] = depth[x] + 1
            if c < m:
                pot[c] = pot[x] + cost[c, x - m]
            else:
                pot[c] = pot[x] - cost[x, c - m]
            stack[top] = c
            top += 1
            c = next_sib[c]


@njit(cache=True, nogil=True)
def _initial_tree(a, b, cost, m, n, parent, flow, first_child, next_sib, prev_sib, work_f, work_i, stack):
    """Row-minimum rule on the perturbed problem, then the tree rooted at the last column.
    Returns the number of nodes reached (``m + n`` on success)."""
    big_n = m + n
    root = big_n - 1
    ra, rb = work_f[:m], work_f[m:big_n]
    sa, sb = work_i[:m], work_i[m:big_n]
    for i in range(m):
        ra[i] = a[i]
        sa[i] = 1  # eps coefficient of a row's remaining supply
    for j in range(n):
        rb[j] = b[j]
        sb[j] = -1  # of a column's remaining demand: b_j - eps ...
    sb[n - 1] = big_n - 1  # ... but the root absorbs (m + n - 1) eps
    # arcs found, as an edge list in the tail of the work arrays
    arc_i, arc_j, arc_x = work_i[big_n : 2 * big_n], work_i[2 * big_n : 3 * big_n], work_f[big_n : 2 * big_n]
    open_col = work_i[3 * big_n : 3 * big_n + n]
    for j in range(n):
        open_col[j] = 1
    total = 0.0
    for i in range(m):
        total += a[i]
    x_tol = 1e-14 * total  # amounts this close are equal up to rounding
    n_arcs = 0
    for i in range(m):
        while True:
            best, best_c = -1, np.inf
            for j in range(n):
                if open_col[j] and cost[i, j] < best_c:
                    best_c, best = cost[i, j], j
            if best < 0 or n_arcs >= big_n - 1:
                break
            j = best
            diff = ra[i] - rb[j]
            if diff < -x_tol:
                row_first = True
            elif diff > x_tol:
                row_first = False
            else:  # equal up to rounding: the eps coefficients decide (equal only at the end)
                row_first = sa[i] <= sb[j]
            arc_i[n_arcs], arc_j[n_arcs] = i, j
            n_arcs += 1
            if row_first:  # the row is used up (a tie: both, the last arc)
                arc_x[n_arcs - 1] = ra[i]
                rb[j] = max(rb[j] - ra[i], 0.0)
                sb[j] -= sa[i]
                if sb[j] == 0 and rb[j] <= x_tol:
                    open_col[j] = 0
                break
            arc_x[n_arcs - 1] = rb[j]
            ra[i] = max(ra[i] - rb[j], 0.0)
            sa[i] -= sb[j]
            open_col[j] = 0
    # tree from the edge list: adjacency by counting sort, then a traversal from the root
    deg = work_i[3 * big_n : 4 * big_n + 1]  # reuses open_col's space (no longer needed)
    for v in range(big_n + 1):
        deg[v] = 0
    for e in range(n_arcs):
        deg[arc_i[e] + 1] += 1
        deg[m + arc_j[e] + 1] += 1
    for v in range(big_n):
        deg[v + 1] += deg[v]
    adj = work_i[4 * big_n + 1 : 4 * big_n + 1 + 2 * big_n]
    fill = work_i[6 * big_n + 1 : 7 * big_n + 1]
    for v in range(big_n):
        fill[v] = deg[v]
    for e in range(n_arcs):
        u, w = arc_i[e], m + arc_j[e]
        adj[fill[u]] = e
        fill[u] += 1
        adj[fill[w]] = e
        fill[w] += 1
    for v in range(big_n):
        parent[v] = -2  # not reached
        first_child[v] = -1
        next_sib[v] = -1
        prev_sib[v] = -1
    parent[root] = -1
    flow[root] = 0.0
    reached = 0
    for seed in range(root, -1, -1):  # the root, then rows left out by rounding (zero flow)
        if seed != root and (seed >= m or parent[seed] != -2):
            continue
        if seed != root:
            parent[seed] = root
            flow[seed] = 0.0
            _add_child(first_child, next_sib, prev_sib, root, seed)
        stack[0] = seed
        top = 1
        reached += 1
        while top > 0:
            top -= 1
            x = stack[top]
            for t in range(deg[x], deg[x + 1]):
                e = adj[t]
                y = arc_i[e] if x >= m else m + arc_j[e]
                if parent[y] != -2:
                    continue
                parent[y] = x
                flow[y] = arc_x[e]
                _add_child(first_child, next_sib, prev_sib, x, y)
                stack[top] = y
                top += 1
                reached += 1
    return reached


@njit(cache=True, nogil=True)
def _solve_one(
    a,
    b,
    cost,
    m,
    n,
    max_iter,
    parent,
    flow,
    depth,
    pot,
    first_child,
    next_sib,
    prev_sib,
    stack,
    work_f,
    work_i,
):
    """One balanced problem (``a [m]``, ``b [n]``, ``cost[:m, :n]``); returns ``(value, status)``."""
    big_n = m + n
    root = big_n - 1
    if (
        _initial_tree(a, b, cost, m, n, parent, flow, first_child, next_sib, prev_sib, work_f, work_i, stack)
        != big_n
    ):
        return np.nan, 2
    _potentials(cost, m, root, parent, depth, pot, first_child, next_sib, stack)
    c_max = 0.0
    for i in range(m):
        for j in range(n):
            if abs(cost[i, j]) > c_max:
                c_max = abs(cost[i, j])
    tol = _TOL * c_max
    n_total = m * n
    block = max(int(np.sqrt(n_total)), 8)
    ci, cj = 0, 0
    status, iteration, fresh = 0, 0, True
    while True:
        # pricing: most negative reduced cost in the first block that has one
        best_rc, bi, bj = -tol, -1, -1
        scanned, in_block = 0, 0
        while scanned < n_total:
            pi_i = pot[ci]
            stop = min(n, cj + block - in_block, cj + n_total - scanned)
            for j in range(cj, stop):
                rc = cost[ci, j] - pi_i + pot[m + j]
                if rc < best_rc:
                    best_rc, bi, bj = rc, ci, j
            done = stop - cj
            scanned += done
            in_block += done
            cj = stop
            if cj == n:
                cj = 0
                ci += 1
                if ci == m:
                    ci = 0
            if in_block >= block:
                if bi >= 0:
                    break
                in_block = 0
        if bi < 0:
            if fresh:
                break  # optimal
            _potentials(cost, m, root, parent, depth, pot, first_child, next_sib, stack)
            fresh = True
            continue
        if iteration >= max_iter:
            status = 1
            break
        iteration += 1
        fresh = False
        row_in, col_in = bi, m + bj
        # cycle: walk up from both ends of the entering arc to the apex; the blocking (decreasing)
        # arcs are those of the rows on the row side and of the columns on the column side.
        # Cunningham's rule: the last blocking arc met walking from the apex along the orientation
        # row_in -> col_in, i.e. the highest on the column side, else the lowest on the row side.
        u, v = row_in, col_in
        dk, qk, dl, ql = np.inf, -1, np.inf, -1
        while u != v:
            du, dv = depth[u], depth[v]
            if du >= dv:
                if u < m and flow[u] < dk:
                    dk, qk = flow[u], u
                u = parent[u]
            if dv >= du:
                if v >= m and flow[v] <= dl:
                    dl, ql = flow[v], v
                v = parent[v]
        apex = u
        if dl <= dk:
            delta, q, leaving_on_col_side = dl, ql, True
        else:
            delta, q, leaving_on_col_side = dk, qk, False
        if delta > 0.0:
            x = row_in
            while x != apex:
                if x < m:
                    flow[x] -= delta
                else:
                    flow[x] += delta
                x = parent[x]
            x = col_in
            while x != apex:
                if x >= m:
                    flow[x] -= delta
                else:
                    flow[x] += delta
                x = parent[x]
        if leaving_on_col_side:
            u_in, v_out, shift = col_in, row_in, -best_rc
        else:
            u_in, v_out, shift = row_in, col_in, best_rc
        # re-root the subtree of q at u_in and hang it under v_out
        new_parent, cur, carried = v_out, u_in, delta
        while True:
            old_parent, old_flow = parent[cur], flow[cur]
            _remove_child(first_child, next_sib, prev_sib, old_parent, cur)
            parent[cur] = new_parent
            flow[cur] = carried
            _add_child(first_child, next_sib, prev_sib, new_parent, cur)
            if cur == q:
                break
            new_parent, carried, cur = cur, old_flow, old_parent
        # depths and potentials of the moved subtree
        depth[u_in] = depth[v_out] + 1
        pot[u_in] += shift
        stack[0] = u_in
        top = 1
        while top > 0:
            top -= 1
            x = stack[top]
            c = first_child[x]
            while c >= 0:
                depth[c] = depth[x] + 1
                pot[c] += shift
                stack[top] = c
                top += 1
                c = next_sib[c]
    value = 0.0
    for v in range(big_n):
        if v != root:
            value += _arc_cost(cost, v, parent[v], m) * flow[v]
    return value, status


@njit(cache=True, nogil=True)
def _workspace(size):
    """The work arrays of :func:`_solve_one` for problems of up to ``size`` nodes (rows + columns):
    parent, flow, depth, potentials, child lists, stack and scratch, allocated once per chunk."""
    return (
        np.empty(size, np.int64),  # parent
        np.empty(size, np.float64),  # flow on the arc to the parent
        np.empty(size, np.int64),  # depth
        np.empty(size, np.float64),  # potential
        np.empty(size, np.int64),  # first child
        np.empty(size, np.int64),  # next sibling
        np.empty(size, np.int64),  # previous sibling
        np.empty(size, np.int64),  # stack
        np.empty(2 * size, np.float64),
        np.empty(7 * size + 1, np.int64),
    )


@njit(cache=True, nogil=True)
def _solve_balanced(a, demand, cost, m, n, max_iter, b, workspace):
    """One problem: supplies ``a[:m]``, demands ``demand[:n]`` rescaled into ``b`` to the same
    total (exact balance in float64, as for POT), costs ``cost[:m, :n]``; ``(value, status)``."""
    sum_a, sum_b = 0.0, 0.0
    for i in range(m):
        sum_a += a[i]
    for j in range(n):
        sum_b += demand[j]
    ratio = sum_a / sum_b
    for j in range(n):
        b[j] = demand[j] * ratio
    parent, flow, depth, pot, first_child, next_sib, prev_sib, stack, work_f, work_i = workspace
    return _solve_one(
        a[:m], b[:n], cost, m, n, max_iter,
        parent, flow, depth, pot, first_child, next_sib, prev_sib, stack, work_f, work_i,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def solve_chunk(wa, wb, cost, rows, cols, todo, max_iter, out_value, out_status):
    """Solve pair ``k`` for each ``k`` with ``todo[k]``: supplies ``wa[k, :rows[k]]``, demands
    ``wb[k, :cols[k]]`` rescaled to the same total, costs ``cost[k, :rows[k], :cols[k]]``; writes
    the optimal value to ``out_value[k]`` and 0 (optimal), 1 (iteration limit ``max_iter``) or 2
    (failure) to ``out_status[k]``. Work arrays are allocated once for the chunk."""
    workspace = _workspace(wa.shape[1] + wb.shape[1])
    b = np.empty(wb.shape[1], np.float64)
    for k in range(wa.shape[0]):
        if not todo[k]:
            continue
        m, n = rows[k], cols[k]
        out_value[k], out_status[k] = _solve_balanced(wa[k], wb[k], cost[k], m, n, max_iter, b, workspace)


@njit(cache=True, nogil=True)
def solve_chunk_points(wa, wb, xa, xb, na, nb, rows, cols, todo, R, beta, max_iter, out_value, out_status):
    """:func:`solve_chunk` with each pair's cost matrix filled here, into one buffer reused for
    the chunk, from the particle coordinates: ``xa [n, P+1, 2]`` and ``xb [n, Q+1, 2]`` (eta, phi)
    with the kept particles first, ``na [n]`` and ``nb [n]`` of them; ground distance
    ``(sqrt(d_eta^2 + d_phi^2) / R) ** beta`` with ``d_phi`` wrapped to [-pi, pi), 1 to a dummy
    particle (row ``na[k]`` or column ``nb[k]`` when ``rows[k] > na[k]`` or ``cols[k] > nb[k]``)
    and 0 between two dummies: the same numbers as ``codec_jax.emd.exact._cost_matrices``."""
    workspace = _workspace(wa.shape[1] + wb.shape[1])
    b = np.empty(wb.shape[1], np.float64)
    cost = np.empty((wa.shape[1], wb.shape[1]), np.float64)
    eta_b = np.empty(wb.shape[1], np.float64)
    phi_b = np.empty(wb.shape[1], np.float64)
    r2 = R * R
    half_beta = 0.5 * beta
    two_pi = 2.0 * np.pi
    for k in range(wa.shape[0]):
        if not todo[k]:
            continue
        m, n, ma, nbk = rows[k], cols[k], na[k], nb[k]
        for j in range(nbk):  # contiguous copies: the loops below vectorise
            eta_b[j] = xb[k, j, 0]
            phi_b[j] = xb[k, j, 1]
        for i in range(ma):
            eta_a, phi_a = xa[k, i, 0], xa[k, i, 1]
            row = cost[i]
            wrapped = 0
            for j in range(nbk):
                d_eta = eta_a - eta_b[j]
                shifted = phi_a - phi_b[j] + np.pi
                wrapped += (shifted < 0.0) | (shifted >= two_pi)
                d_phi = shifted - np.pi  # = mod(shifted, 2 pi) - pi when shifted is in [0, 2 pi)
                row[j] = (d_eta * d_eta + d_phi * d_phi) / r2
            if wrapped:
                for j in range(nbk):
                    d_eta = eta_a - eta_b[j]
                    d_phi = np.mod(phi_a - phi_b[j] + np.pi, two_pi) - np.pi
                    row[j] = (d_eta * d_eta + d_phi * d_phi) / r2
            if beta == 1.0:
                for j in range(nbk):
                    row[j] = np.sqrt(row[j])
            else:
                for j in range(nbk):
                    row[j] = row[j] ** half_beta
            if n > nbk:
                row[nbk] = 1.0  # to the dummy
        if m > ma:
            for j in range(n):
                cost[ma, j] = 1.0
            if n > nbk:
                cost[ma, nbk] = 0.0
        out_value[k], out_status[k] = _solve_balanced(wa[k], wb[k], cost, m, n, max_iter, b, workspace)
