"""Synthetic but realistic-looking jets for EMD tests and benchmarks.

A jet is one to three hard prongs (pT fractions from a Dirichlet) a few tenths of a radian apart,
each radiating soft collinear particles: particle momentum fractions follow a falling spectrum and
their angular spread from the prong axis grows as the particle gets softer (~ 1/sqrt(pT)).
Coordinates are (eta, phi) relative to the pT-weighted centroid (the jet axis).
"""

from __future__ import annotations

import numpy as np

from codec_jax.jets import RELATIVE_FEATURES, JetSample

__all__ = ["make_jets", "perturb_jets", "relative_sample"]


def make_jets(
    rng: np.random.Generator,
    n_jets: int,
    max_particles: int,
    *,
    min_particles: int | None = None,
    jet_pt: tuple[float, float] = (400.0, 800.0),
) -> tuple[np.ndarray, np.ndarray]:
    """``pt [n_jets, max_particles]`` (GeV, zero-padded, pT-ordered) and ``xy [..., 2]``."""
    min_particles = max_particles // 2 if min_particles is None else min_particles
    pt = np.zeros((n_jets, max_particles), np.float32)
    xy = np.zeros((n_jets, max_particles, 2), np.float32)
    for j in range(n_jets):
        n = int(rng.integers(min_particles, max_particles + 1))
        n_prongs = int(rng.integers(1, 4))
        prong_frac = rng.dirichlet(np.full(n_prongs, 2.0))
        prong_axes = rng.normal(0.0, 0.15, size=(n_prongs, 2))
        owner = rng.choice(n_prongs, size=n, p=prong_frac)
        z = rng.pareto(1.2, size=n) + 0.02
        z = z / z.sum() * rng.uniform(*jet_pt)
        spread = 0.02 * np.sqrt(z.max() / z)
        pos = prong_axes[owner] + rng.normal(size=(n, 2)) * np.minimum(spread, 0.35)[:, None]
        pos -= (z[:, None] * pos).sum(axis=0) / z.sum()
        order = np.argsort(-z)
        pt[j, :n] = z[order]
        xy[j, :n] = pos[order]
    return pt, xy


def perturb_jets(
    rng: np.random.Generator, pt: np.ndarray, xy: np.ndarray, *, scale: float = 0.05, smear: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """An "alternate" version of jets: pT scaled by ``1 + N(0, scale)`` per particle and
    (eta, phi) smeared by ``smear / sqrt(pT)``; padding stays zero."""
    real = pt > 0
    new_pt = np.where(real, pt * (1.0 + scale * rng.normal(size=pt.shape)), 0.0).clip(min=0.0)
    sigma = smear / np.sqrt(np.where(real, pt, 1.0))
    new_xy = np.where(real[..., None], xy + rng.normal(size=xy.shape) * sigma[..., None], 0.0)
    return new_pt.astype(np.float32), new_xy.astype(np.float32)


def relative_sample(pt: np.ndarray, xy: np.ndarray, labels: np.ndarray | None = None) -> JetSample:
    """A :class:`JetSample` in relative features from ``pt [n, P]`` (GeV, zero = padding) and
    ``xy [n, P, 2]``: pT fractions, (eta, phi) around the axis, jet pT = the sum of the pT, labels
    ``labels [n]`` (default 0)."""
    jet_pt = pt.sum(axis=1)
    parts = np.stack([pt / jet_pt[:, None], xy[..., 0], xy[..., 1]], axis=-1)
    jets = {"pt": jet_pt, "label": np.zeros(len(pt)) if labels is None else labels}
    return JetSample.from_arrays(parts, pt > 0, RELATIVE_FEATURES, jets)
