"""Flat-mass training sets (CoDec): bias weights, 1D/2D flattening with residual weights, peaky sets.

The CoDec training sample is a wide-width Z' signal whose jet-mass spectrum is made flat, and QCD
resampled to the same flat target, so that a tagger cannot learn the mass:

1. **Bias weights** (:mod:`codec_jax.data.bias`): fit the signal mass shape f(m) and weight each
   jet by ``w(m) = u(m) / f(m)``, ``u`` the flat density on the range.
2. **Flattening** (:func:`flatten`, ``mode="1d"`` in mass or ``"2d"`` in (mass, pT)): in every
   cell of the flattening grid, draw the same number of jets (without replacement) from signal
   and from QCD; the residual non-flatness inside a cell goes into per-jet weights (``weight``
   field), normalised so every cell of each sample has a total weight equal to the target count.
3. **Peaky sets** (:func:`codec_jax.data.peaky.peaky_sample`): narrow Z' samples in equal
   shares, matched in size to the flat set.

Everything is deterministic given the ``seed`` (a NumPy ``Generator`` seeded from it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.data import plots
from codec_jax.data.bias import (
    FIT_MODELS,
    BiasWeights,
    HistogramDensity,
    checked_finite,
    checked_range,
    fit_bias_weights,
)
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError, DataError
from codec_jax.faults import kill_point
from codec_jax.files import atomic_path, output_set
from codec_jax.jets import JetSample

__all__ = [
    "MASS_VARIABLES",
    "FlatSets",
    "flatten",
    "mass_values",
    "write_flat_outputs",
    "resample_cells",
]

#: Signal mass variables (QCD is always flattened in soft-drop mass: it has no truth mass).
MASS_VARIABLES: dict[str, str] = {"msd": "msd", "truth": "truth_mass"}


# --------------------------------------------------------------------------- flattening
@dataclasses.dataclass(frozen=True)
class FlatSets:
    """The flattened signal and QCD sets and how they were made.

    Attributes:
        signal, background: the selected jets, flattening weights in ``weight``.
        mass_edges: ``[n_mass_bins + 1]``; pt_edges: ``[n_pt_bins + 1]`` (2D) or ``None`` (1D).
        jets_per_cell: the target number of jets per cell (and total weight per cell).
        available, selected: ``{"signal": [n_cells], "background": [n_cells]}`` jet counts per
            cell before and after resampling (cells are mass-major: ``m_bin * n_pt_bins + pt_bin``).
        signal_bias, background_bias: the bias weights used inside the cells.
        settings: the arguments of :func:`flatten` (JSON-serialisable).
    """

    signal: JetSample
    background: JetSample
    mass_edges: np.ndarray
    pt_edges: np.ndarray | None
    jets_per_cell: int
    available: dict[str, np.ndarray]
    selected: dict[str, np.ndarray]
    signal_bias: BiasWeights
    background_bias: BiasWeights
    settings: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable record (settings, fits, counts) for ``flatten.json``."""
        return {
            "settings": self.settings,
            "mass_edges": self.mass_edges.tolist(),
            "pt_edges": None if self.pt_edges is None else self.pt_edges.tolist(),
            "jets_per_cell": self.jets_per_cell,
            "n_jets": {"signal": len(self.signal), "background": len(self.background)},
            "available": {key: value.tolist() for key, value in self.available.items()},
            "selected": {key: value.tolist() for key, value in self.selected.items()},
            "signal_bias": self.signal_bias.to_dict(),
            "background_bias": self.background_bias.to_dict(),
        }


def mass_values(sample: JetSample, mass_variable: str) -> tuple[str, np.ndarray]:
    """The field name and ``[n_jets]`` values of the mass used for flattening ``sample``.

    ``mass_variable`` is ``"msd"`` or ``"truth"``; :func:`flatten` always uses ``"msd"`` for the
    background (QCD has no truth mass).
    """
    if mass_variable not in MASS_VARIABLES:
        raise ConfigError(
            f"unknown mass variable {mass_variable!r}; expected one of {sorted(MASS_VARIABLES)}"
        )
    field = MASS_VARIABLES[mass_variable]
    if field == "truth_mass" and len(sample) and np.all(sample.truth_mass <= 0):
        raise DataError(
            "field 'truth_mass' is zero for every jet (QCD, or not stored); use mass_variable='msd'"
        )
    return field, getattr(sample, field)


def _cell_index(mass, pt, mass_edges, pt_edges) -> np.ndarray:
    """``[n_jets]`` cell index (mass-major), -1 outside the grid."""
    m_bin = np.searchsorted(mass_edges, mass, side="right") - 1
    m_bin = np.where(mass == mass_edges[-1], len(mass_edges) - 2, m_bin)
    valid = (m_bin >= 0) & (m_bin < len(mass_edges) - 1)
    if pt_edges is None:
        return np.where(valid, m_bin, -1)
    p_bin = np.searchsorted(pt_edges, pt, side="right") - 1
    p_bin = np.where(pt == pt_edges[-1], len(pt_edges) - 2, p_bin)
    valid &= (p_bin >= 0) & (p_bin < len(pt_edges) - 1)
    return np.where(valid, m_bin * (len(pt_edges) - 1) + p_bin, -1)


def _describe_cell(cell: int, mass_edges, pt_edges) -> str:
    n_pt = 1 if pt_edges is None else len(pt_edges) - 1
    m_bin, p_bin = divmod(cell, n_pt)
    text = f"mass bin [{mass_edges[m_bin]:g}, {mass_edges[m_bin + 1]:g}) GeV"
    if pt_edges is not None:
        text += f", pT bin [{pt_edges[p_bin]:g}, {pt_edges[p_bin + 1]:g}) GeV"
    return text


@dataclasses.dataclass(frozen=True)
class _Cells:
    """One sample on the flattening grid: per-jet ``[n_jets]`` arrays and per-cell counts."""

    field: str  # the mass field used
    mass: np.ndarray
    pt: np.ndarray
    weight: np.ndarray
    cell: np.ndarray  # cell index, -1 outside the grid
    counts: np.ndarray  # [n_cells] jets per cell

    @property
    def inside(self) -> np.ndarray:
        return self.cell >= 0


def _assign_cells(name, sample, mass_variable, mass_edges, pt_edges, pt_range, min_jets_per_cell) -> _Cells:
    """Check a sample's fields and put its jets into cells; DataError for empty or sparse cells."""
    field, mass = mass_values(sample, mass_variable)
    mass = checked_finite(f"{name} field {field!r}", mass)
    pt = checked_finite(f"{name} field 'pt'", sample.pt)
    weight = checked_finite(f"{name} field 'weight'", sample.weight)
    cell = _cell_index(mass, pt, mass_edges, pt_edges)
    cell[(pt < pt_range[0]) | (pt > pt_range[1])] = -1
    if not np.any(cell >= 0):
        window = f" and pt in [{pt_range[0]:g}, {pt_range[1]:g}] GeV" if np.isfinite(pt_range[0]) else ""
        raise DataError(
            f"{name}: no jets with {field} in [{mass_edges[0]:g}, {mass_edges[-1]:g}] GeV{window}"
        )
    n_cells = (len(mass_edges) - 1) * (1 if pt_edges is None else len(pt_edges) - 1)
    counts = np.bincount(cell[cell >= 0], minlength=n_cells)
    sparse = np.flatnonzero(counts < min_jets_per_cell)
    if sparse.size:
        first = int(sparse[0])
        raise DataError(
            f"{name}: {_describe_cell(first, mass_edges, pt_edges)} holds {counts[first]} jets "
            f"(field {field!r}), fewer than min_jets_per_cell={min_jets_per_cell} "
            f"({sparse.size} such cell(s)); use fewer bins, a narrower range or more jets"
        )
    return _Cells(field=field, mass=mass, pt=pt, weight=weight, cell=cell, counts=counts)


def resample_cells(rng, cells, weights, n_cells, target) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``min(target, count)`` jets per cell without replacement; weights summing to target.

    ``rng``: a NumPy ``Generator``; ``cells [n_jets]``: each jet's cell index (-1 outside the
    grid); ``weights [n_jets]``: within-cell weights; ``n_cells``, ``target``: ints.

    Returns sorted jet indices ``[n_selected]`` and their weights ``[n_selected]``.
    """
    chosen, chosen_weights = [], []
    for cell in range(n_cells):
        members = np.flatnonzero(cells == cell)
        pick = np.sort(rng.choice(members, size=min(target, members.size), replace=False))
        cell_weights = weights[pick]
        total = cell_weights.sum()
        if not total > 0:
            cell_weights = np.ones(pick.size)
            total = float(pick.size)
        chosen.append(pick)
        chosen_weights.append(cell_weights * (target / total))
    order = np.concatenate(chosen)
    sort = np.argsort(order, kind="stable")
    return order[sort], np.concatenate(chosen_weights)[sort]


def flatten(
    seed: int,
    signal: JetSample,
    background: JetSample,
    *,
    mass_range: tuple[float, float],
    mode: str = "1d",
    pt_range: tuple[float, float] | None = None,
    mass_bins: int = 26,
    pt_bins: int = 4,
    mass_variable: str = "msd",
    fit: str = "double_crystalball",
    jets_per_cell: int | None = None,
    min_jets_per_cell: int = 20,
) -> FlatSets:
    """Resample signal and QCD to the same flat target in mass (1D) or (mass, pT) (2D).

    Args:
        seed: seeds the NumPy generator (same seed, same sets).
        signal, background: the samples (signal: wide-width Z'; background: QCD).
        mass_range: ``(m_lo, m_hi)`` [GeV]; jets outside are dropped.
        mode: ``"1d"`` (mass cells) or ``"2d"`` (mass x pT cells; needs ``pt_range``).
        pt_range: ``(pt_lo, pt_hi)`` [GeV]; in 1D an optional pre-selection.
        mass_bins, pt_bins: number of cells along mass and pT (uniform).
        mass_variable: signal mass, ``"msd"`` or ``"truth"`` (QCD always uses msd).
        fit: signal mass-shape model (:data:`FIT_MODELS`), the within-cell weights of signal;
            QCD uses the histogram density on the cell grid.
        jets_per_cell: target jets per cell per sample; default the smallest cell count.
            Cells with fewer jets keep all of them and get weights summing to the target.
        min_jets_per_cell: a cell of either sample with fewer jets raises :class:`DataError`.

    Returns:
        :class:`FlatSets` with the selected jets, per-jet weights summing to ``jets_per_cell``
        in every cell of both samples.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the flattening seed must be an integer >= 0, got {seed!r}")
    if mode not in ("1d", "2d"):
        raise ConfigError(f"mode must be '1d' or '2d', got {mode!r}")
    if fit not in FIT_MODELS:
        raise ConfigError(f"unknown fit model {fit!r}; expected one of {FIT_MODELS}")
    m_lo, m_hi = checked_range("mass_range", mass_range)
    if mode == "2d" and pt_range is None:
        raise ConfigError("2d flattening needs pt_range=(pt_lo, pt_hi)")
    pt_lo, pt_hi = checked_range("pt_range", pt_range) if pt_range is not None else (-np.inf, np.inf)
    mass_edges = np.linspace(m_lo, m_hi, mass_bins + 1)
    pt_edges = np.linspace(pt_lo, pt_hi, pt_bins + 1) if mode == "2d" else None
    n_cells = mass_bins * (pt_bins if mode == "2d" else 1)

    prepared = {
        name: _assign_cells(
            name,
            sample,
            mass_variable if name == "signal" else "msd",
            mass_edges,
            pt_edges,
            (pt_lo, pt_hi),
            min_jets_per_cell,
        )
        for name, sample in (("signal", signal), ("background", background))
    }
    sig = prepared["signal"]
    signal_bias = fit_bias_weights(
        sig.mass[sig.inside],
        mass_range=(m_lo, m_hi),
        model=fit,
        weight=sig.weight[sig.inside],
        pt=sig.pt[sig.inside] if mode == "2d" else None,
        pt_range=pt_range if mode == "2d" else None,
        hist_bins=mass_bins,
        pt_bins=pt_bins,
        field=sig.field,
    )
    bkg = prepared["background"]
    background_bias = BiasWeights(
        HistogramDensity.from_values(
            bkg.mass[bkg.inside], mass_edges, weight=bkg.weight[bkg.inside], field="msd"
        ),
        (m_lo, m_hi),
    )
    if mode == "2d":
        pt_density = HistogramDensity.from_values(
            bkg.pt[bkg.inside], pt_edges, weight=bkg.weight[bkg.inside], field="pt"
        )
        background_bias = dataclasses.replace(background_bias, pt_density=pt_density, pt_range=(pt_lo, pt_hi))

    target = int(jets_per_cell) if jets_per_cell else int(min(p.counts.min() for p in prepared.values()))
    if target < 1:
        raise ConfigError(f"jets_per_cell must be positive, got {jets_per_cell}")
    settings = {
        "seed": int(seed),
        "mode": mode,
        "mass_range": [m_lo, m_hi],
        "pt_range": None if pt_range is None else [pt_lo, pt_hi],
        "mass_bins": mass_bins,
        "pt_bins": pt_bins if mode == "2d" else None,
        "mass_variable": mass_variable,
        "fit": fit,
        "jets_per_cell": jets_per_cell,
        "min_jets_per_cell": min_jets_per_cell,
    }
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]
    outputs, selected = {}, {}
    for rng, (name, sample), bias in zip(
        rngs, (("signal", signal), ("background", background)), (signal_bias, background_bias)
    ):
        cells = prepared[name]
        within = cells.weight * bias(cells.mass, cells.pt if bias.pt_density is not None else None)
        if not np.all(np.isfinite(within[cells.inside])):
            raise DataError(f"{name}: flattening weights are not finite (check field 'weight')")
        index, new_weight = resample_cells(rng, cells.cell, within, n_cells, target)
        selected[name] = np.bincount(cells.cell[index], minlength=n_cells)
        outputs[name] = (
            sample[index]
            .replace(weight=new_weight.astype(np.float32))
            .with_metadata(flattening={**settings, "jets_per_cell_used": target})
        )
    return FlatSets(
        signal=outputs["signal"],
        background=outputs["background"],
        mass_edges=mass_edges,
        pt_edges=pt_edges,
        jets_per_cell=target,
        available={name: cells.counts for name, cells in prepared.items()},
        selected=selected,
        signal_bias=signal_bias,
        background_bias=background_bias,
        settings=settings,
    )


# --------------------------------------------------------------------------- outputs
def write_flat_outputs(
    flat: FlatSets, signal: JetSample, background: JetSample, out_dir: str | os.PathLike
) -> dict[str, Path]:
    """Write a flattening run to ``out_dir`` and return the paths: each file atomically, and
    ``signal.root``, ``background.root`` and ``flatten.json`` as one output set
    (:func:`codec_jax.files.output_set`: a reader refuses them if a run was killed while
    overwriting an earlier one).

    Files: ``signal.root`` and ``background.root`` (the generator's schema, flattening weights in
    the ``weight`` branch), ``flatten.json`` (:meth:`FlatSets.summary`) and the plots
    ``spectra_mass.png``, ``spectra_pt.png``, ``weights.png`` and ``mass_fit.png``. ``signal``
    and ``background`` are the inputs of :func:`flatten` (the "before" spectra).
    """

    out = Path(out_dir)
    with output_set(out, "codec-jax flatten") as members:
        paths = {"signal": write_root(flat.signal, out / "signal.root")}
        kill_point("flatten:signal_written")  # fault tests: a kill between two files of the set
        paths["background"] = write_root(flat.background, out / "background.root")
        with atomic_path(out / "flatten.json") as tmp:
            tmp.write_text(json.dumps(flat.summary(), indent=1))
        paths["summary"] = out / "flatten.json"
        members.extend(paths.values())

    mass_variable = flat.settings["mass_variable"]
    m_range = tuple(flat.settings["mass_range"])
    signal_field, signal_mass = mass_values(signal, mass_variable)
    after_field, after_mass = mass_values(flat.signal, mass_variable)
    label = "msd" if signal_field == "msd" else "flattening mass [GeV] (signal: truth, QCD: $m_{SD}$)"
    before = {"signal": (signal_mass, signal.weight), "background": (background.msd, background.weight)}
    after = {
        "signal": (after_mass, flat.signal.weight),
        "background": (flat.background.msd, flat.background.weight),
    }
    paths["spectra_mass"] = plots.plot_spectra(
        before,
        after,
        out / "spectra_mass.png",
        variable=label,
        bins=3 * (len(flat.mass_edges) - 1),
        value_range=m_range,
    )
    pt_range = flat.settings["pt_range"] or tuple(
        np.quantile(np.concatenate([signal.pt, background.pt]), [0.0, 0.99])
    )
    before_pt = {"signal": (signal.pt, signal.weight), "background": (background.pt, background.weight)}
    after_pt = {
        "signal": (flat.signal.pt, flat.signal.weight),
        "background": (flat.background.pt, flat.background.weight),
    }
    paths["spectra_pt"] = plots.plot_spectra(
        before_pt, after_pt, out / "spectra_pt.png", variable="pt", bins=30, value_range=tuple(pt_range)
    )
    paths["weights"] = plots.plot_weights(
        {"signal": flat.signal.weight, "background": flat.background.weight}, out / "weights.png"
    )
    paths["mass_fit"] = plots.plot_mass_fit(
        flat.signal_bias.mass_density,
        signal_mass,
        out / "mass_fit.png",
        weights=signal.weight,
        value_range=m_range,
        variable=signal_field,
    )
    return paths
