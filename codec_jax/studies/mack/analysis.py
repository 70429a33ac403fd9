"""The MACK measurement: robustness with errors, against controls of equal tagging power, as claims.

Input: the per-jet scores of every model and training seed on the nominal and the alternate test
sets (:class:`StudyScores`). For each model the study measures, as the mean over seeds with an
error that includes the test-set noise (paired, stratified bootstrap over the test jets combined
with the seed spread, :mod:`codec_jax.metrics.uncertainty`):

* ``auc`` -- the nominal AUC;
* ``change_qcd_at_zprime_<w>`` -- ``|delta eps_QCD / eps_QCD|`` at the threshold keeping a
  fraction ``w`` of the nominal Z' jets (MACK's metric);
* ``change_qcd_at_qcd_<m>`` -- ``|delta eps_QCD / eps_QCD|`` at the threshold keeping a fraction
  ``m`` of the nominal QCD jets (a matched working point: every tagger at the same background
  level).

Sizes of changes are compared (absolute value per seed, then the mean), as MACK does. Against
the controls (:mod:`codec_jax.studies.mack.controls`), every MACK model gets

* ``vs_noisy_control`` -- ``|change|`` of its ``noisy_supervised@<model>`` control (the
  supervised score with noise, at the model's AUC, seed by seed) minus its own: positive means
  more robust than a plain tagger of the same power;
* ``below_frontier`` -- the straight-line frontier fitted to all controls, evaluated at the
  model's AUC, minus its ``|change|`` (the frontier is refitted on every bootstrap resample).

:func:`analyse` computes all of it; :func:`mack_claims` turns it into claims with verdicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codec_jax import metrics
from codec_jax.errors import DataError
from codec_jax.metrics.claims import Claim, ClaimRule, evaluate_claim
from codec_jax.metrics.seed_bootstrap import seed_mean_bootstrap
from codec_jax.metrics.uncertainty import Measurement, bootstrap_resamples, measurement
from codec_jax.studies.mack.controls import NOISY_PREFIX, fit_frontier, noisy_name

__all__ = [
    "StudyScores",
    "quantity_names",
    "analyse",
    "difference",
    "mack_claims",
    "noisy_controls",
]

SETS = ("nominal", "alternate")


@dataclasses.dataclass
class StudyScores:
    """Per-jet test scores of every model and seed.

    Attributes:
        labels: ``{"nominal": [n_nom], "alternate": [n_alt]}``, 1 = Z', 0 = QCD.
        scores: ``{model: {seed: {"nominal": [n_nom], "alternate": [n_alt]}}}`` (seeds as strings).
    """

    labels: dict[str, np.ndarray]
    scores: dict[str, dict[str, dict[str, np.ndarray]]]

    def __post_init__(self) -> None:
        for model, seeds in self.scores.items():
            for seed, by_set in seeds.items():
                for name in SETS:
                    if len(by_set[name]) != len(self.labels[name]):
                        raise DataError(
                            f"scores of {model} seed {seed} on the {name} test set: {len(by_set[name])} "
                            f"jets, the labels have {len(self.labels[name])}"
                        )


def quantity_names(working_points: Sequence[float], matched_points: Sequence[float]) -> list[str]:
    """``["auc", "change_qcd_at_zprime_<w>", ..., "change_qcd_at_qcd_<m>", ...]``."""
    return (
        ["auc"]
        + [f"change_qcd_at_zprime_{w:g}" for w in working_points]
        + [f"change_qcd_at_qcd_{m:g}" for m in matched_points]
    )


def _values(
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    indices: Mapping[str, np.ndarray],
    working_points: Sequence[float],
    matched_points: Sequence[float],
) -> list[float]:
    """The quantities of :func:`quantity_names` of one model and seed on one resample."""
    nominal = scores["nominal"][indices["nominal"]], labels["nominal"][indices["nominal"]]
    alternate = scores["alternate"][indices["alternate"]], labels["alternate"][indices["alternate"]]
    out = [metrics.roc_auc(*nominal)]
    for point in working_points:
        change = metrics.fractional_efficiency_change(*nominal, *alternate, fixed="signal", efficiency=point)
        out.append(abs(change))
    for point in matched_points:
        out.append(abs(metrics.matched_efficiency_change(*nominal, *alternate, label=0, efficiency=point)))
    return out


def _frontier_distances(
    means: np.ndarray, models: Sequence[str], controls: Sequence[str], n_quantities: int
) -> np.ndarray:
    """``[n_models, n_quantities]`` frontier(AUC) - |change| for every model (``nan`` for AUC
    itself), from the seed means ``[n_models, n_quantities]`` of one resample."""
    rows = [models.index(name) for name in controls]
    out = np.full((len(models), n_quantities), np.nan)
    for quantity in range(1, n_quantities):
        try:
            frontier = fit_frontier(means[rows, 0], means[rows, quantity])
        except DataError:
            continue
        out[:, quantity] = frontier(means[:, 0]) - means[:, quantity]
    return out


def analyse(
    test: StudyScores,
    *,
    mack_models: Sequence[str],
    controls: Sequence[str],
    working_points: Sequence[float] = (0.5, 0.3),
    matched_points: Sequence[float] = (0.1, 0.3),
    n_resamples: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Measurements of every model, the frontier and every MACK model's distance below it.

    Args:
        test: the per-jet scores.
        mack_models: the models whose robustness is claimed (e.g. ``"emd_pairs/frozen"``).
        controls: the models without a robustness mechanism that trace the frontier
            (``noisy_supervised@...``, the ladder, ``random_encoder/frozen``, ``supervised``).
        working_points, matched_points: fixed nominal Z' and QCD efficiencies.
        n_resamples, seed: of the paired bootstrap over the test jets.

    Returns:
        JSON-ready ``{"quantities", "models": {model: {quantity: Measurement dict}},
        "frontier": {quantity: line}, "distances": {model: {"vs_noisy_control": {quantity: ...},
        "below_frontier": {quantity: ...}}}, "bootstrap": {...}}`` and, under ``"_measurements"``,
        the :class:`Measurement` objects (for :func:`mack_claims`; drop before writing JSON).
    """
    models = list(test.scores)
    missing = [name for name in (*mack_models, *controls) if name not in test.scores]
    if missing:
        raise DataError(f"no test scores for {missing}")
    quantities = quantity_names(working_points, matched_points)
    seeds = {model: sorted(test.scores[model], key=str) for model in models}
    resamples = bootstrap_resamples(test.labels, n_resamples, seed)

    def evaluate(indices: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per model, ``[n_seeds, n_quantities]``."""
        return {
            model: np.array(
                [
                    _values(test.scores[model][s], test.labels, indices, working_points, matched_points)
                    for s in seeds[model]
                ]
            )
            for model in models
        }

    bootstrap = seed_mean_bootstrap(evaluate, resamples, quantities)  # the shared implementation
    full, boot_means = bootstrap.per_seed, bootstrap.bootstrap_means  # [R, M, Q] seed means
    full_means = np.array([np.mean(full[m], axis=0) for m in models])
    measured = {model: {q: bootstrap.measurement(model, q) for q in quantities} for model in models}

    # Direct controls: |change| of noisy_supervised@model minus the model's, seed by seed.
    distances: dict[str, dict[str, dict[str, Measurement]]] = {}
    for model in mack_models:
        distances[model] = {"vs_noisy_control": {}, "below_frontier": {}}
        control = noisy_name(model)
        if control in test.scores:
            i, j = models.index(model), models.index(control)
            paired = [s for s in seeds[model] if s in test.scores[control]]
            for k, q in enumerate(quantities[1:], start=1):
                per_seed = np.array(
                    [
                        full[control][seeds[control].index(s), k] - full[model][seeds[model].index(s), k]
                        for s in paired
                    ]
                )
                distances[model]["vs_noisy_control"][q] = measurement(
                    per_seed, boot_means[:, j, k] - boot_means[:, i, k]
                )
    # The frontier of all controls, refitted on every resample.
    full_distance = _frontier_distances(full_means, models, controls, len(quantities))
    boot_distance = np.stack([_frontier_distances(b, models, controls, len(quantities)) for b in boot_means])
    frontiers = {}
    for k, q in enumerate(quantities[1:], start=1):
        rows = [models.index(name) for name in controls]
        try:
            frontiers[q] = fit_frontier(full_means[rows, 0], full_means[rows, k]).to_dict()
        except DataError as error:
            frontiers[q] = {"error": str(error)}
    for model in mack_models:
        i = models.index(model)
        for k, q in enumerate(quantities[1:], start=1):
            if not np.isfinite(full_distance[i, k]):
                continue
            line = frontiers[q]
            per_seed = line["intercept"] + line["slope"] * (full[model][:, 0] - 0.5) - full[model][:, k]
            distances[model]["below_frontier"][q] = measurement(per_seed, boot_distance[:, i, k])
    return {
        "quantities": quantities,
        "models": {m: {q: v.to_dict() for q, v in by_q.items()} for m, by_q in measured.items()},
        "frontier": frontiers,
        "controls": list(controls),
        "distances": {
            m: {kind: {q: v.to_dict() for q, v in by_q.items()} for kind, by_q in d.items()}
            for m, d in distances.items()
        },
        "bootstrap": {"n_resamples": int(n_resamples), "seed": int(seed), "stratified_by": "label"},
        "_measurements": {"models": measured, "distances": distances, "bootstrap": bootstrap},
    }


def difference(analysis: Mapping[str, Any], a: str, b: str, quantity: str) -> Measurement:
    """``mean(a) - mean(b)`` of one quantity, with the paired bootstrap of the difference of the
    seed means (the same resampled jets for both models) combined with both seed spreads."""
    return analysis["_measurements"]["bootstrap"].difference(a, b, quantity)


def _statement_point(quantity: str) -> str:
    if quantity.startswith("change_qcd_at_zprime_"):
        return f"|Δε_QCD/ε_QCD| at ε_Z' = {quantity.rsplit('_', 1)[1]}"
    return f"|Δε_QCD/ε_QCD| at a nominal ε_QCD = {quantity.rsplit('_', 1)[1]}"


def mack_claims(
    analysis: Mapping[str, Any],
    *,
    frozen_models: Sequence[str],
    claim_quantities: Sequence[str],
    supervised: str = "supervised",
    finetuned: Mapping[str, str] | None = None,
    comparisons: Sequence[tuple[str, str]] = (),
    rule: ClaimRule | None = None,
) -> list[Claim]:
    """The study's claims, each an effect (positive in the claimed direction) with its error.

    * ``<model>:vs_noisy_control:<q>`` -- the model changes less than its equally powerful noisy
      control; ``<model>:below_frontier:<q>`` -- less than the controls' frontier at its AUC;
    * ``<model>:vs_supervised:<q>`` -- MACK's published comparison: less than the supervised
      tagger (not a control of equal power: a weaker tagger passes this for that reason alone);
    * ``<full>:recovers_auc`` -- fine-tuning raises the nominal AUC over the frozen encoder
      (``finetuned`` maps frozen -> fine-tuned model);
    * ``<a>:vs:<b>:<q>`` for each pair of ``comparisons`` -- ``a`` changes less than ``b``.

    Differences between two models use the paired bootstrap of the difference of their seed
    means combined with both seed spreads.
    """
    rule = ClaimRule() if rule is None else rule
    measured = analysis["_measurements"]
    claims = []
    for model in frozen_models:
        for q in claim_quantities:
            for kind, against in (
                ("vs_noisy_control", "a plain tagger of equal nominal AUC (supervised + noise)"),
                ("below_frontier", "the frontier of the plain taggers at its AUC"),
            ):
                value = measured["distances"].get(model, {}).get(kind, {}).get(q)
                if value is None:
                    continue
                claims.append(
                    evaluate_claim(
                        f"{model}:{kind}:{q}",
                        f"{model} changes its QCD efficiency less than {against} ({_statement_point(q)})",
                        value.value,
                        value.error,
                        rule,
                    )
                )
    pairs = [(supervised, model, "vs_supervised") for model in frozen_models] + [
        (b, a, "vs") for a, b in comparisons
    ]
    for worse, better, kind in pairs:
        for q in claim_quantities:
            claims.append(_difference_claim(analysis, worse, better, q, kind, rule))
    for frozen, full in (finetuned or {}).items():
        claims.append(_difference_claim(analysis, full, frozen, "auc", "recovers_auc", rule, larger=True))
    return claims


def _difference_claim(
    analysis: Mapping[str, Any],
    a: str,
    b: str,
    quantity: str,
    kind: str,
    rule: ClaimRule,
    *,
    larger: bool = False,
) -> Claim:
    """Effect ``value(a) - value(b)`` (``larger``: ``a`` is claimed larger; else ``b`` is claimed
    to change less than ``a``), error from the stored bootstrap and seed parts."""
    measured = difference(analysis, a, b, quantity)
    effect, error = measured.value, measured.error
    if larger:
        statement = f"fine-tuning ({a}) raises the nominal AUC over the frozen encoder ({b})"
        claim_id = f"{a}:{kind}"
    elif kind == "vs_supervised":
        statement = f"{b} changes its QCD efficiency less than the supervised tagger ({_statement_point(quantity)}; MACK's comparison, not power-matched)"
        claim_id = f"{b}:{kind}:{quantity}"
    else:
        statement = f"{b} changes its QCD efficiency less than {a} ({_statement_point(quantity)})"
        claim_id = f"{b}:vs:{a}:{quantity}"
    return evaluate_claim(claim_id, statement, effect, error, rule)


def noisy_controls(models: Sequence[str]) -> list[str]:
    """The ``noisy_supervised@...`` names among ``models``."""
    return [model for model in models if model.startswith(NOISY_PREFIX)]
