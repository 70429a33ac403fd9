"""Per-model metrics of the CoDec tagging study: performance and mass sculpting of one tagger.

:func:`tagger_metrics` turns the scores of one tagger on the test jets (Z' with flat weights and
QCD with its natural mass spectrum) into a JSON-ready dict: AUC; background rejection
``R<x> = 1 / eps_QCD`` at each signal efficiency ``x`` of the working points; mass sculpting
``1/JSD`` between the QCD soft-drop-mass histograms passing and failing the same cuts, with its
statistical floor (:func:`codec_jax.metrics.inverse_jsd_floor`); the ROC curve on a fixed grid;
the QCD efficiency versus mass at the first working point; the normalised QCD mass spectra after
cuts at several signal efficiencies; and, given a latent space, the correlation of each of its
principal axes with the mass (:func:`principal_axes`: the axes of a contrastive latent space are
defined only up to rotation and sign, so raw dimensions do not line up between seeds).
:func:`sculpting_metrics` measures the sculpting of the QCD jets of a separate (dedicated) QCD
sample at the thresholds that keep the working points of the test Z' jets: R, 1/JSD with its
floor, and the excess JSD over the floor (:func:`codec_jax.metrics.jsd_excess`).
:func:`summarize_tagger_runs` reduces a model's per-seed dicts to mean and spread over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codec_jax import metrics
from codec_jax.metrics.robustness import ROC_GRID
from codec_jax.studies.common.summary import summarize_curves, summarize_values

__all__ = [
    "TaggingTestSet",
    "point_name",
    "principal_axes",
    "qcd_mass_spectrum",
    "sculpting_metrics",
    "tagger_metrics",
    "summarize_tagger_runs",
]


class TaggingTestSet:
    """The test jets every tagger is scored on, as plain arrays ``[n_jets]``.

    ``label`` 1 = Z', 0 = QCD; ``weight`` the evaluation weights (flat-spectrum weights for Z',
    ones for QCD); ``mass`` the soft-drop mass [GeV]; ``bin_edges [bins + 1]`` the fixed mass
    binning of every histogram (1/JSD, spectra, efficiency versus mass).
    """

    def __init__(
        self, label: np.ndarray, weight: np.ndarray, mass: np.ndarray, bin_edges: np.ndarray
    ) -> None:
        self.label = np.asarray(label, dtype=np.int64)
        self.weight = np.asarray(weight, dtype=np.float64)
        self.mass = np.asarray(mass, dtype=np.float64)
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)


def point_name(prefix: str, efficiency: float) -> str:
    """``point_name("r", 0.5) == "r50"``, ``point_name("inv_jsd", 0.3) == "inv_jsd30"``."""
    return f"{prefix}{round(100 * efficiency):d}"


def _roc_on_grid(scores: np.ndarray, test: TaggingTestSet) -> list[float]:
    """eps_QCD at the signal efficiencies :data:`ROC_GRID` (the smallest reaching each)."""
    eps_bkg, eps_sig, _ = metrics.roc_curve(scores, test.label, test.weight)
    index = np.minimum(np.searchsorted(eps_sig, ROC_GRID - 1e-12, side="left"), len(eps_sig) - 1)
    return eps_bkg[index].tolist()


def _as_list(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def qcd_mass_spectrum(mass: np.ndarray, weight: np.ndarray, edges: np.ndarray) -> list[float | None]:
    """Unit-area mass histogram ``[bins]`` (1/GeV) of jets ``mass, weight [n]`` in ``edges
    [bins + 1]``; all ``None`` if no jet falls inside."""
    counts, _ = np.histogram(mass, edges, weights=weight)
    total = counts.sum()
    if total <= 0:
        return [None] * len(counts)
    return _as_list(counts / (total * np.diff(edges)))


def principal_axes(latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The latent ``[n, d]`` in its principal axes (centred, ordered by decreasing variance) and
    the fraction of the total variance on each axis ``[d]``."""
    centred = np.asarray(latent, dtype=np.float64) - np.mean(latent, axis=0)
    variances, axes = np.linalg.eigh(np.atleast_2d(np.cov(centred, rowvar=False)))
    order = np.argsort(variances)[::-1]
    total = variances.sum()
    fractions = variances[order] / total if total > 0 else np.zeros(len(order))
    return centred @ axes[:, order], np.clip(fractions, 0.0, None)


def tagger_metrics(
    scores: np.ndarray,
    test: TaggingTestSet,
    *,
    working_points: Sequence[float] = (0.5, 0.3),
    spectrum_efficiencies: Sequence[float] = (0.9, 0.7, 0.5, 0.3, 0.1),
    floor_trials: int = 20,
    latent: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of one tagger (higher score = more Z'-like) on the test jets.

    Args:
        scores: ``[n_jets]`` tagger output on ``test``.
        test: the test jets (:class:`TaggingTestSet`).
        working_points: Z' efficiencies for R<x>, 1/JSD<x> and its floor; the first one is also
            used for the QCD efficiency versus mass.
        spectrum_efficiencies: Z' efficiencies of the cuts whose QCD mass spectra are stored.
        floor_trials: random mass-independent cuts of the 1/JSD floor.
        latent: optional ``[n_jets, d]`` latent representation for the latent-mass correlation
            (on its principal axes, :func:`principal_axes`).
        seed: seeds the floor and the distance-correlation subset.

    Returns:
        ``{"auc", "r<x>", "inv_jsd<x>", "inv_jsd<x>_floor", "inv_jsd<x>_floor_std", ...}``
        (scalars) and ``curves``: ``roc`` ([k] eps_QCD on :data:`ROC_GRID`), ``eff_vs_mass``
        and ``eff_vs_mass_unc`` ([bins] QCD efficiency at the first working point),
        ``spectrum<x>`` ([bins] normalised QCD mass spectrum after the cut at Z' efficiency x);
        with ``latent``: ``latent`` -> ``{"variance_fraction", "qcd_pearson", "qcd_distance",
        "zprime_pearson", "zprime_distance"}`` ([d] each, per principal axis of the latent, by
        decreasing variance; Pearson as an absolute value, since an axis has no sign).
    """
    scores = np.asarray(scores, dtype=np.float64)
    args = (scores, test.label)
    result: dict[str, Any] = {"auc": metrics.roc_auc(*args, weights=test.weight)}
    for point in working_points:
        result[point_name("r", point)] = metrics.background_rejection(
            *args, signal_efficiency=point, weights=test.weight
        )
        jsd_args = (*args, test.mass, test.bin_edges, point)
        name = point_name("inv_jsd", point)
        result[name] = metrics.inverse_jsd(*jsd_args, weights=test.weight)
        floor = metrics.inverse_jsd_floor(*jsd_args, weights=test.weight, n_trials=floor_trials, seed=seed)
        result[f"{name}_floor"], result[f"{name}_floor_std"] = floor.mean, floor.std

    qcd = test.label == 0
    curves: dict[str, list[float | None]] = {"roc": _roc_on_grid(scores, test)}
    if working_points:
        cut = metrics.threshold_at_efficiency(*args, working_points[0], label=1, weights=test.weight)
        binned = metrics.efficiency_vs_mass(
            scores[qcd], test.mass[qcd], cut, test.bin_edges, weights=test.weight[qcd]
        )
        curves["eff_vs_mass"] = _as_list(binned.efficiency)
        curves["eff_vs_mass_unc"] = _as_list(binned.uncertainty)
    for efficiency in spectrum_efficiencies:
        cut = metrics.threshold_at_efficiency(*args, efficiency, label=1, weights=test.weight)
        passing = qcd & (scores >= cut)
        curves[point_name("spectrum", efficiency)] = qcd_mass_spectrum(
            test.mass[passing], test.weight[passing], test.bin_edges
        )
    result["curves"] = curves
    if latent is not None:
        rotated, fractions = principal_axes(latent)
        result["latent"] = {"variance_fraction": fractions.tolist()}
        for process, rows in (("qcd", qcd), ("zprime", ~qcd)):
            correlation = metrics.latent_mass_correlation(
                rotated[rows], test.mass[rows], test.weight[rows], seed=seed
            )
            result["latent"][f"{process}_pearson"] = np.abs(correlation.pearson).tolist()
            result["latent"][f"{process}_distance"] = correlation.distance.tolist()
    return result


def sculpting_metrics(
    signal_scores: np.ndarray,
    signal_weights: np.ndarray,
    qcd_scores: np.ndarray,
    qcd_mass: np.ndarray,
    bin_edges: np.ndarray,
    *,
    working_points: Sequence[float] = (0.5, 0.3),
    floor_trials: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """The sculpting of QCD jets ``qcd_scores, qcd_mass [n_qcd]`` (unit weights) at the cuts that
    keep each working point of the Z' jets ``signal_scores, signal_weights [n_sig]``.

    Returns, per working point x (``50`` for 0.5): ``sculpting_r<x>`` (1/eps_QCD),
    ``sculpting_inv_jsd<x>`` with ``sculpting_inv_jsd<x>_floor`` / ``_floor_std`` (mean and spread
    of 1/JSD over ``floor_trials`` random cuts passing as many QCD jets), and ``jsd<x>``,
    ``jsd<x>_floor`` (mean JSD of the random cuts), ``jsd<x>_floor_std`` and
    ``excess_jsd<x> = jsd<x> - jsd<x>_floor`` (:func:`codec_jax.metrics.jsd_excess`).
    """
    qcd_scores = np.asarray(qcd_scores, dtype=np.float64)
    qcd_mass = np.asarray(qcd_mass, dtype=np.float64)
    scores = np.concatenate([np.asarray(signal_scores, dtype=np.float64), qcd_scores])
    labels = np.concatenate([np.ones(len(signal_scores), np.int64), np.zeros(len(qcd_scores), np.int64)])
    weights = np.concatenate([np.asarray(signal_weights, dtype=np.float64), np.ones(len(qcd_scores))])
    mass = np.concatenate([np.full(len(signal_scores), qcd_mass.mean() if len(qcd_mass) else 0.0), qcd_mass])
    result: dict[str, float] = {}
    for point in working_points:
        excess = metrics.jsd_excess(
            signal_scores, qcd_scores, qcd_mass, bin_edges, point,
            signal_weights=signal_weights, trials=floor_trials, seed=seed,
        )  # fmt: skip
        with np.errstate(divide="ignore"):
            result[point_name("sculpting_r", point)] = float(np.divide(1.0, excess.background_efficiency))
        args = (scores, labels, mass, bin_edges, point)
        name = point_name("sculpting_inv_jsd", point)
        result[name] = metrics.inverse_jsd(*args, weights=weights)
        floor = metrics.inverse_jsd_floor(*args, weights=weights, n_trials=floor_trials, seed=seed)
        result[f"{name}_floor"], result[f"{name}_floor_std"] = floor.mean, floor.std
        jsd = point_name("jsd", point)
        result[jsd], result[f"{jsd}_floor"], result[f"{jsd}_floor_std"] = (
            excess.jsd,
            excess.floor,
            excess.floor_std,
        )
        result[point_name("excess_jsd", point)] = excess.excess
    return result


def summarize_tagger_runs(per_seed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and spread over seeds of one model's :func:`tagger_metrics` dicts (``{seed: dict}``).

    Scalars become :func:`~codec_jax.studies.mack.report.summarize_values` entries; ``curves`` and
    ``latent`` entries become pointwise ``{"mean": [...], "std": [...]}``
    (:func:`~codec_jax.studies.mack.report.summarize_curves`).
    """
    runs = list(per_seed.values())
    summary: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) or value is None:
            summary[key] = summarize_values([run[key] for run in runs])
    for group in ("curves", "latent"):
        if group in runs[0]:
            summary[group] = {
                name: summarize_curves([run[group][name] for run in runs]) for name in runs[0][group]
            }
    return summary
