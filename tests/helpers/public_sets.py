"""Small synthetic files in the public sets' schemas (for the reader and study tests)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from codec_jax.data.public_sets import JETCLASS_CLASSES


def four_momenta(rng: np.random.Generator, n_jets: int, max_count: int = 12):
    """``(counts, px, py, pz, E)``: flat momenta of massless constituents and per-jet counts."""
    counts = rng.integers(3, max_count + 1, n_jets)
    pt = rng.exponential(30.0, counts.sum()) + 1.0
    eta = rng.normal(0.0, 1.0, counts.sum())
    phi = rng.uniform(-np.pi, np.pi, counts.sum())
    return counts, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)


def write_jetclass(path: Path, n: int, seed: int, classes: np.ndarray | None = None) -> dict:
    """A JetClass-schema ROOT file (TTree ``tree``); returns its branches, counts and classes."""
    rng = np.random.default_rng(seed)
    counts, px, py, pz, energy = four_momenta(rng, n)
    classes = rng.integers(0, len(JETCLASS_CLASSES), n) if classes is None else classes
    branches = {
        f"part_{k}": ak.unflatten(v, counts)
        for k, v in (("px", px), ("py", py), ("pz", pz), ("energy", energy))
    }
    branches.update(
        jet_pt=rng.uniform(500, 1000, n),
        jet_eta=rng.uniform(-2, 2, n),
        jet_phi=rng.uniform(-3, 3, n),
        jet_sdmass=rng.uniform(10, 200, n),
        jet_tau1=rng.uniform(0.1, 1, n),
        jet_tau2=rng.uniform(0.05, 0.5, n),
    )
    branches["jet_energy"] = branches["jet_pt"] * np.cosh(branches["jet_eta"]) * 1.02
    for index, name in enumerate(JETCLASS_CLASSES):
        branches[f"label_{name}"] = (classes == index).astype(np.float32)
    with uproot.recreate(path) as file:
        file["tree"] = branches
    return {"branches": branches, "counts": counts, "px": px, "py": py, "classes": classes}
