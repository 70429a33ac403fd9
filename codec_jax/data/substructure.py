"""Jet substructure from constituents: soft-drop mass, N2 and tau21.

All functions take padded constituents -- four arrays ``pt, eta, phi, energy`` of shape
``[n_jets, P]`` (GeV, radians) and a boolean ``mask[n_jets, P]`` (True for real particles) -- and
return one float64 value per jet, shape ``[n_jets]``. They run the compiled FastJet and
fastjet-contrib code of the ``fastjet`` package through its multi-event awkward interface (one call
for all jets, no per-particle Python). Angles are distances in the rapidity-azimuth plane,
``dR^2 = dy^2 + dphi^2``, as in FastJet.

Definitions (a physicist can recompute them by hand; ``tests/test_substructure.py`` does):

* **Soft-drop mass** (Larkoski, Marzani, Soyez, Thaler 2014): recluster the constituents with
  Cambridge/Aachen (E-scheme), then undo the last merging ``j -> j1 + j2`` while
  ``min(pt1, pt2) / (pt1 + pt2) <= z_cut * (dR12 / R0)^beta``, following the harder (larger pT)
  branch. The mass of the first branch that passes (or of the last single particle if none does)
  is ``msd``. Defaults: ``beta = 0``, ``z_cut = 0.1``, ``R0 = 0.8``.
* **N2** (Moult, Necib, Thaler 2016) with ``beta = 1``: ``N2 = e3^(2) / (e2^(1))^2`` where, with
  ``z_i = pt_i / sum_k pt_k`` and pairwise angles ``dR_ij``,
  ``e2^(1) = sum_{i<j} z_i z_j dR_ij`` and
  ``e3^(2) = sum_{i<j<k} z_i z_j z_k min(dR_ij dR_ik, dR_ij dR_jk, dR_ik dR_jk)``.
* **tau21** (Thaler, Van Tilburg 2011) with ``beta = 1``: ``tau_N = sum_i pt_i min_a dR_{i,a} /
  (R0 sum_i pt_i)`` with **exclusive-kT axes** (the ``N`` jets of an exclusive kT clustering of the
  constituents, E-scheme); ``tau21 = tau_2 / tau_1``.

Jets with fewer than two particles (three for N2), or whose particles are all collinear
(``e2`` or ``tau_1`` below 1e-12), get ``n2 = tau21 = 0``; a one-particle jet's soft-drop mass is
the mass of the particle.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from codec_jax.errors import DataError

__all__ = [
    "soft_drop_mass",
    "n2",
    "tau21",
    "jet_substructure",
    "sample_substructure",
]

# C/A radius for reclustering a jet's constituents into one exclusive jet: large enough that no
# constituent is ever merged with the beam before the others.
_RECLUSTER_RADIUS = 10.0
# e2 or tau1 below this means all particles are collinear (to rounding): N2 and tau21 are set to 0.
_DEGENERATE = 1e-12


def _fastjet():
    """Import FastJet lazily (it is part of the optional ``generate`` extra)."""
    try:
        import fastjet
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(
            "jet substructure needs the 'fastjet' package: pip install 'codec_jax[generate]'"
        ) from error
    return fastjet


def _check_inputs(pt, eta, phi, energy, mask) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, energy)]
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be [n_jets, particles], got shape {mask.shape}")
    for name, array in zip(("pt", "eta", "phi", "energy"), arrays):
        if array.shape != mask.shape:
            raise ValueError(f"{name} must have the mask's shape {mask.shape}, got {array.shape}")
    return (*arrays, mask)


def _constituent_events(pt, eta, phi, energy, mask) -> ak.Array:
    """One awkward 'event' per jet holding its constituents as (px, py, pz, E) records."""
    counts = mask.sum(axis=1)
    pt, eta, phi, energy = (a[mask] for a in (pt, eta, phi, energy))
    flat = ak.zip(
        {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "E": energy},
        with_name="Momentum4D",
    )
    return ak.unflatten(flat, counts)


def _recluster(events: ak.Array, algorithm: str):
    fastjet = _fastjet()
    algo = {"ca": fastjet.cambridge_algorithm, "kt": fastjet.kt_algorithm}[algorithm]
    return fastjet.ClusterSequence(events, fastjet.JetDefinition(algo, _RECLUSTER_RADIUS))


def _on_jets_with(counts: np.ndarray, minimum: int, compute) -> np.ndarray:
    """Run ``compute(selection)`` only on jets with at least ``minimum`` particles; 0 elsewhere."""
    result = np.zeros(counts.shape[0], dtype=np.float64)
    selection = counts >= minimum
    if selection.any():
        result[selection] = compute(selection)
    return result


def soft_drop_mass(pt, eta, phi, energy, mask, *, beta: float = 0.0, z_cut: float = 0.1, radius: float = 0.8):
    """Soft-drop groomed jet mass [GeV], shape ``[n_jets]`` (see the module docstring)."""
    pt, eta, phi, energy, mask = _check_inputs(pt, eta, phi, energy, mask)
    counts = mask.sum(axis=1)

    def compute(selection):
        events = _constituent_events(
            pt[selection], eta[selection], phi[selection], energy[selection], mask[selection]
        )
        groomed = _recluster(events, "ca").exclusive_jets_softdrop_grooming(
            njets=1, beta=beta, symmetry_cut=z_cut, R0=radius
        )
        # FastJet returns -sqrt(-m^2) for a slightly negative m^2 (single massless particles).
        return np.maximum(np.asarray(groomed.msoftdrop, dtype=np.float64), 0.0)

    return _on_jets_with(counts, 1, compute)


def _ecf(cluster, npoint: int, angles: int, beta: float) -> np.ndarray:
    values = cluster.exclusive_jets_energy_correlator(
        njets=1, beta=beta, npoint=npoint, angles=angles, func="generalized", normalized=True
    )
    return np.asarray(values, dtype=np.float64)


def n2(pt, eta, phi, energy, mask, *, beta: float = 1.0):
    """N2 = e3^(2) / (e2^(1))^2 with angular exponent ``beta``, shape ``[n_jets]``."""
    pt, eta, phi, energy, mask = _check_inputs(pt, eta, phi, energy, mask)
    counts = mask.sum(axis=1)

    def compute(selection):
        events = _constituent_events(
            pt[selection], eta[selection], phi[selection], energy[selection], mask[selection]
        )
        cluster = _recluster(events, "ca")
        e2 = _ecf(cluster, npoint=2, angles=1, beta=beta)
        e3 = _ecf(cluster, npoint=3, angles=2, beta=beta)
        return np.divide(e3, e2**2, out=np.zeros_like(e3), where=e2 > _DEGENERATE)

    return _on_jets_with(counts, 3, compute)


def tau21(pt, eta, phi, energy, mask, *, beta: float = 1.0, radius: float = 0.8):
    """N-subjettiness ratio tau_2 / tau_1 (exclusive-kT axes), shape ``[n_jets]``."""
    pt, eta, phi, energy, mask = _check_inputs(pt, eta, phi, energy, mask)
    counts = mask.sum(axis=1)

    def compute(selection):
        events = _constituent_events(
            pt[selection], eta[selection], phi[selection], energy[selection], mask[selection]
        )
        taus = _recluster(events, "kt").njettiness(
            measure_definition="NormalizedMeasure",
            axes_definition="KT_Axes",
            njets=[1, 2],
            beta=beta,
            R0=radius,
        )
        taus = np.asarray(ak.flatten(taus, axis=None), dtype=np.float64).reshape(-1, 2)
        return np.divide(taus[:, 1], taus[:, 0], out=np.zeros(len(taus)), where=taus[:, 0] > _DEGENERATE)

    return _on_jets_with(counts, 2, compute)


def jet_substructure(pt, eta, phi, energy, mask) -> dict[str, np.ndarray]:
    """``{"msd", "n2", "tau21"}``, each ``[n_jets]``, with the default parameters."""
    return {
        "msd": soft_drop_mass(pt, eta, phi, energy, mask),
        "n2": n2(pt, eta, phi, energy, mask),
        "tau21": tau21(pt, eta, phi, energy, mask),
    }


def sample_substructure(sample) -> dict[str, np.ndarray]:
    """Substructure of a :class:`codec_jax.jets.JetSample` with absolute features.

    Uses only the stored (possibly truncated) constituents; a generated sample's own ``msd``,
    ``n2`` and ``tau21`` were computed from all constituents of the jet.
    """
    if sample.is_relative:
        raise DataError(
            "sample_substructure needs absolute features (pt, eta, phi, energy), got relative ones"
        )
    features = [sample.feature(name) for name in ("pt", "eta", "phi", "energy")]
    return jet_substructure(*features, sample.mask)
