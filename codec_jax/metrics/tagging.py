"""Tagger metrics: ROC, AUC, thresholds, background rejection, mass sculpting (1/JSD and its
statistical floor) and efficiency versus mass.


Conventions (the same in every function):

* ``label`` 1 is signal, 0 is background; a higher score is more signal-like.
* A cut at ``threshold`` keeps the jets with ``score >= threshold``.
* Weights are optional everywhere (``None`` = unit weights); they must be finite and >= 0.
* The cut at efficiency ``x`` of a class is the *highest* threshold keeping at least a fraction
  ``x`` of that class (by weight). With continuous scores the achieved efficiency is ``x`` up to
  one jet; with tied scores the whole tie is kept, so the achieved efficiency can exceed ``x``
  (check it with :func:`efficiency`).
* The Jensen-Shannon divergence uses the natural log (a divergence in [0, ln 2], not scipy's
  distance, which is its square root).

All functions take NumPy arrays (anything ``np.asarray`` accepts) and compute in float64.
Inputs that are empty, of mismatched shapes, or hold NaN/inf raise :class:`DataError` naming the
argument. Results that are undefined for valid inputs (no background passing a cut, an empty
histogram) are ``inf`` or ``nan`` as documented per function.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics._inputs import (
    _check_efficiency,
    _class,
    _efficiency_steps,
    _finite_1d,
    _inputs,
    _pass_fraction,
    _thresholds,
    _weights,
)

__all__ = [
    "BinnedEfficiency",
    "InverseJSDFloor",
    "background_rejection",
    "efficiency",
    "efficiency_vs_mass",
    "inverse_jsd",
    "inverse_jsd_floor",
    "jsd",
    "roc_auc",
    "roc_curve",
    "threshold_at_efficiency",
]


# --------------------------------------------------------------------------- ROC and rejection
def efficiency(scores: object, threshold: float, weights: object = None) -> float:
    """Weighted fraction of jets with ``score >= threshold``. ``scores [n]``, ``weights [n]``."""
    scores = _finite_1d("scores", scores)
    weights = _weights("weights", weights, scores.shape[0])
    total = weights.sum()
    if total <= 0:
        raise DataError("'weights' sum to zero")
    return float(weights[scores >= threshold].sum() / total)


def roc_curve(
    scores: object, labels: object, weights: object = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve: background and signal efficiency of the cut ``score >= threshold``.

    Args:
        scores: ``[n]`` tagger outputs.
        labels: ``[n]`` 1 = signal, 0 = background.
        weights: ``[n]`` optional, >= 0.

    Returns:
        ``(eps_bkg, eps_sig, thresholds)``, each ``[k + 1]`` for ``k`` distinct scores: the
        thresholds in decreasing order starting at ``+inf`` (nothing passes, (0, 0)) and ending
        at the lowest score (everything passes, (1, 1)); the efficiencies non-decreasing.
    """
    scores, is_signal, weights = _inputs(scores, labels, weights)
    _class(scores, weights, is_signal, "signal (label 1)")
    _class(scores, weights, ~is_signal, "background (label 0)")
    values, _ = _efficiency_steps(scores, weights)
    thresholds = np.r_[np.inf, values]
    eps_sig = np.r_[0.0, _pass_fraction(scores[is_signal], weights[is_signal], values)]
    eps_bkg = np.r_[0.0, _pass_fraction(scores[~is_signal], weights[~is_signal], values)]
    return eps_bkg, eps_sig, thresholds


def roc_auc(scores: object, labels: object, weights: object = None) -> float:
    """Area under the ROC curve: P(score_sig > score_bkg) + P(score_sig = score_bkg) / 2,
    the (weighted) Mann-Whitney statistic. ``scores, labels, weights [n]``."""
    eps_bkg, eps_sig, _ = roc_curve(scores, labels, weights)
    return float(np.trapezoid(eps_sig, eps_bkg))


def threshold_at_efficiency(
    scores: object,
    labels: object,
    efficiency: float = 0.5,
    *,
    label: int = 1,
    weights: object = None,
) -> float:
    """The highest threshold whose cut ``score >= threshold`` keeps at least ``efficiency`` of
    the jets with ``label`` (1 = signal, 0 = background), by weight.

    Args:
        scores: ``[n]``; labels: ``[n]``; weights: ``[n]`` optional.
        efficiency: target efficiency in (0, 1].
        label: the class the efficiency refers to.
    """
    scores, is_signal, weights = _inputs(scores, labels, weights)
    efficiency = float(_check_efficiency("efficiency", efficiency))
    if label not in (0, 1):
        raise DataError(f"'label' must be 0 or 1, got {label}")
    select = is_signal if label == 1 else ~is_signal
    class_scores, class_weights = _class(scores, weights, select, f"label-{label}")
    return float(_thresholds(class_scores, class_weights, np.array([efficiency]))[0])


def background_rejection(
    scores: object, labels: object, signal_efficiency: float = 0.5, weights: object = None
) -> float:
    """Background rejection ``1 / eps_bkg`` at the cut keeping ``signal_efficiency`` of the
    signal (R50 for 0.5, R30 for 0.3). ``scores, labels, weights [n]``.

    Returns ``inf`` when no background passes the cut: the rejection is then only known to
    exceed about ``sum(w_bkg) / max(w_bkg)`` (the number of background jets for unit weights);
    quote that bound, or use a larger background sample, rather than the ``inf``.
    """
    scores, is_signal, weights = _inputs(scores, labels, weights)
    threshold = threshold_at_efficiency(scores, is_signal, signal_efficiency, label=1, weights=weights)
    bkg_scores, bkg_weights = _class(scores, weights, ~is_signal, "background (label 0)")
    eps_bkg = bkg_weights[bkg_scores >= threshold].sum() / bkg_weights.sum()
    return float(np.inf) if eps_bkg == 0 else float(1.0 / eps_bkg)


# --------------------------------------------------------------------------- mass sculpting
def jsd(p: object, q: object) -> float:
    """Jensen-Shannon divergence (natural log) of two histograms on the same bins.

    ``p, q [bins]`` are non-negative and normalised here to unit sum;
    ``JSD = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2`` and ``0 log 0 = 0``.
    It lies in ``[0, ln 2]``; scipy's ``jensenshannon`` returns its square root (a distance).
    """
    p = _finite_1d("p", p)
    q = _finite_1d("q", q, p.shape[0])
    for name, hist in (("p", p), ("q", q)):
        if np.any(hist < 0) or hist.sum() <= 0:
            raise DataError(f"histogram {name!r} must be non-negative with a positive sum")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log(a[nonzero] / m[nonzero])))

    return max(0.5 * kl(p) + 0.5 * kl(q), 0.0)


def _bkg_mass_inputs(
    scores: object, labels: object, mass: object, bin_edges: object, weights: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scores, is_signal, weights = _inputs(scores, labels, weights)
    mass = _finite_1d("mass", mass, scores.shape[0])
    edges = _finite_1d("bin_edges", bin_edges)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise DataError("'bin_edges' must be at least two strictly increasing values")
    return scores, is_signal, weights, mass, edges


def _inverse_jsd_of_split(
    mass: np.ndarray, weights: np.ndarray, passing: np.ndarray, edges: np.ndarray
) -> float:
    hist_pass, _ = np.histogram(mass[passing], edges, weights=weights[passing])
    hist_fail, _ = np.histogram(mass[~passing], edges, weights=weights[~passing])
    if hist_pass.sum() <= 0 or hist_fail.sum() <= 0:
        return float("nan")
    divergence = jsd(hist_pass, hist_fail)
    return float(np.inf) if divergence == 0 else 1.0 / divergence


def inverse_jsd(
    scores: object,
    labels: object,
    mass: object,
    bin_edges: object,
    signal_efficiency: float = 0.5,
    weights: object = None,
) -> float:
    """Mass sculpting: ``1 / JSD`` between the background mass histograms passing and failing the
    cut that keeps ``signal_efficiency`` of the signal. Larger is better (less sculpting).

    Args:
        scores, labels, mass: ``[n]``; mass in the unit of ``bin_edges`` (e.g. GeV).
        bin_edges: ``[bins + 1]`` increasing; background jets outside them are ignored.
        signal_efficiency: working point in (0, 1].
        weights: ``[n]`` optional.

    Returns ``nan`` when the passing or failing histogram is empty and ``inf`` when the two are
    identical. Compare values only at fixed binning and sample size: see
    :func:`inverse_jsd_floor` for the value a mass-independent cut reaches on the same sample.
    """
    scores, is_signal, weights, mass, edges = _bkg_mass_inputs(scores, labels, mass, bin_edges, weights)
    threshold = threshold_at_efficiency(scores, is_signal, signal_efficiency, label=1, weights=weights)
    bkg = ~is_signal
    _class(scores, weights, bkg, "background (label 0)")
    return _inverse_jsd_of_split(mass[bkg], weights[bkg], scores[bkg] >= threshold, edges)


class InverseJSDFloor(NamedTuple):
    """1/JSD of random, mass-independent cuts: ``mean`` and ``std`` over ``values [n_trials]``."""

    mean: float
    std: float
    values: np.ndarray


def inverse_jsd_floor(
    scores: object,
    labels: object,
    mass: object,
    bin_edges: object,
    signal_efficiency: float = 0.5,
    weights: object = None,
    *,
    n_trials: int = 20,
    seed: int | np.random.Generator = 0,
) -> InverseJSDFloor:
    """The statistical floor of :func:`inverse_jsd`: 1/JSD of a cut that ignores mass.

    The real cut at ``signal_efficiency`` passes ``k`` of the background jets; each trial passes
    ``k`` background jets drawn at random without replacement (same sample, weights and bins), so
    the passing and failing mass histograms differ only by statistical fluctuations. A tagger
    whose 1/JSD is consistent with ``mean`` (within a few ``std``) shows no measurable sculpting;
    1/JSD cannot be resolved beyond this value with this sample. For unit weights and ``B``
    populated bins, ``E[JSD] ~ (B - 1) / 8 * (1 / k + 1 / (n_bkg - k))``.

    Args: as :func:`inverse_jsd`, plus ``n_trials`` random cuts and a ``seed`` (an int or a
    ``np.random.Generator``); the result is deterministic for an int seed.
    """
    scores, is_signal, weights, mass, edges = _bkg_mass_inputs(scores, labels, mass, bin_edges, weights)
    if int(n_trials) < 2:
        raise DataError(f"'n_trials' must be at least 2, got {n_trials}")
    threshold = threshold_at_efficiency(scores, is_signal, signal_efficiency, label=1, weights=weights)
    bkg = ~is_signal
    _class(scores, weights, bkg, "background (label 0)")
    bkg_mass, bkg_weights = mass[bkg], weights[bkg]
    n_pass = int(np.count_nonzero(scores[bkg] >= threshold))
    rng = np.random.default_rng(seed)
    values = np.empty(int(n_trials))
    for trial in range(values.size):
        passing = np.zeros(bkg_mass.size, dtype=bool)
        passing[rng.choice(bkg_mass.size, n_pass, replace=False)] = True
        values[trial] = _inverse_jsd_of_split(bkg_mass, bkg_weights, passing, edges)
    return InverseJSDFloor(mean=float(np.mean(values)), std=float(np.std(values, ddof=1)), values=values)


class BinnedEfficiency(NamedTuple):
    """Per mass bin: ``efficiency [bins]`` (nan where a bin is empty), its binomial
    ``uncertainty [bins]`` (from the effective count ``(sum w)^2 / sum w^2``) and the total weight
    ``weight [bins]`` in the bin."""

    efficiency: np.ndarray
    uncertainty: np.ndarray
    weight: np.ndarray


def efficiency_vs_mass(
    scores: object, mass: object, threshold: float, bin_edges: object, weights: object = None
) -> BinnedEfficiency:
    """Efficiency of the cut ``score >= threshold`` in bins of mass.

    Pass the jets of one class (e.g. the background) with ``scores, mass, weights [n]`` and
    ``bin_edges [bins + 1]``; jets outside the edges are ignored. For a decorrelated tagger the
    background efficiency is flat in mass.
    """
    scores = _finite_1d("scores", scores)
    mass = _finite_1d("mass", mass, scores.shape[0])
    weights = _weights("weights", weights, scores.shape[0])
    edges = _finite_1d("bin_edges", bin_edges)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise DataError("'bin_edges' must be at least two strictly increasing values")
    passing = scores >= threshold
    total, _ = np.histogram(mass, edges, weights=weights)
    total_sq, _ = np.histogram(mass, edges, weights=weights**2)
    passed, _ = np.histogram(mass[passing], edges, weights=weights[passing])
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.where(total > 0, passed / total, np.nan)
        n_effective = np.where(total_sq > 0, total**2 / total_sq, np.nan)
        uncertainty = np.sqrt(eff * (1.0 - eff) / n_effective)
    return BinnedEfficiency(efficiency=eff, uncertainty=uncertainty, weight=total)
