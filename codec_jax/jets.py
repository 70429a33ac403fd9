"""Host-side jet samples: padded particle arrays, a mask, and jet-level arrays.

A :class:`JetSample` is the one in-memory representation that every part of codec_jax reads and
writes (generator, ROOT/JetNet readers, flattening, pairing, pipeline, metrics). It lives in NumPy
on the host; the pipeline moves batches of it onto devices.

Field names are declared once here and reused everywhere:

* :data:`ABSOLUTE_FEATURES` -- particle features as generated / stored on disk:
  ``pt`` [GeV], ``eta``, ``phi`` [rad, in (-pi, pi]], ``energy`` [GeV].
* :data:`RELATIVE_FEATURES` -- particle features relative to the jet axis (the JetNet / MACK
  convention): ``pt_rel`` = pT / pT_jet, ``eta_rel`` = eta - eta_jet,
  ``phi_rel`` = wrap(phi - phi_jet).
* :data:`JET_FIELDS` -- jet-level arrays, each of shape ``[n_jets]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ABSOLUTE_FEATURES",
    "RELATIVE_FEATURES",
    "JET_FIELDS",
    "JET_FIELD_DTYPES",
    "JetSample",
    "concatenate",
    "wrap_phi",
]

ABSOLUTE_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "energy")
RELATIVE_FEATURES: tuple[str, ...] = ("pt_rel", "eta_rel", "phi_rel")

#: Jet-level fields and their dtypes. ``label`` is 1 for signal and 0 for background;
#: ``truth_mass`` is the generated resonance mass (0 for QCD); ``weight`` is a per-jet weight
#: (flattening, bias); ``msd`` is the soft-drop mass.
JET_FIELD_DTYPES: dict[str, np.dtype] = {
    "pt": np.dtype(np.float32),
    "eta": np.dtype(np.float32),
    "phi": np.dtype(np.float32),
    "mass": np.dtype(np.float32),
    "msd": np.dtype(np.float32),
    "n2": np.dtype(np.float32),
    "tau21": np.dtype(np.float32),
    "n_particles": np.dtype(np.int32),
    "label": np.dtype(np.int32),
    "truth_mass": np.dtype(np.float32),
    "weight": np.dtype(np.float32),
}
JET_FIELDS: tuple[str, ...] = tuple(JET_FIELD_DTYPES)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Wrap angles into (-pi, pi]. Works on any shape; returns the same dtype."""
    phi = np.asarray(phi)
    wrapped = np.mod(phi + np.pi, 2.0 * np.pi) - np.pi
    # np.mod maps +pi to -pi; keep +pi so the interval is (-pi, pi].
    wrapped = np.where(wrapped == -np.pi, np.pi, wrapped)
    return wrapped.astype(phi.dtype, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class JetSample:
    """A set of jets on the host.

    Attributes:
        parts: ``[n_jets, max_particles, n_features]`` float32 particle features, pT-ordered,
            zero in padded slots.
        mask: ``[n_jets, max_particles]`` bool, True for real particles.
        feature_names: names of the last axis of ``parts`` (:data:`ABSOLUTE_FEATURES` or
            :data:`RELATIVE_FEATURES`, or a superset).
        pt, eta, phi, mass, msd, n2, tau21, n_particles, label, truth_mass, weight: ``[n_jets]``
            jet-level arrays (see :data:`JET_FIELD_DTYPES`).
        extra: further per-jet arrays, each ``[n_jets]`` (e.g. ``truth_dr``, the angle between
            the two decay quarks); sliced and concatenated with the sample.
        metadata: JSON-serialisable description (process, variant, seed, settings, versions).
    """

    parts: np.ndarray
    mask: np.ndarray
    feature_names: tuple[str, ...]
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    msd: np.ndarray
    n2: np.ndarray
    tau21: np.ndarray
    n_particles: np.ndarray
    label: np.ndarray
    truth_mass: np.ndarray
    weight: np.ndarray
    extra: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = np.asarray(self.parts, dtype=np.float32)
        mask = np.asarray(self.mask, dtype=bool)
        if parts.ndim != 3:
            raise ValueError(
                f"JetSample.parts must be [n_jets, particles, features], got shape {parts.shape}"
            )
        n, p, f = parts.shape
        if mask.shape != (n, p):
            raise ValueError(f"JetSample.mask must have shape {(n, p)}, got {mask.shape}")
        names = tuple(self.feature_names)
        if len(names) != f:
            raise ValueError(f"JetSample.feature_names has {len(names)} names for {f} features: {names}")
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "feature_names", names)
        for field, dtype in JET_FIELD_DTYPES.items():
            value = np.asarray(getattr(self, field), dtype=dtype)
            if value.shape != (n,):
                raise ValueError(f"JetSample.{field} must have shape ({n},), got {value.shape}")
            object.__setattr__(self, field, value)
        extra = {}
        for key, value in dict(self.extra).items():
            value = np.asarray(value)
            if value.shape[:1] != (n,):
                raise ValueError(f"JetSample.extra[{key!r}] must have leading size {n}, got {value.shape}")
            extra[key] = value
        object.__setattr__(self, "extra", extra)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        parts: np.ndarray,
        mask: np.ndarray,
        feature_names: Sequence[str],
        jets: Mapping[str, np.ndarray],
        extra: Mapping[str, np.ndarray] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> JetSample:
        """Build a sample; jet fields missing from ``jets`` get defaults.

        Defaults: ``n_particles`` from the mask, ``weight`` = 1, everything else 0.
        Unknown keys in ``jets`` raise ``KeyError``.
        """
        unknown = set(jets) - set(JET_FIELDS)
        if unknown:
            raise KeyError(f"unknown jet fields {sorted(unknown)}; expected a subset of {JET_FIELDS}")
        mask = np.asarray(mask, dtype=bool)
        n = mask.shape[0]
        values: dict[str, np.ndarray] = {}
        for field, dtype in JET_FIELD_DTYPES.items():
            if field in jets:
                values[field] = np.asarray(jets[field], dtype=dtype)
            elif field == "n_particles":
                values[field] = mask.sum(axis=1).astype(dtype)
            elif field == "weight":
                values[field] = np.ones(n, dtype=dtype)
            else:
                values[field] = np.zeros(n, dtype=dtype)
        return cls(
            parts=parts,
            mask=mask,
            feature_names=tuple(feature_names),
            extra=dict(extra or {}),
            metadata=dict(metadata or {}),
            **values,
        )

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return self.parts.shape[0]

    @property
    def n_jets(self) -> int:
        return self.parts.shape[0]

    @property
    def max_particles(self) -> int:
        return self.parts.shape[1]

    @property
    def is_relative(self) -> bool:
        """True when the particle features are relative to the jet axis."""
        return "pt_rel" in self.feature_names

    def jet_fields(self) -> dict[str, np.ndarray]:
        """All jet-level arrays as a dict ``{name: [n_jets]}``."""
        return {field: getattr(self, field) for field in JET_FIELDS}

    def feature(self, name: str) -> np.ndarray:
        """One particle feature, ``[n_jets, max_particles]``."""
        try:
            index = self.feature_names.index(name)
        except ValueError:
            raise KeyError(f"particle feature {name!r} not in {self.feature_names}") from None
        return self.parts[..., index]

    def replace(self, **changes: Any) -> JetSample:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_metadata(self, **entries: Any) -> JetSample:
        return self.replace(metadata={**self.metadata, **entries})

    # ------------------------------------------------------------------ selection
    def __getitem__(self, index: Any) -> JetSample:
        """Select jets with an int array, a boolean mask or a slice (never a single int)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1)
        return JetSample(
            parts=self.parts[index],
            mask=self.mask[index],
            feature_names=self.feature_names,
            extra={key: value[index] for key, value in self.extra.items()},
            metadata=self.metadata,
            **{field: getattr(self, field)[index] for field in JET_FIELDS},
        )

    def pad_particles(self, max_particles: int) -> JetSample:
        """Pad with zeros or truncate (keeping the leading, highest-pT particles) to
        ``max_particles`` slots. ``n_particles`` keeps the original count."""
        p = self.max_particles
        if max_particles == p:
            return self
        if max_particles < p:
            parts = self.parts[:, :max_particles]
            mask = self.mask[:, :max_particles]
        else:
            width = ((0, 0), (0, max_particles - p))
            parts = np.pad(self.parts, width + ((0, 0),))
            mask = np.pad(self.mask, width)
        return self.replace(parts=parts, mask=mask)

    # ------------------------------------------------------------------ coordinates
    def to_relative(self) -> JetSample:
        """Convert absolute particle features to :data:`RELATIVE_FEATURES`.

        ``pt_rel = pt / jet_pt``, ``eta_rel = eta - jet_eta``, ``phi_rel = wrap(phi - jet_phi)``;
        padded slots stay exactly zero. Returns ``self`` if already relative.
        """
        if self.is_relative:
            return self
        pt = self.feature("pt")
        eta = self.feature("eta")
        phi = self.feature("phi")
        jet_pt = np.where(self.pt > 0, self.pt, 1.0)[:, None]
        rel = np.stack(
            [pt / jet_pt, eta - self.eta[:, None], wrap_phi(phi - self.phi[:, None])],
            axis=-1,
        ).astype(np.float32)
        rel = np.where(self.mask[..., None], rel, 0.0)
        return self.replace(parts=rel, feature_names=RELATIVE_FEATURES)

    def summary(self) -> dict[str, float]:
        """A few numbers a physicist checks first (means and medians over jets)."""
        return {
            "n_jets": float(self.n_jets),
            "mean_n_particles": float(np.mean(self.n_particles)) if self.n_jets else float("nan"),
            "median_pt": float(np.median(self.pt)) if self.n_jets else float("nan"),
            "median_mass": float(np.median(self.mass)) if self.n_jets else float("nan"),
            "median_msd": float(np.median(self.msd)) if self.n_jets else float("nan"),
            "median_n2": float(np.median(self.n2)) if self.n_jets else float("nan"),
            "signal_fraction": float(np.mean(self.label == 1)) if self.n_jets else float("nan"),
        }


def concatenate(samples: Sequence[JetSample]) -> JetSample:
    """Concatenate samples along the jet axis, padding particles to the largest size.

    All samples must have the same ``feature_names`` and the same ``extra`` keys; the metadata of
    the first sample is kept, with the others listed under ``"concatenated"``.
    """
    samples = list(samples)
    if not samples:
        raise ValueError("concatenate needs at least one JetSample")
    names = samples[0].feature_names
    keys = set(samples[0].extra)
    for i, sample in enumerate(samples[1:], start=1):
        if sample.feature_names != names:
            raise ValueError(f"sample {i} has features {sample.feature_names}, sample 0 has {names}")
        if set(sample.extra) != keys:
            raise ValueError(
                f"sample {i} has extra fields {sorted(sample.extra)}, sample 0 has {sorted(keys)}"
            )
    width = max(sample.max_particles for sample in samples)
    padded = [sample.pad_particles(width) for sample in samples]
    metadata = dict(samples[0].metadata)
    if len(samples) > 1:
        metadata["concatenated"] = [dict(sample.metadata) for sample in samples]
    return JetSample(
        parts=np.concatenate([s.parts for s in padded]),
        mask=np.concatenate([s.mask for s in padded]),
        feature_names=names,
        extra={key: np.concatenate([s.extra[key] for s in padded]) for key in keys},
        metadata=metadata,
        **{field: np.concatenate([getattr(s, field) for s in padded]) for field in JET_FIELDS},
    )
