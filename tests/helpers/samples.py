"""Small absolute-feature jet samples shared by the data and I/O tests."""

from __future__ import annotations

import numpy as np

from codec_jax.jets import ABSOLUTE_FEATURES, JetSample, wrap_phi


def make_sample(n=6, p=5, seed=0):
    """``n`` jets of up to ``p`` pT-ordered constituents (pt, eta, phi, energy), random labels and
    masses, and one extra field ``truth_dr``."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, p + 1, size=n)
    mask = np.arange(p)[None, :] < counts[:, None]
    pt = np.sort(rng.exponential(50.0, size=(n, p)), axis=1)[:, ::-1]
    eta = rng.normal(0.0, 1.0, size=(n, 1)) + rng.normal(0.0, 0.2, size=(n, p))
    phi = wrap_phi(rng.uniform(-np.pi, np.pi, size=(n, 1)) + rng.normal(0.0, 0.2, size=(n, p)))
    parts = np.stack([pt, eta, phi, pt * np.cosh(eta)], axis=-1) * mask[..., None]
    jets = {
        "pt": (pt * mask).sum(axis=1),
        "eta": eta[:, 0],
        "phi": phi[:, 0],
        "label": rng.integers(0, 2, size=n),
        "mass": rng.uniform(10, 200, size=n),
    }
    return JetSample.from_arrays(
        parts, mask, ABSOLUTE_FEATURES, jets, extra={"truth_dr": rng.uniform(size=n)}
    )
