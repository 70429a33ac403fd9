"""Study values with errors: several quantities of several models, each the mean over training
seeds on shared test sets, with the paired bootstrap over the test jets combined with the seeds.

A study evaluates every model and seed on the same test sets (e.g. ``"test"`` and
``"sculpting"``, or ``"nominal"`` and ``"alternate"``). :func:`seed_mean_bootstrap` calls
``statistic(indices_by_set)`` once on the full test sets and once per bootstrap resample of
:func:`~codec_jax.metrics.uncertainty.bootstrap_resamples`; the statistic returns, per model, the
values ``[n_seeds_of_model, n_quantities]`` of every seed on those jets. The result,
:class:`SeedMeanBootstrap`, keeps the per-seed values on the full sets and the seed means on every
resample, and gives

* :meth:`SeedMeanBootstrap.measurement` -- the seed mean of one quantity of one model with
  :func:`~codec_jax.metrics.uncertainty.combined_error` (bootstrap of the seed mean + seed spread);
* :meth:`SeedMeanBootstrap.difference` -- ``mean(a) - mean(b)`` with the bootstrap of the paired
  difference (every model saw the same resampled jets) + both seed spreads.

Models without training noise (a fixed observable such as N2) are named in ``without_seeds``:
their single "seed" is the value, and only the bootstrap enters their error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics.uncertainty import BootstrapResamples, Measurement, difference_measurement, measurement

__all__ = ["SeedMeanBootstrap", "seed_mean_bootstrap"]

Statistic = Callable[[dict[str, np.ndarray]], Mapping[str, object]]


@dataclasses.dataclass(frozen=True)
class SeedMeanBootstrap:
    """Per-seed values and bootstrapped seed means (see the module docstring).

    Attributes:
        quantities: the quantity names, in the statistic's column order.
        models: the model names, in the statistic's order.
        per_seed: model -> ``[n_seeds, n_quantities]`` values on the full test sets.
        bootstrap_means: ``[n_resamples, n_models, n_quantities]`` seed means per resample.
        without_seeds: the models without training noise.
    """

    quantities: tuple[str, ...]
    models: tuple[str, ...]
    per_seed: Mapping[str, np.ndarray]
    bootstrap_means: np.ndarray
    without_seeds: frozenset[str]

    def _index(self, model: str, quantity: str) -> tuple[int, int]:
        if model not in self.models:
            raise DataError(f"no bootstrapped values of model {model!r}; models: {list(self.models)}")
        if quantity not in self.quantities:
            raise DataError(f"unknown quantity {quantity!r}; quantities: {list(self.quantities)}")
        return self.models.index(model), self.quantities.index(quantity)

    def _seed_args(self, model: str, column: int) -> tuple[np.ndarray | None, float]:
        values = self.per_seed[model][:, column]
        if model in self.without_seeds:
            return None, float(values[0])
        return values, float(np.mean(values))

    def measurement(self, model: str, quantity: str) -> Measurement:
        """The seed mean of ``quantity`` of ``model`` with its combined error."""
        row, column = self._index(model, quantity)
        seeds, value = self._seed_args(model, column)
        return measurement(seeds, self.bootstrap_means[:, row, column], value=value)

    def difference(self, a: str, b: str, quantity: str) -> Measurement:
        """``mean(a) - mean(b)`` of ``quantity`` with the paired bootstrap of the difference and
        both seed spreads."""
        row_a, column = self._index(a, quantity)
        row_b, _ = self._index(b, quantity)
        seeds_a, value_a = self._seed_args(a, column)
        seeds_b, value_b = self._seed_args(b, column)
        boot = self.bootstrap_means[:, row_a, column] - self.bootstrap_means[:, row_b, column]
        return difference_measurement(seeds_a, seeds_b, boot, value_a=value_a, value_b=value_b)

    def means(self, quantity: str) -> dict[str, float]:
        """Model -> seed mean of ``quantity`` on the full test sets."""
        column = self.quantities.index(quantity)
        return {model: float(np.mean(self.per_seed[model][:, column])) for model in self.models}


def _table(values: Mapping[str, object], models: Sequence[str], n_quantities: int) -> dict[str, np.ndarray]:
    out = {}
    for model in models:
        array = np.asarray(values[model], dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != n_quantities or array.shape[0] == 0:
            raise DataError(
                f"the statistic returned shape {array.shape} for model {model!r}; expected "
                f"[n_seeds >= 1, {n_quantities}]"
            )
        out[model] = array
    return out


def seed_mean_bootstrap(
    statistic: Statistic,
    resamples: BootstrapResamples,
    quantities: Sequence[str],
    *,
    without_seeds: Iterable[str] = (),
) -> SeedMeanBootstrap:
    """Evaluate ``statistic`` on the full test sets and on every resample.

    Args:
        statistic: ``statistic(indices_by_set) -> {model: [n_seeds, n_quantities]}``, the values
            of every seed of every model on the resampled jets (the same models and seeds on every
            call; a resample's indices are ``{set: [n_jets_of_set]}``).
        resamples: the paired resamples (:func:`~codec_jax.metrics.uncertainty.bootstrap_resamples`).
        quantities: the names of the ``n_quantities`` columns.
        without_seeds: models whose values have no training noise (one row, the value itself).

    Raises:
        DataError: the statistic returns inconsistent models or shapes.
    """
    quantities = tuple(quantities)
    full_values = statistic(resamples.identity())
    models = tuple(full_values)
    full = _table(full_values, models, len(quantities))
    fixed = frozenset(without_seeds)
    unknown = sorted(fixed - set(models))
    if unknown:
        raise DataError(f"without_seeds names models the statistic does not return: {unknown}")
    means = np.empty((len(resamples), len(models), len(quantities)))
    for r, indices in enumerate(resamples):
        values = statistic(indices)
        if tuple(values) != models:
            raise DataError(
                f"the statistic returned models {list(values)} on resample {r}, {list(models)} before"
            )
        table = _table(values, models, len(quantities))
        for m, model in enumerate(models):
            if table[model].shape != full[model].shape:
                raise DataError(
                    f"model {model!r}: {table[model].shape[0]} seeds on resample {r}, {full[model].shape[0]} before"
                )
            means[r, m] = table[model].mean(axis=0)
    return SeedMeanBootstrap(quantities, models, full, means, fixed)
