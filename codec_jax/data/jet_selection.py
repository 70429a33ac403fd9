"""From a batch of Pythia events to one selected, truth-labelled jet per event.

Works on the awkward record that ``pythia8mc.Pythia.nextBatch`` returns (``events.prt`` with
``id, status, mother1, p.{px,py,pz,e}``) and clusters all events in one call of FastJet's
multi-event interface, so no Python loop runs over events or particles.

Per event:

1. visible final state: particles with ``status > 0`` that are not neutrinos;
2. anti-kT jets (E-scheme) with radius ``R`` and ``pT > pt_min``, kept if ``|eta| < eta_max``;
3. with a photon recoil, jets within ``dR < R`` of the hard-process photon are dropped;
4. signal (``truth=True``): the boson is the sum of its two decay quarks (``|status| = 23`` with a
   Z mother); the jet closest to it in (eta, phi), if within ``dR < R``, is selected. Background:
   the highest-pT remaining jet is selected.

Events without a selected jet are skipped. Angles here use pseudorapidity ``eta``.
"""

from __future__ import annotations

import dataclasses

import awkward as ak
import numpy as np

__all__ = ["SelectedJets", "select_jets", "concatenate_selected"]

_NEUTRINOS = (12, 14, 16)
_Z_ID = 23
_PHOTON_ID = 22
_HARD_OUTGOING_STATUS = 23
_BEAM_PARTON_ENTRY = 3  # entries 3, 4: the incoming partons of the hard process


@dataclasses.dataclass(frozen=True)
class SelectedJets:
    """Selected jets of a batch of events.

    Attributes:
        constituents: awkward ``[n_jets, var]`` records ``px, py, pz, E`` [GeV], pT-ordered
            (highest first), all constituents of each jet.
        pt, eta, phi, mass: ``[n_jets]`` jet four-vector kinematics (all constituents).
        truth_mass: ``[n_jets]`` boson mass [GeV] (signal), 0 for background.
        truth_dr: ``[n_jets]`` dR(q, qbar) of the boson decay (signal), -1 for background.
        event_index: ``[n_jets]`` index of each jet's event in the batch.
    """

    constituents: ak.Array
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    truth_mass: np.ndarray
    truth_dr: np.ndarray
    event_index: np.ndarray

    def __len__(self) -> int:
        return len(self.pt)

    def head(self, n: int) -> SelectedJets:
        """The first ``n`` jets."""
        return self.take(slice(None, n))

    def take(self, index) -> SelectedJets:
        """The jets at ``index`` (a slice, an integer array or a boolean mask over jets)."""
        return SelectedJets(
            constituents=self.constituents[index],
            **{field: getattr(self, field)[index] for field in _ARRAY_FIELDS},
        )


_ARRAY_FIELDS = ("pt", "eta", "phi", "mass", "truth_mass", "truth_dr", "event_index")


def concatenate_selected(parts: list[SelectedJets], batch_sizes: list[int]) -> SelectedJets:
    """Join the selections of consecutive batches of ``batch_sizes`` events (``event_index`` then
    counts events from the start of the first batch)."""
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
    fields = {field: np.concatenate([getattr(p, field) for p in parts]) for field in _ARRAY_FIELDS}
    fields["event_index"] = np.concatenate([p.event_index + offset for p, offset in zip(parts, offsets)])
    return SelectedJets(constituents=ak.concatenate([p.constituents for p in parts]), **fields)


def _kinematics(px, py, pz, energy):
    """pt, eta, phi, mass of awkward or NumPy four-vector components (same nesting)."""
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / pt)
    phi = np.arctan2(py, px)
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, phi, mass


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2.0 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _sum_momenta(particles: ak.Array):
    """Per-event sum of ``particles.p`` components (px, py, pz, E), each ``[n_events]``."""
    return tuple(np.asarray(ak.sum(particles.p[c], axis=1)) for c in ("px", "py", "pz", "e"))


def select_jets(
    events: ak.Array,
    *,
    truth: bool,
    photon_recoil: bool,
    radius: float = 0.8,
    pt_min: float = 400.0,
    eta_max: float = 2.5,
) -> SelectedJets:
    """Cluster every event and select at most one jet per event (see the module docstring).

    Args:
        events: ``pythia8mc`` ``nextBatch`` output, ``[n_events]`` records with a ``prt`` list.
        truth: True for a boson sample (truth-match the jet to the boson).
        photon_recoil: drop jets within ``radius`` of the hard-process photon.
    """
    import fastjet

    prt = events.prt
    abs_id = abs(prt.id)
    visible = (
        (prt.status > 0) & (abs_id != _NEUTRINOS[0]) & (abs_id != _NEUTRINOS[1]) & (abs_id != _NEUTRINOS[2])
    )
    final = prt[visible]
    vectors = ak.zip(
        {"px": final.p.px, "py": final.p.py, "pz": final.p.pz, "E": final.p.e},
        with_name="Momentum4D",
    )
    cluster = fastjet.ClusterSequence(vectors, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = cluster.inclusive_jets(min_pt=pt_min)
    constituents = cluster.constituents(min_pt=pt_min)
    jet_pt, jet_eta, jet_phi, jet_mass = _kinematics(jets.px, jets.py, jets.pz, jets.E)

    candidate = abs(jet_eta) < eta_max
    n_events = len(events)
    if photon_recoil:
        photon = prt[
            (prt.id == _PHOTON_ID)
            & (abs(prt.status) == _HARD_OUTGOING_STATUS)
            & (prt.mother1 == _BEAM_PARTON_ENTRY)
        ]
        has_photon = ak.num(photon) > 0
        photon = ak.firsts(photon)
        _, ph_eta, ph_phi, _ = _kinematics(photon.p.px, photon.p.py, photon.p.pz, photon.p.e)
        near_photon = _delta_r(jet_eta, jet_phi, ph_eta, ph_phi) < radius
        candidate = candidate & ~ak.fill_none(near_photon & has_photon, False)

    truth_mass = np.zeros(n_events)
    truth_dr = np.full(n_events, -1.0)
    if truth:
        mother_id = prt.id[prt.mother1]
        quarks = prt[(abs(prt.status) == _HARD_OUTGOING_STATUS) & (mother_id == _Z_ID) & (abs_id <= 6)]
        has_pair = np.asarray(ak.num(quarks) == 2)
        with np.errstate(divide="ignore", invalid="ignore"):  # events without a pair: masked below
            _, boson_eta, boson_phi, truth_mass = _kinematics(*_sum_momenta(quarks))
        q_pt, q_eta, q_phi, _ = _kinematics(quarks.p.px, quarks.p.py, quarks.p.pz, quarks.p.e)
        pair_dr = _delta_r(
            ak.firsts(q_eta), ak.firsts(q_phi), ak.firsts(q_eta[:, 1:]), ak.firsts(q_phi[:, 1:])
        )
        truth_dr = np.asarray(ak.fill_none(pair_dr, -1.0), dtype=np.float64)
        match_dr = _delta_r(jet_eta, jet_phi, boson_eta, boson_phi)
        candidate = candidate & (match_dr < radius) & has_pair
        score = ak.where(candidate, match_dr, np.inf)
        best = ak.argmin(score, axis=1, keepdims=True)
    else:
        score = ak.where(candidate, jet_pt, -np.inf)
        best = ak.argmax(score, axis=1, keepdims=True)

    selected = np.asarray(ak.any(candidate, axis=1))
    best = best[selected]
    chosen = constituents[selected][best][:, 0]
    c_pt = np.hypot(chosen.px, chosen.py)
    chosen = chosen[ak.argsort(c_pt, axis=1, ascending=False)]
    picked = [
        np.asarray(ak.fill_none(ak.firsts(array[selected][best]), np.nan), dtype=np.float64)
        for array in (jet_pt, jet_eta, jet_phi, jet_mass)
    ]
    return SelectedJets(
        constituents=chosen,
        pt=picked[0],
        eta=picked[1],
        phi=picked[2],
        mass=picked[3],
        truth_mass=np.asarray(truth_mass, dtype=np.float64)[selected] if truth else np.zeros(selected.sum()),
        truth_dr=truth_dr[selected],
        event_index=np.flatnonzero(selected),
    )
