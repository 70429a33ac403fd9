"""Reading and writing jet samples: ROOT files (uproot + awkward) and the JetNet HDF5 layout.

ROOT schema (TTree ``jets``, one entry per jet):

=================  ==========  ================================================================
branch             type        meaning
=================  ==========  ================================================================
``part_pt``        float32[]   constituent pT [GeV], pT-ordered (jagged, counter ``npart``)
``part_eta``       float32[]   constituent pseudorapidity
``part_phi``       float32[]   constituent azimuth [rad]
``part_energy``    float32[]   constituent energy [GeV]
``jet_pt`` ...     float32     ``jet_pt, jet_eta, jet_phi, jet_mass, jet_msd, jet_n2, jet_tau21``
``jet_nparts``     int32       number of constituents before any truncation
``label``          int32       1 = signal, 0 = background
``truth_mass``     float32     generated resonance mass [GeV] (0 for QCD)
``weight``         float32     per-jet weight
``extra_<name>``   any         further per-jet arrays (``JetSample.extra``)
=================  ==========  ================================================================

The sample's metadata (process, variant, settings, seed, versions) is a JSON string stored as
the ``TObjString`` named ``metadata``. Files are written to a temporary name and renamed, so a
killed job never leaves a half-written file behind. Reading checks the schema and raises
:class:`~codec_jax.errors.DataError` naming the file and branch at fault.

JetNet HDF5 (Kansal et al.): datasets ``particle_features [n, P, 4]`` = (etarel, phirel, ptrel,
mask) and ``jet_features [n, 4 or 5]`` = (type, pt, eta, mass[, num_particles]), with type
0..4 = g, q, t, w, z.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import uproot

from codec_jax.errors import ConfigError, DataError
from codec_jax.files import atomic_path, check_set_member, expand_paths
from codec_jax.jets import (
    ABSOLUTE_FEATURES,
    JET_FIELD_DTYPES,
    RELATIVE_FEATURES,
    JetSample,
    concatenate,
    wrap_phi,
)

__all__ = [
    "RootWriter",
    "PARTICLE_BRANCHES",
    "JET_BRANCHES",
    "JETNET_TYPES",
    "write_root",
    "read_root",
    "root_entries",
    "read_jetnet",
    "write_jetnet",
    "load_sample",
]

#: ROOT branch of each absolute particle feature.
PARTICLE_BRANCHES: dict[str, str] = {name: f"part_{name}" for name in ABSOLUTE_FEATURES}
#: ROOT branch of each jet-level field of :class:`~codec_jax.jets.JetSample`.
JET_BRANCHES: dict[str, str] = {
    "pt": "jet_pt",
    "eta": "jet_eta",
    "phi": "jet_phi",
    "mass": "jet_mass",
    "msd": "jet_msd",
    "n2": "jet_n2",
    "tau21": "jet_tau21",
    "n_particles": "jet_nparts",
    "label": "label",
    "truth_mass": "truth_mass",
    "weight": "weight",
}
#: Jet fields whose branches ``read_root(optional=...)`` may fill when they are missing.
OPTIONAL_JET_FIELDS = ("mass", "msd", "n2", "tau21", "n_particles", "label", "truth_mass", "weight")
_EXTRA_PREFIX = "extra_"
_METADATA = "metadata"
_CHUNK = 200_000
#: JetNet's jet-type codes.
JETNET_TYPES: tuple[str, ...] = ("g", "q", "t", "w", "z")
_JETNET_SIGNAL_TYPES = frozenset({"t", "w", "z"})


def _check_input(path: Path, kind: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a {kind} file")


# --------------------------------------------------------------------------- ROOT write
def _absolute_parts(sample: JetSample) -> np.ndarray:
    """``[n, P, 4]`` (pt, eta, phi, energy) for a sample in absolute or relative coordinates.

    Relative samples are converted with massless constituents: pt = pt_rel * jet_pt,
    eta = eta_rel + jet_eta, phi = wrap(phi_rel + jet_phi), E = pt cosh(eta).
    """
    if all(name in sample.feature_names for name in ABSOLUTE_FEATURES):
        return np.stack([sample.feature(name) for name in ABSOLUTE_FEATURES], axis=-1)
    if all(name in sample.feature_names for name in RELATIVE_FEATURES):
        pt = sample.feature("pt_rel") * sample.pt[:, None]
        eta = sample.feature("eta_rel") + sample.eta[:, None]
        phi = wrap_phi(sample.feature("phi_rel") + sample.phi[:, None])
        parts = np.stack([pt, eta, phi, pt * np.cosh(eta)], axis=-1)
        return np.where(sample.mask[..., None], parts, 0.0).astype(np.float32)
    raise DataError(
        f"cannot write particles with features {sample.feature_names}: "
        f"expected {ABSOLUTE_FEATURES} or {RELATIVE_FEATURES}"
    )


def _root_columns(sample: JetSample) -> tuple[ak.Array, dict[str, np.ndarray]]:
    """The particle records and the flat branches of ``sample`` as :func:`write_root` stores them."""
    parts = _absolute_parts(sample)
    counts = sample.mask.sum(axis=1)
    if not np.all(sample.mask == (np.arange(sample.max_particles)[None, :] < counts[:, None])):
        raise DataError("JetSample.mask must mark a leading block of particles in every jet (pT-ordered)")
    flat_mask = sample.mask.reshape(-1)
    columns = {
        name: ak.unflatten(parts[..., i].reshape(-1)[flat_mask], counts)
        for i, name in enumerate(ABSOLUTE_FEATURES)
    }
    branches: dict[str, np.ndarray] = {
        branch: getattr(sample, field) for field, branch in JET_BRANCHES.items()
    }
    for key, value in sample.extra.items():
        value = np.asarray(value)
        if value.ndim != 1:
            raise DataError(
                f"JetSample.extra[{key!r}] must be one value per jet to be written, got {value.shape}"
            )
        branches[_EXTRA_PREFIX + key] = value
    return ak.zip(columns), branches


class RootWriter:
    """Write a ROOT file of codec_jax's schema piece by piece (memory: one piece at a time).

    ``with RootWriter(path) as writer: writer.append(sample); ...; writer.metadata = {...}``;
    the file appears under ``path`` only when the block ends without an error (atomic). Every
    appended sample must have the same extra fields. :func:`write_root` is one append.
    """

    def __init__(self, path: str | os.PathLike, *, tree: str = "jets") -> None:
        self.path, self.tree_name = Path(path), tree
        self.metadata: Mapping = {}
        self._tree = None

    def __enter__(self) -> RootWriter:
        self._atomic = atomic_path(self.path)
        self._file = uproot.recreate(self._atomic.__enter__())
        return self

    def append(self, sample: JetSample) -> None:
        """Add the jets of ``sample`` (written in chunks of at most 200,000 jets; an empty sample
        only fixes the branches)."""
        particles, branches = _root_columns(sample)
        if self._tree is None:
            types = {
                "part": particles.type.content,
                **{name: value.dtype for name, value in branches.items()},
            }
            self._tree = self._file.mktree(self.tree_name, types, counter_name=lambda counted: "n" + counted)
        for start in range(0, len(sample), _CHUNK):
            chunk = {"part": particles[start : start + _CHUNK]}
            chunk.update({name: value[start : start + _CHUNK] for name, value in branches.items()})
            self._tree.extend(chunk)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._file[_METADATA] = json.dumps(dict(self.metadata), default=str, sort_keys=True)
        finally:
            self._file.close()
            self._atomic.__exit__(exc_type, exc, tb)


def write_root(sample: JetSample, path: str | os.PathLike, *, tree: str = "jets") -> Path:
    """Write ``sample`` to a ROOT file (TTree ``tree`` plus a ``metadata`` JSON string).

    The write is atomic: the file appears under ``path`` only once complete. Returns the path.
    """
    with RootWriter(path, tree=tree) as writer:
        writer.append(sample)
        writer.metadata = sample.metadata
    return Path(path)


# --------------------------------------------------------------------------- ROOT read
def _open_tree(path: Path, tree: str):

    _check_input(path, "ROOT")
    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises several types for non-ROOT input
        reason = " ".join(str(error).split())
        raise DataError(f"{path}: not a readable ROOT file ({type(error).__name__}: {reason})") from None
    if tree not in file:
        file.close()
        raise DataError(f"{path}: no TTree named {tree!r} (found {sorted(file.keys(cycle=False))})")
    return file, file[tree]


def _check_branches(
    path: Path, ttree, required: Sequence[str], aliases: Mapping[str, str] | None = None
) -> None:
    available = set(ttree.keys()) | set(aliases or {})
    missing = [name for name in required if name not in available]
    if missing:
        raise DataError(f"{path}: missing branch(es) {missing} in TTree {ttree.name!r}")


def _check_values(path: Path, branch: str, values: np.ndarray, expected: np.dtype) -> np.ndarray:
    kind = np.dtype(values.dtype).kind
    if expected.kind == "f" and kind not in "fiu":
        raise DataError(f"{path}: branch {branch!r} has dtype {values.dtype}, expected a float type")
    if expected.kind in "iu" and kind not in "iub":
        raise DataError(f"{path}: branch {branch!r} has dtype {values.dtype}, expected an integer type")
    if kind == "f" and not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values)))
        raise DataError(f"{path}: branch {branch!r} holds {bad} NaN/inf value(s)")
    return values.astype(expected, copy=False)


def read_root(
    path: str | os.PathLike,
    *,
    max_particles: int | None = None,
    tree: str = "jets",
    entry_start: int | None = None,
    entry_stop: int | None = None,
    drop_empty: bool = False,
    aliases: Mapping[str, str] | None = None,
    cut: str | None = None,
    optional: Sequence[str] = (),
) -> JetSample:
    """Read a ROOT file written by :func:`write_root` (or any file with that schema).

    Your own ntuples: ``aliases`` maps codec_jax branch names (:data:`PARTICLE_BRANCHES`,
    :data:`JET_BRANCHES`) to uproot expressions of the file's branches, e.g.
    ``{"jet_msd": "fj_sdmass", "part_pt": "pfcand_pt", "label": "fj_isZ"}``; ``cut`` is an
    uproot selection applied on read (``"(jet_pt > 500) & (abs(jet_eta) < 2)"``; entry numbers in
    messages then count the selected jets); ``optional`` lists jet fields of
    :data:`OPTIONAL_JET_FIELDS` whose branches may be missing: they are filled (``weight`` 1,
    ``n_particles`` from the constituents, the rest 0), named in ``metadata["filled_missing"]``
    and reported with a warning.

    Physics is checked on read, each failure one :class:`DataError` naming the file, the branch
    and the first offending jet (entry number in the file): constituent pT and energy must be
    >= 0, the energy (where stored, i.e. not exactly 0) at least the massless ``pT cosh(eta)``
    (relative tolerance 1e-3), the jet pT >= 0, and every jet needs at least one constituent (``drop_empty=True`` drops such jets
    instead and records their number in ``metadata["dropped_empty_jets"]``).

    Args:
        path: the ROOT file.
        max_particles: pad/truncate constituents to this many (default: the largest
            multiplicity in the file). Truncation keeps the leading (highest-pT) particles.
        tree: TTree name.
        entry_start, entry_stop: read only the jets ``entry_start <= i < entry_stop`` (a chunk of
            a large file; default: from the first / up to the last).
        drop_empty: drop jets without constituents instead of refusing the file.

    Returns:
        A :class:`JetSample` with absolute features ``("pt", "eta", "phi", "energy")``,
        ``parts [n_jets, max_particles, 4]``.

    Raises:
        DataError: missing file/tree/branch, wrong dtype, NaN/inf values, or no entries; the
            message names the file and the branch; a member of an unfinished or altered output
            set (:func:`codec_jax.files.check_set_member`).
    """

    path = Path(path)
    unknown = sorted(set(optional) - set(OPTIONAL_JET_FIELDS))
    if unknown:
        raise ConfigError(
            f"optional fields {unknown} cannot be missing; optional: {list(OPTIONAL_JET_FIELDS)}"
        )
    aliases = dict(aliases or {})
    file, ttree = _open_tree(path, tree)
    with file:
        check_set_member(path)
        particle_branches = list(PARTICLE_BRANCHES.values())
        available = set(ttree.keys()) | set(aliases)
        missing = [JET_BRANCHES[f] for f in optional if JET_BRANCHES[f] not in available]
        jet_branches = {f: b for f, b in JET_BRANCHES.items() if b not in missing}
        _check_branches(path, ttree, particle_branches + list(jet_branches.values()), aliases)
        if ttree.num_entries == 0:
            raise DataError(f"{path}: TTree {tree!r} has no entries")
        extra_names = [name for name in ttree.keys() if name.startswith(_EXTRA_PREFIX)]
        try:
            arrays = ttree.arrays(
                particle_branches + list(jet_branches.values()) + extra_names,
                entry_start=entry_start,
                entry_stop=entry_stop,
                aliases=aliases or None,
                cut=cut,
                library="ak",
            )
        except Exception as error:  # uproot's errors for a bad alias or cut expression
            if not (aliases or cut):
                raise
            reason = " ".join(str(error).split())[:300]
            raise DataError(f"{path}: cannot evaluate aliases {aliases} / cut {cut!r}: {reason}") from None
        if len(arrays) == 0:
            selection = f" passing cut {cut!r}" if cut else ""
            raise DataError(
                f"{path}: no entries{selection} in [{entry_start}, {entry_stop}) of TTree {tree!r}"
            )
        metadata: dict = {}
        if "metadata" in file:
            try:
                metadata = json.loads(str(file["metadata"]))
            except (ValueError, TypeError) as error:
                raise DataError(f"{path}: the 'metadata' object is not valid JSON ({error})") from None

    counts = ak.to_numpy(ak.num(arrays[particle_branches[0]], axis=1))
    for branch in particle_branches[1:]:
        if not np.array_equal(ak.to_numpy(ak.num(arrays[branch], axis=1)), counts):
            raise DataError(f"{path}: branch {branch!r} has different lengths than {particle_branches[0]!r}")
    first_entry = int(entry_start or 0)
    empty = counts == 0
    dropped = 0
    if np.any(empty):
        if not drop_empty:
            raise DataError(
                f"{path}: jet {first_entry + int(np.argmax(empty))} has no constituents (branch "
                f"{particle_branches[0]!r}; {int(empty.sum())} such jets); read with drop_empty=True to drop them"
            )
        dropped = int(empty.sum())
        arrays, counts = arrays[~empty], counts[~empty]
        if len(arrays) == 0:
            raise DataError(f"{path}: every jet of TTree {tree!r} is empty")
    flat = {branch: ak.to_numpy(ak.flatten(arrays[branch])) for branch in particle_branches}
    _check_physics(
        path,
        flat,
        ak.to_numpy(arrays[JET_BRANCHES["pt"]]),
        counts,
        first_entry,
        np.flatnonzero(~empty) if dropped else None,
    )
    width = int(counts.max(initial=0)) if max_particles is None else int(max_particles)
    if width < 1:
        raise DataError(f"{path}: jets have no constituents (branch {particle_branches[0]!r})")
    columns = []
    for branch in particle_branches:
        _check_values(path, branch, flat[branch], np.dtype(np.float32))
        padded = ak.fill_none(ak.pad_none(arrays[branch], width, axis=1, clip=True), 0.0)
        columns.append(ak.to_numpy(padded).astype(np.float32))
    parts = np.stack(columns, axis=-1)
    mask = np.arange(width)[None, :] < counts[:, None]
    jets = {
        field: _check_values(path, branch, ak.to_numpy(arrays[branch]), JET_FIELD_DTYPES[field])
        for field, branch in jet_branches.items()
    }
    extra = {name[len(_EXTRA_PREFIX) :]: ak.to_numpy(arrays[name]) for name in extra_names}
    metadata = {**metadata, "source": str(path)}
    if dropped:
        metadata["dropped_empty_jets"] = dropped
    if missing:
        metadata["filled_missing"] = missing
        warnings.warn(f"{path}: branches {missing} are missing; filled with defaults", stacklevel=2)
    if cut:
        metadata["cut"] = cut
    return JetSample.from_arrays(parts, mask, ABSOLUTE_FEATURES, jets, extra=extra, metadata=metadata)


def _check_physics(
    path: Path,
    flat: Mapping[str, np.ndarray],
    jet_pt: np.ndarray,
    counts: np.ndarray,
    first_entry: int,
    kept: np.ndarray | None,
) -> None:
    """Refuse negative constituent pT/energy, energy below the massless ``pT cosh(eta)`` and
    negative jet pT, naming the branch and the first offending jet's entry number.

    ``flat``: particle branch -> its values of all jets, flattened ``[sum(counts)]``; ``jet_pt``
    ``[n_jets]``; ``kept``: the rows kept of the file's chunk when empty jets were dropped."""

    def entry(jet: int) -> int:
        return first_entry + int(jet if kept is None else kept[jet])

    def first_jet(bad_flat: np.ndarray) -> int:
        return int(np.searchsorted(np.cumsum(counts), int(np.argmax(bad_flat)), side="right"))

    pt = flat[PARTICLE_BRANCHES["pt"]].astype(np.float64)
    eta = flat[PARTICLE_BRANCHES["eta"]].astype(np.float64)
    energy = flat[PARTICLE_BRANCHES["energy"]].astype(np.float64)
    for branch, values in ((PARTICLE_BRANCHES["pt"], pt), (PARTICLE_BRANCHES["energy"], energy)):
        bad = values < 0
        if np.any(bad):
            raise DataError(
                f"{path}: branch {branch!r} has a negative value ({values[np.argmax(bad)]:.6g}) in jet "
                f"{entry(first_jet(bad))}; constituent pT and energy must be >= 0"
            )
    with np.errstate(over="ignore"):
        momentum = pt * np.cosh(eta)
    bad = (energy != 0) & (energy < momentum * (1.0 - 1e-3) - 1e-6)  # 0: energy not stored
    if np.any(bad):
        index = int(np.argmax(bad))
        raise DataError(
            f"{path}: branch {PARTICLE_BRANCHES['energy']!r}: energy {energy[index]:.6g} below |p| = pT cosh(eta) "
            f"= {momentum[index]:.6g} in jet {entry(first_jet(bad))} (an unphysical four-momentum)"
        )
    bad = jet_pt < 0
    if np.any(bad):
        raise DataError(
            f"{path}: branch {JET_BRANCHES['pt']!r} is negative ({jet_pt[np.argmax(bad)]:.6g}) in jet "
            f"{entry(int(np.argmax(bad)))}"
        )


def root_entries(path: str | os.PathLike, *, tree: str = "jets") -> int:
    """The number of jets (entries of TTree ``tree``) in a ROOT file, without reading them.

    Raises:
        DataError: missing or unreadable file, or no TTree ``tree`` (the message names the file).
    """

    path = Path(path)
    file, ttree = _open_tree(path, tree)
    with file:
        return int(ttree.num_entries)


# --------------------------------------------------------------------------- JetNet HDF5
def load_sample(paths: Sequence[str], max_particles: int, field: str = "data.train") -> JetSample:
    """Read and concatenate ROOT files (absolute features, padded to ``max_particles``); entries
    may be glob patterns (``"qcd_part*.root"``: the shard files of a job, in name order)."""
    if not paths:
        raise ConfigError(f"{field} is empty: list the ROOT files to read")
    return concatenate(
        [
            read_root(path, max_particles=max_particles)
            for path in expand_paths(paths, what=field, check_files=False)
        ]
    )


def read_jetnet(
    path: str | os.PathLike,
    *,
    label: int | None = None,
    max_particles: int | None = None,
) -> JetSample:
    """Read a JetNet HDF5 file into a sample with relative features ``(pt_rel, eta_rel, phi_rel)``.

    Args:
        path: HDF5 file with ``particle_features [n, P, 4]`` (etarel, phirel, ptrel, mask) and
            ``jet_features [n, >=4]`` (type, pt, eta, mass[, num_particles]).
        label: label for every jet; by default 1 for types t, w, z and 0 for g, q.
        max_particles: pad/truncate to this many particles (default: the file's P).

    Jet phi is not stored in JetNet and is set to 0; soft-drop mass, N2 and tau21 are not
    available either: ``msd`` is set to the jet mass and ``n2``/``tau21`` to 0 (recorded in
    the metadata under ``"unavailable"``). The jet type is kept in ``extra["jet_type"]``.
    """

    path = Path(path)
    _check_input(path, "JetNet HDF5")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        reason = " ".join(str(error).split())
        raise DataError(f"{path}: not a readable HDF5 file ({reason})") from None
    with handle:
        for name in ("particle_features", "jet_features"):
            if name not in handle:
                raise DataError(f"{path}: missing dataset {name!r} (JetNet layout expected)")
        particles = np.asarray(handle["particle_features"][...], dtype=np.float64)
        jet_features = np.asarray(handle["jet_features"][...], dtype=np.float64)
    if particles.ndim != 3 or particles.shape[-1] < 4:
        raise DataError(
            f"{path}: dataset 'particle_features' has shape {particles.shape}, expected [n, P, 4] "
            "(etarel, phirel, ptrel, mask)"
        )
    if jet_features.ndim != 2 or jet_features.shape[1] < 4 or len(jet_features) != len(particles):
        raise DataError(
            f"{path}: dataset 'jet_features' has shape {jet_features.shape}, expected "
            f"[{len(particles)}, >=4] (type, pt, eta, mass[, num_particles])"
        )
    if len(particles) == 0:
        raise DataError(f"{path}: dataset 'particle_features' has no jets")
    for name, values in (("particle_features", particles), ("jet_features", jet_features)):
        if not np.all(np.isfinite(values)):
            raise DataError(f"{path}: dataset {name!r} holds NaN/inf values")
    mask = particles[..., 3] > 0.5
    # JetNet pads with zeros but does not guarantee pT order; sort by ptrel, padding last.
    order = np.argsort(np.where(mask, -particles[..., 2], np.inf), axis=1, kind="stable")
    particles = np.take_along_axis(particles, order[..., None], axis=1)
    mask = np.take_along_axis(mask, order, axis=1)
    parts = np.stack([particles[..., 2], particles[..., 0], particles[..., 1]], axis=-1)
    parts = np.where(mask[..., None], parts, 0.0)
    types = jet_features[:, 0].astype(np.int64)
    if np.any((types < 0) | (types >= len(JETNET_TYPES))):
        raise DataError(f"{path}: dataset 'jet_features' column 0 (type) must be in 0..4 (g, q, t, w, z)")
    if label is None:
        labels = np.isin(types, [JETNET_TYPES.index(t) for t in _JETNET_SIGNAL_TYPES]).astype(np.int32)
    else:
        labels = np.full(len(types), int(label), dtype=np.int32)
    n_particles = jet_features[:, 4] if jet_features.shape[1] > 4 else mask.sum(axis=1)
    jets: Mapping[str, np.ndarray] = {
        "pt": jet_features[:, 1],
        "eta": jet_features[:, 2],
        "phi": np.zeros(len(types)),
        "mass": jet_features[:, 3],
        "msd": jet_features[:, 3],
        "n_particles": n_particles,
        "label": labels,
    }
    sample = JetSample.from_arrays(
        parts,
        mask,
        RELATIVE_FEATURES,
        jets,
        extra={"jet_type": types.astype(np.int32)},
        metadata={"source": str(path), "format": "jetnet", "unavailable": ["phi", "msd", "n2", "tau21"]},
    )
    return sample if max_particles is None else sample.pad_particles(int(max_particles))


def write_jetnet(sample: JetSample, path: str | os.PathLike, *, jet_type: int | Sequence[int]) -> Path:
    """Write a sample in the JetNet HDF5 layout (for tests and for exchanging files).

    ``jet_type`` is one code 0..4 (g, q, t, w, z) for all jets or one per jet. Atomic.
    """

    rel = sample.to_relative()
    types = np.broadcast_to(np.asarray(jet_type, dtype=np.float64), (len(rel),))
    particles = np.stack(
        [rel.feature("eta_rel"), rel.feature("phi_rel"), rel.feature("pt_rel"), rel.mask.astype(np.float32)],
        axis=-1,
    ).astype(np.float32)
    jet_features = np.stack([types, rel.pt, rel.eta, rel.mass, rel.mask.sum(axis=1)], axis=-1).astype(
        np.float32
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            handle.create_dataset("particle_features", data=particles)
            handle.create_dataset("jet_features", data=jet_features)
    return path
