"""Statistical errors that include the test-set noise: a paired, stratified bootstrap over test
jets, combined with the spread over training seeds.

**Bootstrap.** :func:`bootstrap_resamples` draws, for each named test set (``"nominal"`` and
``"alternate"``, or ``"test"`` and ``"sculpting"``), ``n_resamples`` index arrays with
replacement, *stratified by class label*: the jets of each label are resampled among themselves,
at their own positions, so ``labels[indices] == labels`` for every resample (the numbers of signal
and background jets stay fixed, as they are fixed by construction in the test sets). Each set is
resampled independently. :func:`bootstrap_values` evaluates a ``statistic(indices_by_set)`` on
every resample. Use the *same* resamples for every model (and compute all models in one
statistic, or with the same :class:`BootstrapResamples`): the errors are then *paired*, and the
error of a difference of two correlated models is the spread of the difference over resamples,
which is small when the models are correlated.

Resamples are generated on demand from the seed (memory ``O(n_jets)``, not
``O(n_resamples n_jets)``): resample ``r`` of set ``name`` is drawn from
``np.random.default_rng(SeedSequence(seed, spawn_key=(crc32(name), r)))``, so it is the same
whatever other sets or how many resamples are requested.

**Seeds and test set together.** A study value is usually the mean over ``n`` training seeds of
a metric evaluated on one shared test set. Its error has two parts (:func:`combined_error`):

* the test-set noise, the bootstrap standard deviation of the *seed mean* (the test set is the
  same for every seed, so this noise does not average down with more seeds);
* the training noise, the spread of the per-seed values ``s`` (sample std, ddof=1) over
  ``sqrt(n)``; on a fixed test set this spread holds no test-set noise.

``error = sqrt(bootstrap_std^2 + s^2 / n)``. For a difference ``A - B`` of two models
(:func:`combined_difference_error`) the bootstrap term is the spread of the paired difference of
the seed means, and the seed term ``sqrt(s_A^2 / n_A + s_B^2 / n_B)`` treats the two trainings as
independent (conservative when they share seeds and are positively correlated). Standard
deviations are sample standard deviations (ddof=1); a single seed gives a ``nan`` seed term (the
training noise is unknown), so no claim can rest on one seed; pass ``seed_values=None`` to state
that a value has no training noise (e.g. a fixed baseline such as N2 or a DDT).

Every standard deviation is ``nan`` when one of its inputs is non-finite (a statistic undefined
on some resample), and a :class:`Measurement` with a ``nan`` error gives an *inconclusive* claim
(:mod:`codec_jax.metrics.claims`).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics._inputs import _finite_1d

__all__ = [
    "BootstrapResamples",
    "Measurement",
    "bootstrap_resamples",
    "bootstrap_values",
    "combined_difference_error",
    "combined_error",
    "difference_measurement",
    "measurement",
]


# --------------------------------------------------------------------------- resamples
@dataclasses.dataclass(frozen=True)
class BootstrapResamples:
    """Stratified bootstrap resamples of named test sets (see the module docstring).

    Attributes:
        n_resamples: number of resamples.
        seed: the integer seed every resample is derived from.
        strata: per set, the positions of each class ``tuple[[n_class], ...]`` (private layout;
            use :meth:`indices`, :meth:`set_indices` or iterate).
        sizes: per set, the number of jets.
    """

    n_resamples: int
    seed: int
    strata: Mapping[str, tuple[np.ndarray, ...]]
    sizes: Mapping[str, int]

    @property
    def names(self) -> tuple[str, ...]:
        """The set names, in the order given."""
        return tuple(self.sizes)

    def __len__(self) -> int:
        return self.n_resamples

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for index in range(self.n_resamples):
            yield self.indices(index)

    def indices(self, resample: int) -> dict[str, np.ndarray]:
        """Resample number ``resample``: per set, the jet indices ``[n_jets_of_set]`` (int64)."""
        if not 0 <= resample < self.n_resamples:
            raise DataError(f"resample {resample} is out of range [0, {self.n_resamples})")
        return {name: self._draw(name, resample) for name in self.names}

    def set_indices(self, name: str) -> np.ndarray:
        """All resamples of one set as ``[n_resamples, n_jets_of_set]`` (materialised)."""
        if name not in self.sizes:
            raise DataError(f"unknown test set {name!r}; the resamples hold {list(self.names)}")
        return np.stack([self._draw(name, index) for index in range(self.n_resamples)])

    def identity(self) -> dict[str, np.ndarray]:
        """The unresampled sets (``arange`` per set): ``statistic(resamples.identity())`` is the
        value on the full test sets."""
        return {name: np.arange(size) for name, size in self.sizes.items()}

    def _draw(self, name: str, resample: int) -> np.ndarray:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()), resample))
        rng = np.random.default_rng(sequence)
        out = np.empty(self.sizes[name], dtype=np.int64)
        for positions in self.strata[name]:
            out[positions] = positions[rng.integers(0, positions.size, positions.size)]
        return out


def bootstrap_resamples(
    labels_by_set: Mapping[str, object], n_resamples: int, seed: int
) -> BootstrapResamples:
    """Stratified bootstrap resamples of each test set, independent between sets.

    Args:
        labels_by_set: per set name, its class labels ``[n_jets_of_set]`` (any finite values; each
            distinct value is one stratum, e.g. 0/1; a background-only set has one stratum).
        n_resamples: number of resamples (>= 2; a few hundred for errors at the 5% level: the
            relative precision of a bootstrap standard deviation is about ``1 / sqrt(2 R)``).
        seed: non-negative integer; the same seed gives the same resamples.
    """
    if int(n_resamples) != n_resamples or n_resamples < 2:
        raise DataError(f"'n_resamples' must be an integer >= 2, got {n_resamples}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"'seed' must be a non-negative integer, got {seed!r}")
    if not labels_by_set:
        raise DataError("'labels_by_set' is empty: name at least one test set")
    strata, sizes = {}, {}
    for name, labels in labels_by_set.items():
        values = _finite_1d(f"labels_by_set.{name}", labels)
        _, inverse = np.unique(values, return_inverse=True)
        strata[str(name)] = tuple(np.flatnonzero(inverse == k) for k in range(inverse.max() + 1))
        sizes[str(name)] = values.size
    return BootstrapResamples(n_resamples=int(n_resamples), seed=int(seed), strata=strata, sizes=sizes)


def bootstrap_values(
    statistic: Callable[[dict[str, np.ndarray]], object], resamples: BootstrapResamples
) -> np.ndarray:
    """``statistic(indices_by_set)`` on every resample, stacked to ``[n_resamples, ...]`` (float64).

    ``statistic`` receives per set the jet indices of one resample and returns a number or an
    array of fixed shape (e.g. one value per model: all models then see the same resamples).
    """
    values = [np.asarray(statistic(indices), dtype=np.float64) for indices in resamples]
    shapes = {value.shape for value in values}
    if len(shapes) != 1:
        raise DataError(f"the statistic returned values of different shapes {sorted(shapes)}")
    return np.stack(values)


# --------------------------------------------------------------------------- combined errors
def _std(values: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); nan for fewer than two or any non-finite value."""
    if values.size < 2 or not np.all(np.isfinite(values)):
        return float("nan")
    return float(np.std(values, ddof=1))


def _vector(name: str, values: object) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"{name!r} must be a non-empty one-dimensional array, got shape {array.shape}")
    return array


def _seed_part(name: str, seed_values: object, value: object) -> tuple[float, float, int]:
    """``(mean, s / sqrt(n), n)`` of per-seed values ``[n]``; for ``seed_values=None`` (no
    training noise) ``(value, 0, 0)``."""
    if seed_values is None:
        if value is None:
            raise DataError(f"{name!r} is None: give the value itself for a value without seeds")
        return float(value), 0.0, 0
    values = _vector(name, seed_values)
    return float(np.mean(values)), _std(values) / math.sqrt(values.size), values.size


def combined_error(bootstrap_of_seed_mean: object, seed_values: object) -> float:
    """Error of a seed-mean value on one shared test set:
    ``sqrt(std(bootstrap_of_seed_mean)^2 + std(seed_values)^2 / n_seeds)`` (ddof=1 for both).

    Args:
        bootstrap_of_seed_mean: ``[n_resamples]`` the seed mean on each bootstrap resample.
        seed_values: ``[n_seeds]`` the value of each seed on the full test set, or ``None`` for a
            value without training noise. One seed gives ``nan``.
    """
    return measurement(seed_values, bootstrap_of_seed_mean, value=0.0).error


def combined_difference_error(
    bootstrap_of_difference: object, seed_values_a: object, seed_values_b: object
) -> float:
    """Error of ``mean(A) - mean(B)`` for two models on the same test sets:
    ``sqrt(std(bootstrap_of_difference)^2 + s_A^2 / n_A + s_B^2 / n_B)``.

    ``bootstrap_of_difference [n_resamples]`` is the difference of the two seed means on the
    *same* (paired) resamples; ``seed_values_a [n_A]``, ``seed_values_b [n_B]`` (or ``None``).
    """
    return difference_measurement(
        seed_values_a, seed_values_b, bootstrap_of_difference, value_a=0.0, value_b=0.0
    ).error


# --------------------------------------------------------------------------- result type
@dataclasses.dataclass(frozen=True)
class Measurement:
    """A value with its error and the two parts of the error (see :func:`combined_error`).

    ``error = sqrt(bootstrap_error^2 + seed_error^2)`` where ``seed_error`` is already divided by
    ``sqrt(n_seeds)`` (for a difference, ``n_seeds`` is the total over both models).
    """

    value: float
    error: float
    bootstrap_error: float
    seed_error: float
    n_seeds: int
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats become ``None``."""
        return {field.name: _json_number(getattr(self, field.name)) for field in dataclasses.fields(self)}

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.error:.2g}"


def _json_number(value: float | int) -> float | int | None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _measurement(value: float, bootstrap: object, seed_terms: tuple[tuple[float, int], ...]) -> Measurement:
    values = _vector("bootstrap values", bootstrap)
    bootstrap_error = _std(values)
    seed_error = math.sqrt(sum(term**2 for term, _ in seed_terms))
    return Measurement(
        value=float(value),
        error=math.sqrt(bootstrap_error**2 + seed_error**2),
        bootstrap_error=bootstrap_error,
        seed_error=seed_error,
        n_seeds=sum(n for _, n in seed_terms),
        n_resamples=values.size,
    )


def measurement(seed_values: object, bootstrap_of_seed_mean: object, *, value: object = None) -> Measurement:
    """The seed mean of ``seed_values [n_seeds]`` with its :func:`combined_error`.

    ``bootstrap_of_seed_mean [n_resamples]``: the seed mean on each resample. For a value without
    training noise (a fixed baseline) pass ``seed_values=None`` and its full-test-set ``value``.
    """
    mean, seed_error, n_seeds = _seed_part("seed_values", seed_values, value)
    return _measurement(mean, bootstrap_of_seed_mean, ((seed_error, n_seeds),))


def difference_measurement(
    seed_values_a: object,
    seed_values_b: object,
    bootstrap_of_difference: object,
    *,
    value_a: object = None,
    value_b: object = None,
) -> Measurement:
    """``mean(A) - mean(B)`` with :func:`combined_difference_error`.

    ``seed_values_a [n_A]`` and ``seed_values_b [n_B]``: per-seed values on the full test sets
    (``None`` with ``value_a`` / ``value_b`` for a model without training noise);
    ``bootstrap_of_difference [n_resamples]``: the paired difference of the seed means on each
    resample.
    """
    mean_a, error_a, n_a = _seed_part("seed_values_a", seed_values_a, value_a)
    mean_b, error_b, n_b = _seed_part("seed_values_b", seed_values_b, value_b)
    return _measurement(mean_a - mean_b, bootstrap_of_difference, ((error_a, n_a), (error_b, n_b)))
