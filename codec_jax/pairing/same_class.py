"""Positive pairs of two *different* jets of the *same class* (CoDec's contrastive positives).

CoDec trains its latent space on pairs of jets that share a label: a Z' jet with another Z' jet, a
QCD jet with another QCD jet. How the partner's mass relates to the jet's (``partner_mass``):

* ``any`` -- no condition (the public CoDec notebooks' random same-class pairs);
* ``different`` -- the partner is drawn from another soft-drop mass cell than the jet itself, so
  the invariance term of VICReg / Barlow Twins pulls together jets of one class *at different
  masses* and the latent space is pushed to forget the mass. The mass never enters the loss, but
  it is used to *build* the pairs;
* ``similar`` -- the partner is one of the ``similar_ranks`` same-class jets just below or above
  the jet in mass rank (the notebooks' "similar mass rank" pairs): the pairs share class *and*
  mass, which the latent space is then free to keep.

The result is a :class:`codec_jax.pairing.PairSet` (EMD set to zero,
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

#: How the partner's mass relates to the jet's: ``any`` (no condition), ``different`` (another
#: mass cell of ``mass_edges``; a jet whose class has no jet in another cell falls back to ``any``)
#: or ``similar`` (one of the ``similar_ranks`` nearest same-class jets on each side in mass rank).
PAIR_MASS_MODES: tuple[str, ...] = ("any", "different", "similar")


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


def _similar_rank(rng: np.random.Generator, n_members: int, ranks: np.ndarray, window: int) -> np.ndarray:
    """For jets at mass ranks ``ranks`` among ``n_members`` (0 = lightest), the rank of a partner
    drawn uniformly from the ``2 * window`` nearest other ranks (a window of ``2 * window + 1``
    ranks centred on the jet, shifted inwards at the ends; all others for a small class)."""
    size = min(2 * window + 1, n_members)
    start = np.clip(ranks - window, 0, n_members - size)
    draw = start + rng.integers(0, size - 1, size=len(ranks))
    return draw + (draw >= ranks)


def same_class_pairs(
    seed: int,
    labels: np.ndarray,
    mass: np.ndarray | None = None,
    *,
    pairs_per_jet: int = 1,
    mass_edges: Sequence[float] | None = None,
    partner_mass: str = "any",
    similar_ranks: int = 5,
) -> PairSet:
    """``pairs_per_jet`` positive pairs per jet, each with a random other jet of the same label.

    Args:
        seed: seeds the NumPy generator (same seed, same pairs).
        labels: ``[n]`` integer class of every jet (e.g. 1 = Z', 0 = QCD).
        mass: ``[n]`` jet mass (GeV), needed with ``partner_mass="different"`` or ``"similar"``.
        pairs_per_jet: partners drawn for every jet (independently, so one jet may get the same
            partner twice).
        mass_edges: ``[cells + 1]`` mass cell edges, needed with ``partner_mass="different"``.
        partner_mass: ``"any"``, ``"different"`` or ``"similar"`` (:data:`PAIR_MASS_MODES`).
        similar_ranks: with ``"similar"``, the partner is one of this many same-class jets on
            each side of the jet in mass rank (ties in mass are ranked in row order).

    Returns:
        A :class:`~codec_jax.pairing.PairSet` of ``n * pairs_per_jet`` pairs with
        ``nominal_index`` the jet and ``alternate_index`` its partner (rows of ``labels``), sorted
        by jet; ``emd`` is zero; ``settings`` records the options, the fraction of pairs whose
        partner lies in another mass cell (``other_cell_fraction``, with ``mass_edges``) and the
        median mass difference of the pairs (``median_abs_mass_difference``, with ``mass``).

    Raises:
        ConfigError: unknown ``partner_mass``, ``pairs_per_jet < 1``, ``similar_ranks < 1``,
            ``partner_mass="different"`` without ``mass`` and ``mass_edges``, or
            ``partner_mass="similar"`` without ``mass``.
        DataError: a class with a single jet (it has no partner), or ``mass`` of the wrong length.
    """
    if partner_mass not in PAIR_MASS_MODES:
        raise ConfigError(f"partner_mass={partner_mass!r}; expected one of {PAIR_MASS_MODES}")
    if int(pairs_per_jet) < 1:
        raise ConfigError(f"pairs_per_jet={pairs_per_jet}; expected at least 1")
    if int(similar_ranks) < 1:
        raise ConfigError(f"similar_ranks={similar_ranks}; expected at least 1")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be [n_jets], got shape {labels.shape}")
    cells = None
    if mass is not None:
        mass = np.asarray(mass, dtype=np.float64)
        if mass.shape != labels.shape:
            raise DataError(f"mass has shape {mass.shape}, labels {labels.shape}: one value per jet")
        if mass_edges is not None:
            cells = _mass_cells(mass, mass_edges)
    if partner_mass == "different" and cells is None:
        raise ConfigError("partner_mass='different' needs the jet mass and mass_edges")
    if partner_mass == "similar" and mass is None:
        raise ConfigError("partner_mass='similar' needs the jet mass")

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
        if partner_mass == "similar":
            by_mass = members[np.argsort(mass[members], kind="stable")]
            rank = np.empty(len(labels), dtype=np.int64)
            rank[by_mass] = np.arange(len(by_mass))
            partners[rows] = by_mass[_similar_rank(rng, len(by_mass), rank[jets[rows]], int(similar_ranks))]
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
    if partner_mass == "similar":
        settings["similar_ranks"] = int(similar_ranks)
    if cells is not None:
        settings["mass_edges"] = [float(edge) for edge in mass_edges]
        settings["other_cell_fraction"] = float(np.mean(cells[jets] != cells[partners])) if len(jets) else 0.0
    if mass is not None and len(jets):
        settings["median_abs_mass_difference"] = float(np.median(np.abs(mass[jets] - mass[partners])))
    return PairSet(jets, partners, np.zeros(len(jets), np.float32), settings)
