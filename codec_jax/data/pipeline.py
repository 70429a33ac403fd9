"""From host samples to device batches: inputs, feature standardisation, batch iteration.

* Inputs: particle inputs are the relative constituents ``(pt_rel, eta_rel, phi_rel)`` padded or
  truncated to a fixed P (``x [n, P, 3]``, ``mask [n, P]``); jet-level inputs are chosen
  :class:`~codec_jax.jets.JetSample` fields (``x [n, F]``).
* :class:`Standardizer`: per-feature mean and standard deviation fitted on the *training* sample
  (real particles only), applied on the device inside the step (after augmentations, which act on
  the physical relative features), and saved with every checkpoint as JSON so that fine-tuning and
  evaluation use exactly the pretraining's numbers.
* :func:`iterate_batches`: a fresh permutation per epoch from a key, fixed-size batches (the last
  partial batch is dropped, so shapes are static and every step reuses one compilation), each
  placed on the mesh sharded along ``"data"``; on several hosts each process loads only its rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from codec_jax import parallel
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JET_FIELDS, RELATIVE_FEATURES, JetSample

__all__ = [
    "Standardizer",
    "particle_inputs",
    "jet_inputs",
    "model_inputs",
    "supervised_arrays",
    "pretrain_arrays",
    "with_alternate_stream",
    "split_indices",
    "num_batches",
    "iterate_batches",
]

_MIN_STD = 1e-6


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """``x -> (x - mean) / std`` per feature; padded particles stay exactly zero.

    Attributes:
        feature_names: names of the last axis of the inputs.
        mean, std: ``[features]`` float32 (a std below 1e-6 is stored as 1).
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, mask: np.ndarray | None, feature_names: Sequence[str]) -> Standardizer:
        """Fit on ``x [n, P, F]`` with ``mask [n, P]`` (real particles only) or ``x [n, F]``."""
        x = np.asarray(x, dtype=np.float64)
        rows = x[np.asarray(mask, bool)] if mask is not None else x.reshape(-1, x.shape[-1])
        if rows.shape[0] == 0:
            raise DataError(
                "cannot fit the feature standardisation: no jets/particles in the training sample"
            )
        std = rows.std(axis=0)
        std = np.where(std < _MIN_STD, 1.0, std)
        return cls(tuple(feature_names), rows.mean(axis=0).astype(np.float32), std.astype(np.float32))

    @classmethod
    def identity(cls, feature_names: Sequence[str]) -> Standardizer:
        """The standardisation that changes nothing (mean 0, std 1), for encoders that need the
        physical features (``models.standardizes_inputs``)."""
        n = len(tuple(feature_names))
        return cls(tuple(feature_names), np.zeros(n, np.float32), np.ones(n, np.float32))

    def apply(self, x: Any, mask: Any = None) -> Any:
        """Standardise ``x [..., F]`` (NumPy or JAX, also inside ``jit``); zero where ``~mask``."""
        xp = jnp if isinstance(x, jax.Array) else np
        y = (x - self.mean) / self.std
        if mask is not None:
            y = xp.where(mask[..., None], y, 0.0)
        return y.astype(x.dtype)

    def invert(self, y: Any, mask: Any = None) -> Any:
        """Undo :meth:`apply` on real entries (padded entries stay zero)."""
        xp = jnp if isinstance(y, jax.Array) else np
        x = y * self.std + self.mean
        if mask is not None:
            x = xp.where(mask[..., None], x, 0.0)
        return x.astype(y.dtype)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Standardizer:
        try:
            names = tuple(values["feature_names"])
            mean = np.asarray(values["mean"], dtype=np.float32)
            std = np.asarray(values["std"], dtype=np.float32)
        except KeyError as error:
            raise DataError(f"normalisation JSON lacks the field {error.args[0]!r}") from None
        if not (len(names) == mean.shape[0] == std.shape[0]):
            raise DataError(
                f"normalisation JSON: {len(names)} names, {mean.shape[0]} means, {std.shape[0]} stds"
            )
        return cls(names, mean, std)


# --------------------------------------------------------------------------- inputs
def particle_inputs(sample: JetSample, max_particles: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x [n, max_particles, 3], mask [n, max_particles])`` in relative features."""
    relative = sample.to_relative().pad_particles(max_particles)
    columns = [relative.feature_names.index(name) for name in RELATIVE_FEATURES]
    return relative.parts[..., columns], relative.mask


def jet_inputs(sample: JetSample, fields: Sequence[str]) -> np.ndarray:
    """``x [n, len(fields)]`` float32 from jet-level fields of the sample."""
    unknown = [field for field in fields if field not in JET_FIELDS]
    if unknown:
        raise ConfigError(f"data.jet_features has unknown fields {unknown}; expected names from {JET_FIELDS}")
    return np.stack([getattr(sample, field).astype(np.float32) for field in fields], axis=-1)


def model_inputs(
    sample: JetSample, *, inputs: str, max_particles: int, jet_features: Sequence[str]
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """``({"x": ..., "mask": ...}, feature_names)``; no ``mask`` for jet-level inputs."""
    if inputs == "particles":
        x, mask = particle_inputs(sample, max_particles)
        return {"x": x, "mask": mask}, RELATIVE_FEATURES
    if inputs == "jets":
        return {"x": jet_inputs(sample, jet_features)}, tuple(jet_features)
    raise ConfigError(f"data.inputs={inputs!r}; expected 'particles' or 'jets'")


def supervised_arrays(
    sample: JetSample,
    *,
    inputs: str,
    max_particles: int,
    jet_features: Sequence[str],
    target: str,
    mass_field: str,
) -> dict[str, np.ndarray]:
    """Host arrays for :func:`codec_jax.train.steps.make_supervised_step`: ``x`` (``mask``),
    ``target``, ``weight``, ``label`` and ``mass``, each with ``n_jets`` rows."""
    for key, field in (("data.target", target), ("data.mass_field", mass_field)):
        if field not in JET_FIELDS:
            raise ConfigError(f"{key}={field!r} is not a jet field; expected one of {JET_FIELDS}")
    arrays, _ = model_inputs(sample, inputs=inputs, max_particles=max_particles, jet_features=jet_features)
    arrays.update(
        target=getattr(sample, target).astype(np.float32),
        weight=sample.weight.astype(np.float32),
        label=sample.label.astype(np.int32),
        mass=getattr(sample, mass_field).astype(np.float32),
    )
    return arrays


def pretrain_arrays(
    nominal: Mapping[str, np.ndarray],
    alternate: Mapping[str, np.ndarray] | None = None,
    nominal_index: np.ndarray | None = None,
    alternate_index: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Two views per row: ``x_a``/``mask_a`` from ``nominal[nominal_index]`` and ``x_b``/``mask_b``
    from ``alternate[alternate_index]`` (positive pairs), or the same jet twice when no alternate
    sample is given (views then differ only by augmentations)."""
    if alternate is None:
        views = {f"{name}_{side}": value for name, value in nominal.items() for side in "ab"}
        return views
    if nominal_index is None or alternate_index is None:
        raise ConfigError("pretraining on an alternate sample needs a pair list (data.pairs)")
    n_nominal, n_alternate = len(nominal["x"]), len(alternate["x"])
    if len(nominal_index) and (nominal_index.max() >= n_nominal or alternate_index.max() >= n_alternate):
        raise DataError(
            f"the pair list indexes jets beyond the samples ({n_nominal} nominal, {n_alternate} alternate jets): "
            "was it made from other files?"
        )
    views = {f"{name}_a": value[nominal_index] for name, value in nominal.items()}
    views.update({f"{name}_b": value[alternate_index] for name, value in alternate.items()})
    return views


def with_alternate_stream(
    arrays: Mapping[str, np.ndarray], alternate: Mapping[str, np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    """``arrays`` plus ``<name>_alt`` for every array of ``alternate``: one alternate jet per row,
    drawn at random without a pairing (a seeded permutation of the alternate jets, repeated when
    there are fewer alternate jets than rows). Every batch then holds a random alternate batch of
    its size, for a distribution-alignment term."""
    n_rows = len(next(iter(arrays.values())))
    n_alternate = len(next(iter(alternate.values())))
    if n_alternate == 0:
        raise DataError("the alternate sample (data.alternate) has no jets for the alignment term")
    rng = np.random.default_rng([seed, 0xA11])
    rows = np.concatenate([rng.permutation(n_alternate) for _ in range(-(-n_rows // n_alternate))])[:n_rows]
    return {**arrays, **{f"{name}_alt": value[rows] for name, value in alternate.items()}}


def split_indices(key: jax.Array, n: int, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split ``(train_rows, validation_rows)`` of ``n`` rows (both sorted)."""
    if not 0.0 < validation_fraction < 1.0:
        raise ConfigError(f"data.validation_fraction={validation_fraction}; expected a value in (0, 1)")
    order = np.asarray(jax.random.permutation(key, n))
    n_validation = max(1, round(n * validation_fraction))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


# --------------------------------------------------------------------------- batches
def num_batches(n_rows: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped)."""
    return n_rows // batch_size


def iterate_batches(
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    *,
    key: jax.Array | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``{name: [batch_size, ...]}`` batches over the rows of ``arrays``.

    Args:
        arrays: host arrays with the same number of rows.
        batch_size: the global batch size (over all devices and hosts).
        key: shuffle with ``jax.random.permutation(key, n)``; None keeps the file order.
        mesh: place batches on this mesh (sharded along ``"data"``); None yields NumPy arrays.
    """
    sizes = {name: len(value) for name, value in arrays.items()}
    n = next(iter(sizes.values()), 0)
    if any(size != n for size in sizes.values()):
        raise DataError(f"batch arrays have different numbers of rows: {sizes}")
    if num_batches(n, batch_size) == 0:
        raise ConfigError(
            f"training.batch_size={batch_size} is larger than the sample ({n} rows): lower the batch size or add jets"
        )
    order = np.asarray(jax.random.permutation(key, n)) if key is not None else np.arange(n)
    rows_of_process = parallel.process_slice(batch_size) if mesh is not None else slice(None)
    for b in range(num_batches(n, batch_size)):
        rows = order[b * batch_size : (b + 1) * batch_size][rows_of_process]
        local = {name: value[rows] for name, value in arrays.items()}
        yield parallel.put_batch(local, mesh, batch_size) if mesh is not None else local
