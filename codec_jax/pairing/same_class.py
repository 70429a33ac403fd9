"""Positive pairs of two *different* jets of the *same class* (CoDec's contrastive positives).

CoDec trains its latent space on pairs of jets that share a label: a Z' jet with another Z' jet, a
QCD jet with another QCD jet. With ``mass="different"`` the partner is drawn from another soft-drop
mass cell than the jet itself, so the invariance term of VICReg / Barlow Twins pulls together jets
of one class *at different masses* -- the latent space is pushed to forget the mass without the
mass ever entering the loss. The result is a :class:`codec_jax.pairing.PairSet` (EMD set to zero,
it is not used) whose indices are rows of the sample as given, so that the training engine can
read it as a pair file with ``data.alternate = data.train``::

    sample = load_sample(config.data.train, max_particles)      # the rows the engine reads
    pairs = same_class_pairs(0, sample.label, sample.msd, pairs_per_jet=2,
                             mass_edges=np.linspace(40, 200, 17), mass="different")
    save_pairs(pairs, "pairs.npz")
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codec_jax.errors import ConfigError, DataError
from codec_jax.pairing import PairSet

__all__ = ["PAIR_MASS_MODES", "same_class_pairs"]

#: How the partner's mass relates to the jet's: ``any`` (no condition) or ``different`` (another
#: mass cell of ``mass_edges``; a jet whose class has no jet in another cell falls back to ``any``).
PAIR_MASS_MODES: tuple[str, ...] = ("any", "different")


def _mass_cells(mass: np.ndarray, mass_edges: Sequence[float]) -> np.ndarray:
    """``[n]`` cell index of every jet; jets below / above the edges join the first / last cell."""
    edges = np.asarray(mass_edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
        raise ConfigError(f"mass_edges must be >= 2 increasing values, got {list(edges)}")
    return np.clip(np.searchsorted(edges, mass, side="right") - 1, 0, len(edges) - 2)


def _any_other(rng: np.random.Generator, members: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A uniformly drawn member of ``members`` other than ``members[positions]``, per entry."""
    draw = rng.integers(0, len(members) - 1, size=len(positions))
    return members[draw + (draw >= positions)]


def same_class_pairs(
    seed: int,
    labels: np.ndarray,
    mass: np.ndarray | None = None,
    *,
    pairs_per_jet: int = 1,
    mass_edges: Sequence[float] | None = None,
    partner_mass: str = "any",
) -> PairSet:
    """``pairs_per_jet`` positive pairs per jet, each with a random other jet of the same label.

    Args:
        seed: seeds the NumPy generator (same seed, same pairs).
        labels: ``[n]`` integer class of every jet (e.g. 1 = Z', 0 = QCD).
        mass: ``[n]`` jet mass (GeV), needed with ``partner_mass="different"``.
        pairs_per_jet: partners drawn for every jet (independently, so one jet may get the same
            partner twice).
        mass_edges: ``[cells + 1]`` mass cell edges, needed with ``partner_mass="different"``.
        partner_mass: ``"any"`` or ``"different"`` (:data:`PAIR_MASS_MODES`).

    Returns:
        A :class:`~codec_jax.pairing.PairSet` of ``n * pairs_per_jet`` pairs with
        ``nominal_index`` the jet and ``alternate_index`` its partner (rows of ``labels``), sorted
        by jet; ``emd`` is zero; ``settings`` records the options and the fraction of pairs whose
        partner lies in another mass cell (``other_cell_fraction``, with ``mass_edges``).

    Raises:
        ConfigError: unknown ``partner_mass``, ``pairs_per_jet < 1``, or ``partner_mass="different"``
            without ``mass`` and ``mass_edges``.
        DataError: a class with a single jet (it has no partner), or ``mass`` of the wrong length.
    """
    if partner_mass not in PAIR_MASS_MODES:
        raise ConfigError(f"partner_mass={partner_mass!r}; expected one of {PAIR_MASS_MODES}")
    if int(pairs_per_jet) < 1:
        raise ConfigError(f"pairs_per_jet={pairs_per_jet}; expected at least 1")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be [n_jets], got shape {labels.shape}")
    cells = None
    if mass is not None and mass_edges is not None:
        mass = np.asarray(mass, dtype=np.float64)
        if mass.shape != labels.shape:
            raise DataError(f"mass has shape {mass.shape}, labels {labels.shape}: one value per jet")
        cells = _mass_cells(mass, mass_edges)
    if partner_mass == "different" and cells is None:
        raise ConfigError("partner_mass='different' needs the jet mass and mass_edges")

    rng = np.random.default_rng(seed)
    jets = np.repeat(np.arange(len(labels)), int(pairs_per_jet))
    partners = np.empty_like(jets)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            raise DataError(f"class {label} has {len(members)} jet(s): a same-class pair needs two")
        rows = np.flatnonzero(labels[jets] == label)
        positions = np.searchsorted(members, jets[rows])
        partners[rows] = _any_other(rng, members, positions)
        if partner_mass == "different":
            for cell in np.unique(cells[members]):
                others = members[cells[members] != cell]
                in_cell = rows[cells[jets[rows]] == cell]
                if len(others):  # else: the whole class sits in one cell, keep the "any" partner
                    partners[in_cell] = others[rng.integers(0, len(others), size=len(in_cell))]
    settings = {
        "strategy": "same_class",
        "partner_mass": partner_mass,
        "pairs_per_jet": int(pairs_per_jet),
        "seed": int(seed),
        "n_pairs": int(len(jets)),
    }
    if cells is not None:
        settings["mass_edges"] = [float(edge) for edge in mass_edges]
        settings["other_cell_fraction"] = float(np.mean(cells[jets] != cells[partners])) if len(jets) else 0.0
    return PairSet(jets, partners, np.zeros(len(jets), np.float32), settings)
