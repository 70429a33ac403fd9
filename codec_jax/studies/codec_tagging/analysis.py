"""The CoDec tagging measurement: sculpting with errors and the talk's claims as data.

Input: the per-jet scores of every model and seed on the test jets (Z' with flat-spectrum weights
and QCD) and on the QCD sculpting jets (:class:`TaggerScores`). For each model the study
measures, as the mean over seeds with an error that includes the test-set noise (a paired,
stratified bootstrap over the test *and* sculpting jets combined with the seed spread,
:func:`codec_jax.metrics.seed_mean_bootstrap`):

* ``auc`` and ``r<x>`` on the test jets;
* ``sculpting_r<x>`` -- 1/eps_QCD of the sculpting jets at the cut keeping a fraction x of the
  test Z' jets;
* ``excess_jsd<x>`` -- JSD(pass, fail) of the sculpting jets' mass at that cut minus the mean
  JSD of random cuts passing as many of them (:func:`codec_jax.metrics.jsd_excess`): about 0 for a
  mass-independent tagger at any sample size, positive when it sculpts.

:func:`tagging_claims` states the talk's claims (and a control) as effects with errors and
verdicts by the rule of ``config.claims``; comparisons with MoDe[0] / DisCo take the scan point
that matches the contrastive model in background rejection (or, for the AUC claim, in
decorrelation), not an arbitrary penalty weight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codec_jax import metrics
from codec_jax.metrics.claims import Claim, evaluate_claim
from codec_jax.metrics.seed_bootstrap import SeedMeanBootstrap, seed_mean_bootstrap
from codec_jax.studies.codec_tagging.config import ClaimsConfig, model_spec
from codec_jax.studies.codec_tagging.evaluation import point_name

__all__ = ["TaggerScores", "StudyJets", "quantity_names", "measure", "tagging_claims"]


@dataclasses.dataclass
class TaggerScores:
    """Scores of one model and seed: ``test [n_test]``, ``sculpting [n_sculpting]``; ``points``
    maps a working point to other ``(test, sculpting)`` scores for a model that uses another
    score at each working point (n2_ddt_wp: one DDT map per point)."""

    test: np.ndarray
    sculpting: np.ndarray
    points: dict[float, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    def at(self, point: float) -> tuple[np.ndarray, np.ndarray]:
        """``(test, sculpting)`` scores at the working point ``point``."""
        return self.points.get(point, (self.test, self.sculpting))


@dataclasses.dataclass
class StudyJets:
    """The jets every model is measured on: test ``label``, ``weight`` ``[n_test]``; sculpting
    ``mass [n_sculpting]`` (unit weights); ``bin_edges [bins + 1]`` of the mass histograms."""

    label: np.ndarray
    weight: np.ndarray
    sculpting_mass: np.ndarray
    bin_edges: np.ndarray


def quantity_names(working_points: Sequence[float]) -> list[str]:
    """``["auc", "r50", ..., "sculpting_r50", ..., "excess_jsd50", ...]``."""
    names = ["auc"]
    for prefix in ("r", "sculpting_r", "excess_jsd"):
        names += [point_name(prefix, point) for point in working_points]
    return names


def _values(
    scores: TaggerScores,
    jets: StudyJets,
    test_rows: np.ndarray,
    sculpting_rows: np.ndarray,
    working_points: Sequence[float],
    floor_trials: int,
) -> list[float]:
    """The quantities of :func:`quantity_names` of one model and seed on one resample."""
    label, weight = jets.label, jets.weight[test_rows]  # stratified: label[test_rows] == label
    signal = label == 1
    mass = jets.sculpting_mass[sculpting_rows]
    auc = metrics.roc_auc(scores.test[test_rows], label, weights=weight)
    rejection, sculpting_rejection, excess = [], [], []
    for point in working_points:
        test, sculpting = scores.at(point)
        test = test[test_rows]
        rejection.append(metrics.background_rejection(test, label, signal_efficiency=point, weights=weight))
        result = metrics.jsd_excess(
            test[signal], sculpting[sculpting_rows], mass, jets.bin_edges, point,
            signal_weights=weight[signal], trials=floor_trials,
        )  # fmt: skip
        with np.errstate(divide="ignore"):
            sculpting_rejection.append(float(np.divide(1.0, result.background_efficiency)))
        excess.append(result.excess)
    return [auc, *rejection, *sculpting_rejection, *excess]


def measure(
    jets: StudyJets,
    scores: Mapping[str, Mapping[str, TaggerScores]],
    *,
    working_points: Sequence[float],
    floor_trials: int,
    n_resamples: int,
    seed: int,
    without_seeds: Sequence[str] = (),
) -> SeedMeanBootstrap:
    """Every model's quantities (:func:`quantity_names`) per seed on the full jets and as seed
    means on ``n_resamples`` paired bootstrap resamples of the test and sculpting jets."""
    resamples = metrics.bootstrap_resamples(
        {"test": jets.label, "sculpting": np.zeros(len(jets.sculpting_mass))}, n_resamples, seed
    )

    def statistic(indices: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            model: np.array(
                [
                    _values(
                        by_seed[key],
                        jets,
                        indices["test"],
                        indices["sculpting"],
                        working_points,
                        floor_trials,
                    )
                    for key in by_seed
                ]
            )
            for model, by_seed in scores.items()
        }

    return seed_mean_bootstrap(
        statistic, resamples, quantity_names(working_points), without_seeds=without_seeds
    )


def _candidates(models: Sequence[str], penalty: str) -> list[str]:
    """The scan models of ``penalty`` among ``models``, else its fixed-weight model if present."""
    scan = [
        m
        for m in models
        if model_spec(m).penalty_weight is not None and model_spec(m).decorrelation == penalty
    ]
    fixed = [m for m in models if m == f"{penalty}_flat"]
    return scan or fixed


def _nearest(table: SeedMeanBootstrap, candidates: Sequence[str], quantity: str, target: float) -> str | None:
    means = table.means(quantity)
    finite = [m for m in candidates if np.isfinite(means[m])]
    if not finite or not np.isfinite(target):
        return None
    return min(finite, key=lambda m: abs(means[m] - target))


def tagging_claims(
    table: SeedMeanBootstrap, settings: ClaimsConfig, working_point: float
) -> tuple[list[Claim], dict[str, dict[str, Any]]]:
    """The claims of the study at ``working_point`` (only those whose models ran), and for each
    claim against a matched scan point the match ``{"model", "matched_on", "target", "value"}``.

    Effects are oriented so that positive is the claimed direction; sculpting is the excess JSD.

    * ``n2_ddt_wp:vs:n2`` (control) -- N2_DDT with its map at the working point sculpts less
      than N2: a known effect the measurement must see;
    * ``supervised_flat_1d:vs:supervised_peaky`` -- training on the flat sample sculpts less;
    * ``vicreg_flat:vs:vicreg_peaky`` -- contrastive on the flat sample sculpts less than on the
      peaky one;
    * for each model m of ``settings.contrastive_models``: ``m:vs:supervised_flat_1d`` (the
      contrastive space decorrelates more than supervised training on the same flat sample),
      ``m:vs:mode0_at_matched_r<x>`` and ``m:vs:disco_at_matched_r<x>`` (m sculpts less than
      the MoDe[0] / DisCo scan point of the nearest background rejection: decorrelates best at
      equal power), and ``m:auc_vs_mode0_at_matched_decorrelation`` (m's AUC is at most
      ``auc_margin`` below that of the MoDe[0] point of the nearest excess JSD).
    """
    rule = settings.rule
    x = point_name("", working_point)
    excess, rejection = f"excess_jsd{x}", f"sculpting_r{x}"
    where = f"excess JSD of the QCD mass at ε_Z' = {working_point:g}"
    models = table.models
    claims: list[Claim] = []
    matches: dict[str, dict[str, Any]] = {}

    def less_sculpting(claim_id: str, better: str, worse: str, statement: str) -> None:
        if better in models and worse in models:
            measured = table.difference(worse, better, excess)
            claims.append(
                evaluate_claim(claim_id, f"{statement} ({where})", measured.value, measured.error, rule)
            )

    less_sculpting(
        "n2_ddt_wp:vs:n2",
        "n2_ddt_wp",
        "n2",
        "control: N2_DDT (DDT map at the working point) sculpts less than N2",
    )
    less_sculpting(
        "supervised_flat_1d:vs:supervised_peaky", "supervised_flat_1d", "supervised_peaky",
        "a supervised tagger trained on the flat sample sculpts less than one trained on the peaky sample",
    )  # fmt: skip
    less_sculpting(
        "vicreg_flat:vs:vicreg_peaky", "vicreg_flat", "vicreg_peaky",
        "contrastive (VICReg) on the flat sample sculpts less than on the peaky sample",
    )  # fmt: skip
    for model in (m for m in settings.contrastive_models if m in models):
        less_sculpting(
            f"{model}:vs:supervised_flat_1d", model, "supervised_flat_1d",
            f"{model} sculpts less than supervised training on the same flat sample",
        )  # fmt: skip
        target = table.means(rejection)[model]
        for penalty, label in (("mode0", "MoDe[0]"), ("disco", "DisCo")):
            point = _nearest(table, _candidates(models, penalty), rejection, target)
            if point is None:
                continue
            claim_id = f"{model}:vs:{penalty}_at_matched_r{x}"
            matches[claim_id] = {
                "model": point, "matched_on": rejection, "target": target, "value": table.means(rejection)[point]
            }  # fmt: skip
            less_sculpting(
                claim_id, model, point,
                f"{model} sculpts less than {label} at matched background rejection ({point}: "
                f"R{x} {matches[claim_id]['value']:.1f} vs {target:.1f})",
            )  # fmt: skip
        target = table.means(excess)[model]
        point = _nearest(table, _candidates(models, "mode0"), excess, target)
        if point is not None:
            claim_id = f"{model}:auc_vs_mode0_at_matched_decorrelation"
            matches[claim_id] = {
                "model": point,
                "matched_on": excess,
                "target": target,
                "value": table.means(excess)[point],
            }
            measured = table.difference(model, point, "auc")
            statement = (
                f"{model}'s AUC is at most {settings.auc_margin:g} below that of MoDe[0] at matching decorrelation "
                f"({point}: {where} {matches[claim_id]['value']:.2e} vs {target:.2e}; the talk: 0.85 vs 0.86); "
                f"effect = AUC difference + {settings.auc_margin:g}"
            )
            claims.append(
                evaluate_claim(
                    claim_id, statement, measured.value + settings.auc_margin, measured.error, rule
                )
            )
    return claims, matches
