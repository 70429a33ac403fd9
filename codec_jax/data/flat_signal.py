"""Flatten one sample's mass spectrum on its own (no background): the mass-regression training set.

:func:`codec_jax.data.flat.flatten` resamples signal and QCD to a common flat target, so the
target is limited by the sparser of the two. A mass regression or calibration learns from signal
only (QCD has no truth mass), and its prior should be flat in the *true* resonance mass, so
:func:`flatten_signal` flattens a single sample in any mass field: bias weights
``u(m) / f(m)`` (:func:`codec_jax.data.bias.fit_bias_weights`) inside each mass bin, and at most
``jets_per_bin`` jets drawn per bin (by default all jets are kept and only weighted).
"""

from __future__ import annotations

import numpy as np

from codec_jax.data.bias import FIT_MODELS, checked_finite, checked_range, fit_bias_weights
from codec_jax.data.flat import resample_cells
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JET_FIELDS, JetSample

__all__ = ["flatten_signal"]


def flatten_signal(
    seed: int,
    sample: JetSample,
    *,
    mass_range: tuple[float, float],
    bins: int = 16,
    field: str = "truth_mass",
    fit: str = "histogram",
    jets_per_bin: int | None = None,
    min_jets_per_bin: int = 1,
) -> JetSample:
    """The jets of ``sample`` with ``field`` in ``mass_range``, weighted to a flat spectrum.

    Args:
        seed: seeds the resampling (NumPy generator); same seed, same set.
        sample: ``n_jets`` jets, e.g. the wide-width Z'.
        mass_range: ``(m_lo, m_hi)`` [GeV]; jets outside are dropped.
        bins: uniform mass bins of the resampling (and of the histogram density).
        field: the mass field, e.g. ``"truth_mass"`` (generated resonance mass) or ``"msd"``.
        fit: mass-shape model of the bias weights (:data:`codec_jax.data.bias.FIT_MODELS`).
        jets_per_bin: jets drawn per bin without replacement; ``None`` keeps every jet (the
            target is then the fullest bin's count).
        min_jets_per_bin: a bin with fewer jets raises :class:`DataError`.

    Returns:
        The selected jets (input order kept) with weights ``sample.weight * u/f`` rescaled so that
        each bin's weights sum to the target count: the weighted spectrum is flat bin by bin.
    """
    if field not in JET_FIELDS:
        raise ConfigError(f"field={field!r} is not a jet field; expected one of {JET_FIELDS}")
    if fit not in FIT_MODELS:
        raise ConfigError(f"unknown fit model {fit!r}; expected one of {FIT_MODELS}")
    if bins < 1:
        raise ConfigError(f"bins must be positive, got {bins}")
    lo, hi = checked_range("mass_range", mass_range)
    values = checked_finite(f"field {field!r}", getattr(sample, field))
    if len(values) and np.all(values <= 0):
        raise DataError(f"field {field!r} is zero for every jet (QCD, or not stored): nothing to flatten")
    weight = checked_finite("field 'weight'", sample.weight)
    edges = np.linspace(lo, hi, bins + 1)
    cell = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    cell = np.where((values >= lo) & (values <= hi), cell, -1)
    counts = np.bincount(cell[cell >= 0], minlength=bins)
    sparse = np.flatnonzero(counts < max(min_jets_per_bin, 1))
    if sparse.size:
        b = int(sparse[0])
        raise DataError(
            f"field {field!r}: bin [{edges[b]:g}, {edges[b + 1]:g}) GeV holds {counts[b]} jets, fewer than "
            f"min_jets_per_bin={max(min_jets_per_bin, 1)} ({sparse.size} such bin(s)); use fewer bins or more jets"
        )
    inside = cell >= 0
    bias = fit_bias_weights(
        values[inside], mass_range=(lo, hi), model=fit, weight=weight[inside], hist_bins=bins, field=field
    )
    within = weight * bias(values)
    target = int(jets_per_bin) if jets_per_bin is not None else int(counts.max())
    if target < 1:
        raise ConfigError(f"jets_per_bin must be positive, got {jets_per_bin}")
    index, new_weight = resample_cells(np.random.default_rng(seed), cell, within, bins, target)
    settings = {
        "seed": int(seed),
        "field": field,
        "mass_range": [lo, hi],
        "bins": int(bins),
        "fit": fit,
        "jets_per_bin": target,
    }
    return sample[index].replace(weight=new_weight.astype(np.float32)).with_metadata(flat_signal=settings)
