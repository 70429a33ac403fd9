"""MACK's robustness metrics: the fractional change of an efficiency between the nominal and the
alternate (data-like) test sets at a working point fixed on the nominal one.

Conventions as in :mod:`codec_jax.metrics.tagging`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics._inputs import _check_efficiency, _class, _inputs, _pass_fraction, _thresholds
from codec_jax.metrics.tagging import roc_auc, roc_curve, threshold_at_efficiency

__all__ = [
    "ROC_GRID",
    "metric_name",
    "fractional_change_uncertainty",
    "robustness_metrics",
    "EfficiencyChangeCurve",
    "fractional_efficiency_change",
    "fractional_efficiency_change_curve",
    "matched_efficiency_change",
]

#: Signal efficiencies at which ROC curves are stored (background efficiency interpolated).
ROC_GRID = np.round(np.linspace(0.01, 1.0, 100), 4)


# --------------------------------------------------------------------------- efficiency changes
class EfficiencyChangeCurve(NamedTuple):
    """``efficiency [k]``: the working points of the fixed class; ``change [k]``: the fractional
    change of the other class's efficiency, alternate versus nominal (nan where undefined)."""

    efficiency: np.ndarray
    change: np.ndarray


def fractional_efficiency_change_curve(
    scores_nominal: object,
    labels_nominal: object,
    scores_alternate: object,
    labels_alternate: object,
    *,
    fixed: Literal["signal", "background"] = "signal",
    efficiencies: object = None,
    weights_nominal: object = None,
    weights_alternate: object = None,
) -> EfficiencyChangeCurve:
    """MACK's robustness metric over working points (see :func:`fractional_efficiency_change`).

    ``efficiencies [k]`` default to 0.05, 0.10, ..., 0.95.
    """
    if fixed not in ("signal", "background"):
        raise DataError(f"'fixed' must be 'signal' or 'background', got {fixed!r}")
    points = _check_efficiency(
        "efficiencies", np.linspace(0.05, 0.95, 19) if efficiencies is None else efficiencies
    ).reshape(-1)
    nominal = _inputs(scores_nominal, labels_nominal, weights_nominal, "_nominal")
    alternate = _inputs(scores_alternate, labels_alternate, weights_alternate, "_alternate")
    fixed_label = fixed == "signal"
    other_name = "background (label 0)" if fixed_label else "signal (label 1)"
    fixed_name = "signal (label 1)" if fixed_label else "background (label 0)"

    def split(inputs: tuple[np.ndarray, np.ndarray, np.ndarray], sample: str) -> tuple:
        scores, is_signal, weights = inputs
        select = is_signal == fixed_label
        other = _class(scores, weights, ~select, f"{sample} {other_name}")
        return _class(scores, weights, select, f"{sample} {fixed_name}"), other

    (fixed_scores, fixed_weights), other_nominal = split(nominal, "nominal")
    _, other_alternate = split(alternate, "alternate")
    thresholds = _thresholds(fixed_scores, fixed_weights, points)
    eps_nominal = _pass_fraction(*other_nominal, thresholds)
    eps_alternate = _pass_fraction(*other_alternate, thresholds)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(eps_nominal > 0, (eps_alternate - eps_nominal) / eps_nominal, np.nan)
    return EfficiencyChangeCurve(efficiency=points, change=change)


def fractional_efficiency_change(
    scores_nominal: object,
    labels_nominal: object,
    scores_alternate: object,
    labels_alternate: object,
    *,
    fixed: Literal["signal", "background"] = "signal",
    efficiency: float = 0.5,
    weights_nominal: object = None,
    weights_alternate: object = None,
) -> float:
    """MACK's robustness metric: the fractional change of an efficiency from the nominal to the
    alternate (data-like) sample at a working point fixed on the nominal sample.

    ``fixed="signal"``: the threshold keeps ``efficiency`` of the nominal signal (Z');
    returns ``(eps_bkg_alt - eps_bkg_nom) / eps_bkg_nom`` at that threshold.
    ``fixed="background"``: the threshold keeps ``efficiency`` of the nominal background (QCD);
    returns ``(eps_sig_alt - eps_sig_nom) / eps_sig_nom``. Zero for identical samples;
    ``nan`` when the nominal efficiency is zero. Scores, labels, weights: ``[n_nominal]`` and
    ``[n_alternate]``.
    """
    curve = fractional_efficiency_change_curve(
        scores_nominal,
        labels_nominal,
        scores_alternate,
        labels_alternate,
        fixed=fixed,
        efficiencies=[efficiency],
        weights_nominal=weights_nominal,
        weights_alternate=weights_alternate,
    )
    return float(curve.change[0])


def matched_efficiency_change(
    scores_nominal: object,
    labels_nominal: object,
    scores_alternate: object,
    labels_alternate: object,
    *,
    label: int = 0,
    efficiency: float = 0.1,
    weights_nominal: object = None,
    weights_alternate: object = None,
) -> float:
    """Robustness at a matched working point: the fractional change of the efficiency of the
    *same* class that fixes the threshold.

    The threshold keeps ``efficiency`` of the nominal class ``label`` (0 = QCD, the default;
    1 = Z'); returns ``(eps_alt - eps_nom) / eps_nom`` of that class at that threshold, where
    ``eps_nom`` is the achieved nominal efficiency (``efficiency`` up to one jet or a tie). With
    ``label=0`` this is delta eps_QCD / eps_QCD at a fixed nominal QCD efficiency: taggers of
    different power are compared at the same background level (key
    ``metric_name("qcd", efficiency, fixed="qcd")``). Zero for identical samples. Scores,
    labels, weights: ``[n_nominal]`` and ``[n_alternate]``.
    """
    if label not in (0, 1):
        raise DataError(f"'label' must be 0 or 1, got {label}")
    efficiency = float(_check_efficiency("efficiency", efficiency))
    name = "signal (label 1)" if label == 1 else "background (label 0)"
    selected = []
    for sample, arrays in (
        ("nominal", (scores_nominal, labels_nominal, weights_nominal)),
        ("alternate", (scores_alternate, labels_alternate, weights_alternate)),
    ):
        scores, is_signal, weights = _inputs(*arrays, f"_{sample}")
        selected.append(_class(scores, weights, is_signal == bool(label), f"{sample} {name}"))
    threshold = _thresholds(*selected[0], np.array([efficiency]))
    eps_nominal, eps_alternate = (float(_pass_fraction(*one, threshold)[0]) for one in selected)
    return (eps_alternate - eps_nominal) / eps_nominal if eps_nominal > 0 else float("nan")


# --------------------------------------------------------------------------- per-classifier summary
def metric_name(kind: str, efficiency: float, fixed: str | None = None) -> str:
    """Name of a fractional-change metric: ``kind`` ``"qcd"`` (delta eps_QCD / eps_QCD at a fixed
    Z' efficiency) or ``"zprime"`` (delta eps_Z' / eps_Z' at a fixed QCD efficiency).

    ``fixed`` names the class whose nominal efficiency fixes the threshold (``"qcd"`` or
    ``"zprime"``); by default the other class. ``metric_name("qcd", 0.1, fixed="qcd")`` =
    ``"frac_change_qcd_at_qcd_eff_0.1"`` (:func:`matched_efficiency_change`).
    """
    if fixed is None:
        fixed = "zprime" if kind == "qcd" else "qcd"
    elif fixed not in ("qcd", "zprime"):
        raise DataError(f"'fixed' must be 'qcd' or 'zprime', got {fixed!r}")
    return f"frac_change_{kind}_at_{fixed}_eff_{efficiency:g}"


def fractional_change_uncertainty(
    scores_nominal: np.ndarray,
    labels_nominal: np.ndarray,
    scores_alternate: np.ndarray,
    labels_alternate: np.ndarray,
    *,
    fixed_label: int,
    efficiency: float,
    measured_label: int | None = None,
) -> float | None:
    """Binomial statistical uncertainty of the fractional change r = eps_alt / eps_nom - 1 of the
    class ``measured_label`` (default ``1 - fixed_label``) at the threshold keeping
    ``efficiency`` of the nominal class ``fixed_label``:
    ``r_err = (eps_alt / eps_nom) sqrt(var_alt / eps_alt^2 + var_nom / eps_nom^2)`` with
    ``var = eps (1 - eps) / n`` (the threshold's own fluctuation is neglected). ``None`` when
    an efficiency is zero. Inputs ``[n_nominal]`` / ``[n_alternate]``.

    With ``measured_label == fixed_label`` (:func:`matched_efficiency_change`) eps_nom is fixed by
    the cut, and the nominal term stands for the fluctuation of the threshold instead: the
    asymptotic variance of eps_alt at the nominal quantile is ``var_alt + (f_alt / f_nom)^2
    var_nom`` (``f``: the class's score densities at the cut), here with ``f_alt / f_nom``
    approximated by ``eps_alt / eps_nom`` (exact for exponential tails).
    """
    threshold = threshold_at_efficiency(scores_nominal, labels_nominal, efficiency, label=fixed_label)
    other = 1 - fixed_label if measured_label is None else measured_label
    passed = []
    for scores, labels in ((scores_nominal, labels_nominal), (scores_alternate, labels_alternate)):
        selected = np.asarray(scores)[np.asarray(labels) == other]
        passed.append((float(np.mean(selected >= threshold)), len(selected)))
    (eps_nom, n_nom), (eps_alt, n_alt) = passed
    if eps_nom <= 0 or eps_alt <= 0:
        return None
    relative = np.sqrt((1 - eps_alt) / (eps_alt * n_alt) + (1 - eps_nom) / (eps_nom * n_nom))
    return float(eps_alt / eps_nom * relative)


def robustness_metrics(
    scores_nominal: np.ndarray,
    labels_nominal: np.ndarray,
    scores_alternate: np.ndarray,
    labels_alternate: np.ndarray,
    working_points: Sequence[float] = (0.5, 0.3),
    matched_points: Sequence[float] = (0.1, 0.3),
) -> dict[str, Any]:
    """Nominal-vs-alternate metrics of one classifier. Inputs are ``[n_nominal]`` and
    ``[n_alternate]`` scores and labels (1 = Z', 0 = QCD).

    Returns a JSON-ready dict: ``auc_nominal``, ``auc_alternate``; for each working point ``w``,
    :func:`metric_name` ``("qcd", w)`` = (eps_QCD_alt - eps_QCD_nom) / eps_QCD_nom at the threshold
    keeping ``w`` of the nominal Z' jets, and ``("zprime", w)`` the same for Z' at fixed nominal
    QCD efficiency, each with its binomial uncertainty under the name + ``"_stat"``
    (:func:`fractional_change_uncertainty`); for each matched point ``m``,
    ``metric_name("qcd", m, fixed="qcd")`` = the change of eps_QCD at the threshold keeping ``m``
    of the nominal QCD jets (:func:`matched_efficiency_change`) and its ``"_stat"``; ``curves`` -- both changes over the working points 0.05..0.95; ``roc`` --
    eps_QCD (nominal and alternate) at the signal efficiencies :data:`ROC_GRID`.
    """
    result: dict[str, Any] = {
        "auc_nominal": roc_auc(scores_nominal, labels_nominal),
        "auc_alternate": roc_auc(scores_alternate, labels_alternate),
    }
    args = (scores_nominal, labels_nominal, scores_alternate, labels_alternate)
    for point in working_points:
        result[metric_name("qcd", point)] = fractional_efficiency_change(
            *args, fixed="signal", efficiency=point
        )
        result[metric_name("zprime", point)] = fractional_efficiency_change(
            *args, fixed="background", efficiency=point
        )
        for kind, fixed_label in (("qcd", 1), ("zprime", 0)):
            result[metric_name(kind, point) + "_stat"] = fractional_change_uncertainty(
                *args, fixed_label=fixed_label, efficiency=point
            )
    for point in matched_points:
        key = metric_name("qcd", point, fixed="qcd")
        result[key] = matched_efficiency_change(*args, label=0, efficiency=point)
        result[key + "_stat"] = fractional_change_uncertainty(
            *args, fixed_label=0, efficiency=point, measured_label=0
        )
    curves = {}
    for kind, fixed in (("qcd", "signal"), ("zprime", "background")):
        curve = fractional_efficiency_change_curve(*args, fixed=fixed)
        curves[kind] = {"efficiency": curve.efficiency.tolist(), "change": _nan_to_none(curve.change)}
    result["curves"] = curves
    roc = {"eps_sig": ROC_GRID.tolist()}
    for name, (scores, labels) in (
        ("eps_bkg_nominal", (scores_nominal, labels_nominal)),
        ("eps_bkg_alternate", (scores_alternate, labels_alternate)),
    ):
        eps_bkg, eps_sig, _ = roc_curve(scores, labels)
        # eps_sig is non-decreasing; take the smallest background efficiency reaching each point.
        index = np.minimum(np.searchsorted(eps_sig, ROC_GRID - 1e-12, side="left"), len(eps_sig) - 1)
        roc[name] = eps_bkg[index].tolist()
    result["roc"] = roc
    return result


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [
        None if not np.isfinite(value) else float(value) for value in np.asarray(values, dtype=np.float64)
    ]
