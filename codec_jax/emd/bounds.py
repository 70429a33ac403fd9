"""A cheap guaranteed lower bound on the EMD, without solving the transport problem.

Used to skip candidate pairs that cannot fall below a cutoff (the ``prefiltered`` pair search of
:mod:`codec_jax.pairing`). Host NumPy arrays; the certified bracket of a Sinkhorn solve is
:func:`codec_jax.emd.sinkhorn_emd_with_bounds`.
"""

from __future__ import annotations

import numpy as np

from codec_jax.emd.inputs import CloudPair, EMDSettings, check_inputs

__all__ = ["emd_lower_bound"]


def emd_lower_bound(pair: CloudPair, settings: EMDSettings | None = None) -> np.ndarray:
    """A cheap guaranteed lower bound on the EMD of each pair, ``[batch]``.

    Args:
        pair: host clouds ``pt [batch, P]`` (GeV), ``xy [batch, P, 2]`` on each side.
        settings: as :class:`~codec_jax.emd.EMDSettings` (default R = 0.8, beta = 1, norm = False).

    ``norm=False``: the largest of the energy difference ``|sum pT - sum pT'|`` (the transport
    term is >= 0) and, for ``beta = 1``, ``|W - W'|`` and ``|(S - W) - (S' - W')|`` with
    ``S = sum pT`` and ``W = sum pT min(|x| / R, 1)`` (the pT-weighted radial distance from the
    origin of the coordinates, the jet axis for relative coordinates). Each is the value of a
    feasible dual: the test functions ``1``, ``min(|x| / R, 1)`` and ``1 - min(|x| / R, 1)`` on the
    particles and 0 on the dummy of the energy term are 1-Lipschitz for the ground cost
    ``theta / R`` (phi wrapped as in the cost) and at most 1 away from the dummy
    (Kantorovich-Rubinstein duality).
    ``norm=True``, ``beta >= 1``: ``(|c - c'| / R)^beta`` with ``c`` the pT-weighted centroids
    (Kantorovich-Rubinstein with a linear test function, then Jensen), valid when no phi
    difference needs wrapping (all ``|phi| < pi/2``); otherwise 0.
    """
    pair, settings = check_inputs(pair, settings)
    (a_pt, a_xy), (b_pt, b_xy) = pair
    a_sum, b_sum = a_pt.sum(axis=1), b_pt.sum(axis=1)
    if not settings.norm:
        energy = np.abs(a_sum - b_sum).astype(np.float64)
        if settings.beta != 1:
            return energy
        a_w = (a_pt * _radius(a_xy, settings.R)).sum(axis=1)
        b_w = (b_pt * _radius(b_xy, settings.R)).sum(axis=1)
        radial = np.abs(a_w - b_w)
        complement = np.abs((a_sum - a_w) - (b_sum - b_w))
        return np.maximum(energy, np.maximum(radial, complement)).astype(np.float64)
    if settings.beta < 1:
        return np.zeros(len(a_pt))
    a_c = (a_pt[..., None] * a_xy).sum(axis=1) / np.where(a_sum > 0, a_sum, 1.0)[:, None]
    b_c = (b_pt[..., None] * b_xy).sum(axis=1) / np.where(b_sum > 0, b_sum, 1.0)[:, None]
    bound = (np.sqrt(((a_c - b_c) ** 2).sum(axis=-1)) / settings.R) ** settings.beta
    no_wrap = (np.abs(a_xy[..., 1]).max(axis=1) < np.pi / 2) & (np.abs(b_xy[..., 1]).max(axis=1) < np.pi / 2)
    return np.where(no_wrap & (a_sum > 0) & (b_sum > 0), bound, 0.0)


def _radius(xy: np.ndarray, R: float) -> np.ndarray:
    """``min(|x| / R, 1)`` with phi wrapped into [-pi, pi) like the ground cost. ``xy [batch, P, 2]``."""
    phi = np.mod(xy[..., 1] + np.pi, 2.0 * np.pi) - np.pi
    return np.minimum(np.sqrt(xy[..., 0].astype(np.float64) ** 2 + phi.astype(np.float64) ** 2) / R, 1.0)
