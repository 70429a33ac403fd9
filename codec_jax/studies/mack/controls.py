"""Controls of the MACK study: taggers with *no* robustness mechanism, of chosen tagging power.

A weaker tagger changes its efficiency less between the nominal and the alternate sample for that
reason alone (its score depends less on the jet's details), so MACK's robustness has to be compared
with plain taggers *of the same power*. Three kinds of controls trace this robustness-power
frontier:

* ``noisy_supervised@<model>`` -- the supervised tagger's score (logit) plus Gaussian noise,
  ``s + sigma z`` with one fixed standard-normal draw ``z`` per jet; ``sigma`` is chosen by
  bisection on the *validation* jets so that the noisy score's nominal AUC equals the model's
  (:func:`noise_width_for_auc`), then the same ``sigma`` is applied on the test sets. Pure noise
  adds no robustness mechanism, only loses power.
* a ladder of weaker supervised taggers of the same architecture (trained on a fraction of the
  training jets): ``supervised_f<fraction>``;
* ``random_encoder/frozen``: a randomly initialised, frozen encoder with a trained head.

:func:`fit_frontier` fits ``|delta eps / eps|`` against the nominal AUC of the controls (a straight
line, weighted by nothing: the points are means over seeds), and :func:`frontier_distance` gives
how far below it a model lies at its own AUC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from codec_jax import metrics
from codec_jax.errors import DataError

__all__ = [
    "NOISY_PREFIX",
    "RANDOM_ENCODER",
    "noisy_name",
    "ladder_name",
    "standard_normal_draws",
    "noise_width_for_auc",
    "Frontier",
    "fit_frontier",
]

NOISY_PREFIX = "noisy_supervised@"
RANDOM_ENCODER = "random_encoder/frozen"


def noisy_name(model: str) -> str:
    """``noisy_supervised@<model>``: the noise control matched to ``model``'s AUC."""
    return f"{NOISY_PREFIX}{model}"


def ladder_name(fraction: float) -> str:
    """``supervised_f<fraction>``: the supervised tagger trained on ``fraction`` of the jets."""
    return f"supervised_f{fraction:g}"


def standard_normal_draws(n_jets: int, *parts: object) -> np.ndarray:
    """``[n_jets]`` fixed standard-normal numbers, seeded by ``parts`` (e.g. test set, model and
    seed), the same in every run: the noise of a control is part of its definition."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(n_jets)


def noise_width_for_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    target_auc: float,
    noise: np.ndarray,
    *,
    tolerance: float = 1e-4,
    max_iterations: int = 100,
) -> float:
    """The width ``sigma >= 0`` with ``AUC(scores + sigma * noise) = target_auc``, by bisection.

    Args:
        scores: ``[n]`` scores of the stronger tagger (e.g. logits of the supervised tagger).
        labels: ``[n]`` 1 = signal, 0 = background.
        target_auc: the AUC to match (of the model the control stands in for).
        noise: ``[n]`` fixed standard-normal draws (:func:`standard_normal_draws`).
        tolerance: stop when the AUC is within this of the target.

    Returns:
        ``sigma``; 0 when ``target_auc`` is not below the AUC of ``scores`` itself (noise can only
        lower the power, so the control is then the unchanged score).

    Raises:
        DataError: ``target_auc`` is not in (0.5, 1] (a target at or below chance cannot be met by
            adding noise to a useful score).
    """
    scores, noise = np.asarray(scores, np.float64), np.asarray(noise, np.float64)
    if not 0.5 < target_auc <= 1.0:
        raise DataError(f"target AUC {target_auc} is not above 0.5: no noise width reaches it")

    def auc(sigma: float) -> float:
        return metrics.roc_auc(scores + sigma * noise, labels)

    if auc(0.0) <= target_auc:
        return 0.0
    low, high = 0.0, float(np.std(scores)) or 1.0
    while auc(high) > target_auc:
        low, high = high, 2.0 * high
        if high > 1e6 * (float(np.std(scores)) or 1.0):
            raise DataError(f"no noise width lowers the AUC to {target_auc} (ties in the scores?)")
    for _ in range(max_iterations):
        middle = 0.5 * (low + high)
        value = auc(middle)
        if abs(value - target_auc) <= tolerance:
            return middle
        low, high = (middle, high) if value > target_auc else (low, middle)
    return 0.5 * (low + high)


class Frontier:
    """A straight line ``|delta eps / eps| = intercept + slope * (AUC - 0.5)`` fitted to control
    taggers; :meth:`__call__` evaluates it at an AUC, :meth:`distance` is how far below it a model
    lies (positive = more robust than a plain tagger of the same power)."""

    def __init__(self, intercept: float, slope: float, auc_range: tuple[float, float]) -> None:
        self.intercept, self.slope, self.auc_range = float(intercept), float(slope), auc_range

    def __call__(self, auc: float | np.ndarray) -> float | np.ndarray:
        return self.intercept + self.slope * (np.asarray(auc, np.float64) - 0.5)

    def distance(self, auc: float, change: float) -> float:
        """``frontier(auc) - |change|``."""
        return float(self(auc) - abs(change))

    def to_dict(self) -> dict[str, float | list[float]]:
        return {"intercept": self.intercept, "slope": self.slope, "auc_range": list(self.auc_range)}


def fit_frontier(aucs: Sequence[float], changes: Sequence[float]) -> Frontier:
    """Least-squares line through the controls' points ``(AUC, |delta eps / eps|)``.

    Raises:
        DataError: fewer than two controls with finite values, or all at one AUC.
    """
    x = np.asarray(aucs, np.float64)
    y = np.abs(np.asarray(changes, np.float64))
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) <= 0:
        raise DataError(f"the frontier needs >= 2 controls at different AUCs, got AUCs {x.tolist()}")
    slope, intercept = np.polyfit(x - 0.5, y, 1)
    return Frontier(intercept, slope, (float(x.min()), float(x.max())))
