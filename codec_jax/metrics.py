"""Evaluation metrics for taggers: ROC, AUC, background rejection, mass sculpting (1/JSD),
MACK fractional efficiency changes, efficiency versus mass, latent-mass correlations and the
effective dimension of a representation.

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

from typing import Literal, NamedTuple

import numpy as np

from codec_jax.errors import DataError

__all__ = [
    "BinnedEfficiency",
    "EfficiencyChangeCurve",
    "InverseJSDFloor",
    "LatentMassCorrelation",
    "background_rejection",
    "efficiency",
    "efficiency_vs_mass",
    "fractional_efficiency_change",
    "fractional_efficiency_change_curve",
    "inverse_jsd",
    "inverse_jsd_floor",
    "jsd",
    "latent_mass_correlation",
    "participation_ratio",
    "roc_auc",
    "roc_curve",
    "threshold_at_efficiency",
]


# --------------------------------------------------------------------------- validation
def _finite_1d(name: str, values: object, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"{name!r} must be one-dimensional [n], got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name!r} is empty")
    if length is not None and array.shape[0] != length:
        raise DataError(f"{name!r} has {array.shape[0]} entries, expected {length} (one per jet)")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name!r} holds {np.count_nonzero(~np.isfinite(array))} NaN/inf value(s)")
    return array


def _weights(name: str, weights: object, length: int) -> np.ndarray:
    if weights is None:
        return np.ones(length)
    array = _finite_1d(name, weights, length)
    if np.any(array < 0):
        raise DataError(f"{name!r} holds negative weights; the metrics need weights >= 0")
    return array


def _labels(name: str, labels: object, length: int) -> np.ndarray:
    array = _finite_1d(name, labels, length)
    if not np.all((array == 0) | (array == 1)):
        raise DataError(f"{name!r} must hold only 0 (background) and 1 (signal)")
    return array == 1


def _inputs(
    scores: object, labels: object, weights: object, suffix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = _finite_1d("scores" + suffix, scores)
    is_signal = _labels("labels" + suffix, labels, scores.shape[0])
    weights = _weights("weights" + suffix, weights, scores.shape[0])
    return scores, is_signal, weights


def _class(
    scores: np.ndarray, weights: np.ndarray, select: np.ndarray, what: str
) -> tuple[np.ndarray, np.ndarray]:
    if not np.any(select) or weights[select].sum() <= 0:
        raise DataError(f"the sample has no {what} jets (or their weights sum to zero)")
    return scores[select], weights[select]


def _efficiency_steps(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores in descending order and the weighted fraction with ``score >= value``."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    cumulative = np.cumsum(weights[order])
    # The last index of each block of tied scores.
    block_end = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    return sorted_scores[block_end], cumulative[block_end] / cumulative[-1]


def _thresholds(scores: np.ndarray, weights: np.ndarray, efficiencies: np.ndarray) -> np.ndarray:
    values, passing = _efficiency_steps(scores, weights)
    index = np.searchsorted(passing, efficiencies * (1.0 - 1e-12), side="left")
    return values[np.minimum(index, values.size - 1)]


def _pass_fraction(scores: np.ndarray, weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    values, passing = _efficiency_steps(scores, weights)
    # Number of distinct values >= threshold (values are descending).
    count = np.searchsorted(-values, -np.asarray(thresholds, dtype=np.float64), side="right")
    return np.where(count > 0, passing[np.maximum(count - 1, 0)], 0.0)


def _check_efficiency(name: str, value: object) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0 or not np.all((array > 0) & (array <= 1)):
        raise DataError(f"{name!r} must lie in (0, 1], got {value}")
    return array


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


# --------------------------------------------------------------------------- MACK robustness
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


# --------------------------------------------------------------------------- latent space
class LatentMassCorrelation(NamedTuple):
    """Per latent dimension: ``pearson [d]`` (in [-1, 1]) and ``distance [d]`` (distance
    correlation, in [0, 1]; zero if and only if independent, for large samples)."""

    pearson: np.ndarray
    distance: np.ndarray


def _row_distance_means(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a_i = sum_j w_j |x_i - x_j|`` for ``x, w [n]`` in O(n log n), by sorting."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    below_w, below_wx = np.cumsum(ws), np.cumsum(ws * xs)
    above_w, above_wx = below_w[-1] - below_w, below_wx[-1] - below_wx
    sums = np.empty_like(x)
    sums[order] = xs * below_w - below_wx + above_wx - xs * above_w
    return sums


def _distance_covariance_terms(
    x: np.ndarray, ys: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted V-statistic squared distance covariances of ``x [n]`` with each column of
    ``ys [n, d]``: ``(dcov2(x, y_d) [d], dcov2(x, x), dcov2(y_d, y_d) [d])``; ``w [n]`` sums to 1.

    Uses ``sum_ij w_i w_j A_ij B_ij = sum_ij w_i w_j a_ij b_ij - 2 sum_i w_i a_i b_i + a b`` for the
    weighted double-centred matrices ``A, B`` of ``a_ij = |x_i - x_j|`` (row means ``a_i``, grand
    mean ``a``). Row means come from sorting and ``sum_ij w_i w_j a_ij^2 = 2 Var_w(x)``; only the
    cross term ``sum_ij w_i w_j a_ij b_ij`` is O(n^2), summed in blocks of rows.
    """
    n, d = ys.shape
    row_x = _row_distance_means(x, w)
    row_y = np.stack([_row_distance_means(ys[:, k], w) for k in range(d)], axis=1)  # [n, d]
    block = max(1, (1 << 20) // n)
    cross = np.zeros(d)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        weighted_dist_x = np.abs(x[rows, None] - x[None, :]) * w[rows, None] * w[None, :]  # [k, n]
        for k in range(d):
            cross[k] += np.sum(weighted_dist_x * np.abs(ys[rows, k, None] - ys[None, :, k]))

    def variance(v: np.ndarray) -> np.ndarray:
        return w @ v**2 - (w @ v) ** 2

    grand_x, grand_y = w @ row_x, w @ row_y
    return (
        cross - 2.0 * (w * row_x) @ row_y + grand_x * grand_y,
        2.0 * variance(x) - 2.0 * w @ row_x**2 + grand_x**2,
        2.0 * variance(ys) - 2.0 * w @ row_y**2 + grand_y**2,
    )


def latent_mass_correlation(
    latent: object,
    mass: object,
    weights: object = None,
    *,
    max_samples: int = 5_000,
    seed: int | np.random.Generator = 0,
) -> LatentMassCorrelation:
    """Correlation of each latent dimension with the jet mass.

    Args:
        latent: ``[n, d]`` latent representations (e.g. the CoDec 4-d space).
        mass: ``[n]`` jet mass.
        weights: ``[n]`` optional, >= 0.
        max_samples: the distance correlation costs O(n^2); above this many jets it is computed
            on a random subset of this size (drawn with ``seed``). Pearson uses all jets.

    Returns:
        :class:`LatentMassCorrelation` with ``pearson [d]`` and ``distance [d]``; the distance
        correlation is the (weighted) V-statistic of Szekely et al. (2007), not squared (DisCo's
        penalty is its square). A constant dimension gives 0 for both.
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.size == 0:
        raise DataError(f"'latent' must be a non-empty [n, d] array, got shape {latent.shape}")
    if not np.all(np.isfinite(latent)):
        raise DataError(f"'latent' holds {np.count_nonzero(~np.isfinite(latent))} NaN/inf value(s)")
    mass = _finite_1d("mass", mass, latent.shape[0])
    weights = _weights("weights", weights, latent.shape[0])
    if weights.sum() <= 0:
        raise DataError("'weights' sum to zero")

    constant = np.ptp(latent, axis=0) == 0
    if np.ptp(mass) == 0:
        constant[:] = True
    w = weights / weights.sum()
    mass_centred = mass - w @ mass
    latent_centred = latent - w @ latent
    covariance = w @ (latent_centred * mass_centred[:, None])
    scale = np.sqrt((w @ latent_centred**2) * (w @ mass_centred**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = np.where(constant | (scale <= 0), 0.0, covariance / np.where(scale > 0, scale, 1.0))

    if latent.shape[0] > max_samples:
        subset = np.random.default_rng(seed).choice(latent.shape[0], max_samples, replace=False)
        latent, mass, weights = latent[subset], mass[subset], weights[subset]
    distance = np.zeros(latent.shape[1])
    varying = np.flatnonzero(~constant)
    if varying.size:
        dcov, dvar_mass, dvar_latent = _distance_covariance_terms(
            mass, latent[:, varying], weights / weights.sum()
        )
        denominator = np.sqrt(np.maximum(dvar_mass * dvar_latent, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            distance[varying] = np.where(
                denominator > 0,
                np.sqrt(np.maximum(dcov, 0.0) / np.where(denominator > 0, denominator, 1.0)),
                0.0,
            )
    return LatentMassCorrelation(pearson=pearson, distance=distance)


# --------------------------------------------------------------------------- representations
def participation_ratio(embeddings: object) -> float:
    """Effective number of dimensions of ``embeddings [n, d]``: ``(sum_i l_i)^2 / sum_i l_i^2`` over
    the eigenvalues ``l_i`` of their covariance matrix -- ``d`` for an isotropic cloud, 1 when all
    variance lies along one direction; ``nan`` for a constant embedding (no variance at all)."""
    z = np.asarray(embeddings, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        raise DataError(f"embeddings: expected shape [n >= 2, d >= 1], got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise DataError("embeddings: contains NaN or inf")
    eigenvalues = np.clip(np.linalg.eigvalsh(np.atleast_2d(np.cov(z, rowvar=False))), 0.0, None)
    squares = float(np.sum(eigenvalues**2))
    return float(np.sum(eigenvalues) ** 2 / squares) if squares > 0 else float("nan")
