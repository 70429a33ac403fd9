"""Readers of the public jet datasets, each producing a :class:`~codec_jax.jets.JetSample`.

Nothing is downloaded: point the readers at local copies. Particles come out in absolute
features ``(pt, eta, phi, energy)``, sorted by decreasing pT and padded to ``max_particles``
(default: the largest multiplicity); quantities a set does not provide are 0 and listed in
``metadata["unavailable"]``.

* **JetClass** (Qu, Li, Qian 2022; ROOT, TTree ``tree``; weaver's format):
  :func:`read_jetclass`. Particles from ``part_px/py/pz/energy``; jets from ``jet_pt``,
  ``jet_eta``, ``jet_phi``, ``jet_energy`` (mass = sqrt(E^2 - |p|^2)), ``jet_sdmass`` (msd),
  ``jet_tau2 / jet_tau1`` (tau21); the class from the one-hot ``label_*`` branches
  (``label_QCD``, ``label_Hbb``, ..., ``label_Tbl``), kept in ``extra["class_index"]`` with the
  names in ``metadata["classes"]``; ``label`` = 1 for the ``signal_classes`` (default: every
  class but QCD).
* **JetClass-II** (parquet, one row per jet): :func:`read_jetclass2`. The same particle and jet
  columns as JetClass, and the class as an integer column ``jet_label`` (its meaning is the
  dataset card's table; ``label`` = 1 for ``signal_labels``, default every non-zero class);
  ``jet_sdmass`` when present. Needs pyarrow (``pip install 'codec_jax[datasets]'``). These
  column names are assumed from JetClass's (no JetClass-II file could be inspected when this
  reader was written); a file with other names is refused, naming the missing columns.
* **Top-tagging reference set** (Kasieczka, Plehn et al. 2019; HDF5 written by pandas,
  key ``table``): :func:`read_top_tagging`. Up to 200 constituents as columns ``E_i, PX_i,
  PY_i, PZ_i`` (zero-padded), ``is_signal_new`` (1 = top); the jet is the sum of its
  constituents (pt, eta, phi, mass; msd = mass).

Each reader refuses a file of another schema with one :class:`~codec_jax.errors.DataError`
naming the file and what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import uproot

from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample

__all__ = [
    "JETCLASS_CLASSES",
    "read_jetclass",
    "read_jetclass2",
    "read_top_tagging",
    "PUBLIC_READERS",
]

#: JetClass's ten classes, in the order of its label branches (``label_<name>``).
JETCLASS_CLASSES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
_PARTICLE_COLUMNS = ("part_px", "part_py", "part_pz", "part_energy")
_JET_COLUMNS = ("jet_pt", "jet_eta", "jet_phi", "jet_energy")


def _particles(px, py, pz, energy, counts: np.ndarray, max_particles: int | None, path: Path):
    """Absolute particle features ``[n, P, 4]`` and mask from flat 4-momenta and per-jet counts,
    sorted by decreasing pT."""
    if np.any(counts == 0):
        raise DataError(f"{path}: jet {int(np.argmax(counts == 0))} has no constituents")
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    flat = np.stack([pt, eta, phi, energy], axis=-1)
    if not np.all(np.isfinite(flat)):
        raise DataError(f"{path}: constituent momenta hold NaN/inf values")
    width = int(counts.max()) if max_particles is None else int(max_particles)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    parts = np.zeros((len(counts), width, 4))
    mask = np.zeros((len(counts), width), bool)
    for jet, (start, count) in enumerate(zip(starts, counts)):
        block = flat[start : start + count]
        block = block[np.argsort(-block[:, 0], kind="stable")][:width]
        parts[jet, : len(block)] = block
        mask[jet, : len(block)] = True
    return parts, mask


def _constituents_and_jets(columns, max_particles: int | None, path: Path):
    """``(parts, mask, jets)`` from JetClass-style columns (a record array or table):
    the particles of ``part_px/py/pz/energy`` and the jet ``pt, eta, phi`` and mass
    (from ``jet_energy``)."""
    counts = ak.to_numpy(ak.num(columns["part_px"], axis=1))
    flat = [ak.to_numpy(ak.flatten(columns[name])).astype(np.float64) for name in _PARTICLE_COLUMNS]
    parts, mask = _particles(*flat, counts, max_particles, path)
    jet = {name: ak.to_numpy(columns[name]).astype(np.float64) for name in _JET_COLUMNS}
    jets = {
        "pt": jet["jet_pt"],
        "eta": jet["jet_eta"],
        "phi": jet["jet_phi"],
        "mass": _jet_mass(jet["jet_energy"], jet["jet_pt"], jet["jet_eta"]),
    }
    return parts, mask, jets


def _jet_mass(energy: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    momentum = pt * np.cosh(eta)
    return np.sqrt(np.maximum(energy**2 - momentum**2, 0.0))


def _tau21(tau1: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    return np.divide(tau2, tau1, out=np.zeros_like(tau2, dtype=np.float64), where=tau1 > 0)


def _require(path: Path, available: Sequence[str], required: Sequence[str], schema: str, hint: str) -> None:
    missing = [name for name in required if name not in available]
    if missing:
        raise DataError(f"{path}: not a {schema} file: missing {missing} ({hint})")


def _check_input(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path


def read_jetclass(
    path: str | os.PathLike,
    *,
    max_particles: int | None = None,
    signal_classes: Sequence[str] | None = None,
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> JetSample:
    """Read a JetClass ROOT file (see the module docstring for the mapping).

    Args:
        path: a JetClass file (TTree ``tree``).
        max_particles: pad/truncate to this many constituents (default: the largest multiplicity).
        signal_classes: class names of :data:`JETCLASS_CLASSES` labelled 1 (default: all but QCD).
        entry_start, entry_stop: read only these entries.
    """
    path = _check_input(path)
    signal = tuple(signal_classes) if signal_classes is not None else JETCLASS_CLASSES[1:]
    unknown = sorted(set(signal) - set(JETCLASS_CLASSES))
    if unknown:
        raise ConfigError(f"signal_classes {unknown} are not JetClass classes {list(JETCLASS_CLASSES)}")
    try:
        file = uproot.open(path)
    except Exception as error:
        raise DataError(f"{path}: not a readable ROOT file ({' '.join(str(error).split())[:200]})") from None
    with file:
        if "tree" not in file:
            hint = (
                "this is codec_jax's own schema: use read_root" if "jets" in file else "expected TTree 'tree'"
            )
            raise DataError(f"{path}: not a JetClass file: no TTree 'tree' ({hint})")
        ttree = file["tree"]
        labels = [f"label_{name}" for name in JETCLASS_CLASSES]
        columns = [*_PARTICLE_COLUMNS, *_JET_COLUMNS, "jet_sdmass", "jet_tau1", "jet_tau2", *labels]
        _require(path, list(ttree.keys()), columns, "JetClass", "weaver's JetClass branches")
        arrays = ttree.arrays(columns, entry_start=entry_start, entry_stop=entry_stop, library="ak")
    if len(arrays) == 0:
        raise DataError(f"{path}: TTree 'tree' has no entries in the requested range")
    parts, mask, jets = _constituents_and_jets(arrays, max_particles, path)
    one_hot = np.stack([ak.to_numpy(arrays[name]) for name in labels], axis=-1)
    if not np.all(one_hot.sum(axis=1) == 1):
        raise DataError(
            f"{path}: the label_* branches are not one-hot (jet {int(np.argmax(one_hot.sum(axis=1) != 1))})"
        )
    class_index = np.argmax(one_hot, axis=1)
    substructure = {
        name: ak.to_numpy(arrays[name]).astype(np.float64) for name in ("jet_sdmass", "jet_tau1", "jet_tau2")
    }
    jets.update(
        msd=substructure["jet_sdmass"],
        tau21=_tau21(substructure["jet_tau1"], substructure["jet_tau2"]),
        label=np.isin(class_index, [JETCLASS_CLASSES.index(name) for name in signal]).astype(np.int32),
    )
    return JetSample.from_arrays(
        parts,
        mask,
        ABSOLUTE_FEATURES,
        jets,
        extra={"class_index": class_index.astype(np.int32)},
        metadata={
            "source": str(path),
            "format": "jetclass",
            "classes": list(JETCLASS_CLASSES),
            "unavailable": ["n2", "truth_mass"],
        },
    )


def read_jetclass2(
    path: str | os.PathLike,
    *,
    max_particles: int | None = None,
    signal_labels: Sequence[int] | None = None,
) -> JetSample:
    """Read a JetClass-II parquet file (see the module docstring for the mapping).

    Args:
        path: one parquet file of the dataset (one row per jet).
        max_particles: pad/truncate to this many constituents.
        signal_labels: values of ``jet_label`` labelled 1 (default: every non-zero value).
    """
    path = _check_input(path)
    try:
        table = ak.from_parquet(path)
    except ImportError:
        raise ConfigError(
            "reading JetClass-II (parquet) needs pyarrow: pip install 'codec_jax[datasets]'"
        ) from None
    except Exception as error:
        raise DataError(
            f"{path}: not a readable parquet file ({' '.join(str(error).split())[:200]})"
        ) from None
    required = [*_PARTICLE_COLUMNS, *_JET_COLUMNS, "jet_label"]
    _require(path, list(table.fields), required, "JetClass-II", "JetClass-II parquet columns")
    if len(table) == 0:
        raise DataError(f"{path}: no jets")
    parts, mask, jets = _constituents_and_jets(table, max_particles, path)
    classes = ak.to_numpy(table["jet_label"]).astype(np.int64)
    signal = classes != 0 if signal_labels is None else np.isin(classes, list(signal_labels))
    has_sd = "jet_sdmass" in table.fields
    jets.update(
        msd=ak.to_numpy(table["jet_sdmass"]).astype(np.float64) if has_sd else jets["mass"],
        label=signal.astype(np.int32),
    )
    unavailable = ["n2", "tau21", "truth_mass"] + ([] if has_sd else ["msd"])
    return JetSample.from_arrays(
        parts,
        mask,
        ABSOLUTE_FEATURES,
        jets,
        extra={"class_index": classes.astype(np.int32)},
        metadata={"source": str(path), "format": "jetclass2", "unavailable": unavailable},
    )


def _pandas_columns(handle: h5py.Group, path: Path) -> dict[str, np.ndarray]:
    """The columns of a pandas ``to_hdf(format="fixed")`` frame: ``block<k>_items`` (names) and
    ``block<k>_values`` ``[rows, len(items)]``."""
    columns: dict[str, np.ndarray] = {}
    block = 0
    while f"block{block}_items" in handle:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in handle[f"block{block}_items"][...]]
        values = np.asarray(handle[f"block{block}_values"][...])
        if values.ndim != 2 or values.shape[1] != len(names):
            raise DataError(
                f"{path}: pandas block {block} has values {values.shape} for {len(names)} columns"
            )
        columns.update({name: values[:, i] for i, name in enumerate(names)})
        block += 1
    return columns


def read_top_tagging(
    path: str | os.PathLike, *, max_particles: int | None = None, key: str = "table"
) -> JetSample:
    """Read a file of the top-tagging reference set (see the module docstring).

    Args:
        path: ``train.h5``, ``val.h5`` or ``test.h5`` (pandas HDF5, key ``key``).
        max_particles: pad/truncate to this many constituents (default: the largest multiplicity).
    """
    path = _check_input(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"{path}: not a readable HDF5 file ({' '.join(str(error).split())[:200]})") from None
    with handle:
        if key not in handle:
            hint = (
                "this looks like JetNet: use read_jetnet"
                if "particle_features" in handle
                else f"keys {list(handle)}"
            )
            raise DataError(f"{path}: not a top-tagging file: no group {key!r} ({hint})")
        columns = _pandas_columns(handle[key], path)
    _require(
        path,
        list(columns),
        ["E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new"],
        "top-tagging",
        "columns E_i, PX_i, PY_i, PZ_i, is_signal_new",
    )
    n_slots = 0
    while f"E_{n_slots}" in columns:
        n_slots += 1
    four = np.stack(
        [np.stack([columns[f"{c}_{i}"] for i in range(n_slots)], axis=1) for c in ("E", "PX", "PY", "PZ")],
        axis=-1,
    )
    four = four.astype(np.float64)
    if not np.all(np.isfinite(four)):
        raise DataError(f"{path}: constituent four-momenta hold NaN/inf values")
    real = four[..., 0] > 0
    counts = real.sum(axis=1)
    energy, px, py, pz = (four[..., k][real] for k in range(4))
    parts, mask = _particles(px, py, pz, energy, counts, max_particles, path)
    total = four.sum(axis=1)  # all constituents, also those beyond max_particles
    jet_pt = np.hypot(total[:, 1], total[:, 2])
    jet_eta = np.arcsinh(np.divide(total[:, 3], jet_pt, out=np.zeros_like(jet_pt), where=jet_pt > 0))
    mass = np.sqrt(np.maximum(total[:, 0] ** 2 - (total[:, 1:] ** 2).sum(axis=1), 0.0))
    jets = {
        "pt": jet_pt,
        "eta": jet_eta,
        "phi": np.arctan2(total[:, 2], total[:, 1]),
        "mass": mass,
        "msd": mass,
        "n_particles": counts,
        "label": columns["is_signal_new"].astype(np.int32),
    }
    return JetSample.from_arrays(
        parts,
        mask,
        ABSOLUTE_FEATURES,
        jets,
        metadata={
            "source": str(path),
            "format": "top_tagging",
            "unavailable": ["msd", "n2", "tau21", "truth_mass"],
        },
    )


#: ``reader name -> function(path, max_particles=...)`` for study configs (``samples.reader``).
PUBLIC_READERS: Mapping[str, object] = {
    "jetclass": read_jetclass,
    "jetclass2": read_jetclass2,
    "top_tagging": read_top_tagging,
}
