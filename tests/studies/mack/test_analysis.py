"""The MACK measurement on toys with known answers: a tagger that ignores the mismodeled feature
lies below the frontier of equally powerful plain taggers, its noisy control does not; when no
tagger has a robustness mechanism, nothing is claimed."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax import metrics
from codec_jax.studies.mack.analysis import StudyScores, analyse, difference, mack_claims
from codec_jax.studies.mack.controls import noise_width_for_auc, noisy_name, standard_normal_draws

N = 2500  # jets per class and test set
SEEDS = ("0", "1", "2")


def _features(rng, shift):
    """Two discriminating features per jet; the alternate shifts the second one for QCD."""
    labels = np.repeat([1, 0], N)
    f1 = rng.normal(labels * 1.0, 1.0)
    f2 = rng.normal(labels * 1.0, 1.0) + shift * (labels == 0)
    return labels, f1, f2


def _toy(robust_tagger: bool, seed: int = 0) -> tuple[StudyScores, str]:
    """Supervised = f1 + f2; the candidate either ignores f2 (a real robustness mechanism) or is the
    supervised score with noise (none); controls: noisy supervised matched to the candidate's AUC
    (on a validation set) and a ladder of noisier supervised taggers."""
    rng = np.random.default_rng(seed)
    sets = {"nominal": _features(rng, 0.0), "alternate": _features(rng, 0.6)}
    validation = _features(rng, 0.0)
    labels = {name: value[0] for name, value in sets.items()}
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def add(model, seed_name, function):
        scores.setdefault(model, {})[seed_name] = {
            name: function(name, *value[1:]) for name, value in sets.items()
        }

    candidate = "candidate/frozen"
    for s in SEEDS:
        jitter = {name: rng.normal(0, 0.05, 2 * N) for name in ("nominal", "alternate", "validation")}
        add("supervised", s, lambda n, f1, f2, j=jitter: f1 + f2 + j[n])
        if robust_tagger:
            add(candidate, s, lambda n, f1, f2, j=jitter: f1 + j[n])
            target = metrics.roc_auc(validation[1] + jitter["validation"], validation[0])
        else:
            add(candidate, s, lambda n, f1, f2, s=s: f1 + f2 + 1.2 * standard_normal_draws(2 * N, n, s, "c"))
            noise = 1.2 * standard_normal_draws(2 * N, "validation", s, "c")
            target = metrics.roc_auc(validation[1] + validation[2] + noise, validation[0])
        supervised_val = validation[1] + validation[2] + jitter["validation"]
        noise_val = standard_normal_draws(2 * N, "validation", s)
        sigma = noise_width_for_auc(supervised_val, validation[0], target, noise_val)
        add(
            noisy_name(candidate),
            s,
            lambda n, f1, f2, j=jitter, w=sigma, s=s: f1 + f2 + j[n] + w * standard_normal_draws(2 * N, n, s),
        )
        for width in (0.8, 2.0):
            add(
                f"ladder_{width}",
                s,
                lambda n, f1, f2, w=width, s=s: f1 + f2 + w * standard_normal_draws(2 * N, n, s, w),
            )
    return StudyScores(labels=labels, scores=scores), candidate


CONTROLS = ["supervised", "noisy_supervised@candidate/frozen", "ladder_0.8", "ladder_2.0"]
Q = "change_qcd_at_zprime_0.5"


@pytest.fixture(scope="module")
def robust():
    test, candidate = _toy(robust_tagger=True)
    result = analyse(test, mack_models=[candidate], controls=CONTROLS, n_resamples=60, seed=1)
    return test, candidate, result


def test_noise_width_reaches_the_target_auc():
    rng = np.random.default_rng(3)
    labels = np.repeat([1, 0], 2000)
    scores = rng.normal(labels * 1.5, 1.0)
    noise = standard_normal_draws(len(labels), "x")
    sigma = noise_width_for_auc(scores, labels, 0.7, noise)
    assert metrics.roc_auc(scores + sigma * noise, labels) == pytest.approx(0.7, abs=2e-4)
    assert noise_width_for_auc(scores, labels, 0.99, noise) == 0.0  # already weaker: no noise


def test_tagger_ignoring_the_shifted_feature_lies_below_the_frontier(robust):
    test, candidate, result = robust
    ours = result["models"][candidate]
    control = result["models"][noisy_name(candidate)]
    assert ours["auc"]["value"] == pytest.approx(control["auc"]["value"], abs=0.01)  # equal power
    assert ours[Q]["value"] < 0.05 < control[Q]["value"]  # f1 is not shifted, f2 is
    claims = {c.id: c for c in mack_claims(result, frozen_models=[candidate], claim_quantities=[Q])}
    assert claims[f"{candidate}:vs_noisy_control:{Q}"].verdict == "supported"
    assert claims[f"{candidate}:below_frontier:{Q}"].verdict == "supported"
    # The noisy control itself sits on the frontier, not below it.
    other = analyse(test, mack_models=[noisy_name(candidate)], controls=CONTROLS, n_resamples=60, seed=1)
    distance = other["distances"][noisy_name(candidate)]["below_frontier"][Q]
    assert abs(distance["value"]) < 3 * distance["error"]


def test_errors_include_the_test_set_and_pair_correlated_models(robust):
    test, candidate, result = robust
    value = result["models"]["supervised"][Q]
    assert value["bootstrap_error"] > 0 and value["seed_error"] >= 0
    assert value["error"] == pytest.approx(np.hypot(value["bootstrap_error"], value["seed_error"]))
    # The supervised tagger and its lightly noisier ladder copy are strongly correlated: the paired
    # error of their difference is far below the quadrature of the two errors.
    diff = difference(result, "supervised", "ladder_0.8", Q)
    single = np.hypot(
        result["models"]["supervised"][Q]["bootstrap_error"],
        result["models"]["ladder_0.8"][Q]["bootstrap_error"],
    )
    assert diff.bootstrap_error < 0.8 * single


def test_no_robustness_mechanism_no_claim():
    test, candidate = _toy(robust_tagger=False, seed=5)
    result = analyse(test, mack_models=[candidate], controls=CONTROLS, n_resamples=60, seed=2)
    claims = mack_claims(result, frozen_models=[candidate], claim_quantities=[Q, "change_qcd_at_qcd_0.1"])
    below = [c for c in claims if ":vs_noisy_control:" in c.id or ":below_frontier:" in c.id]
    assert below and all(c.verdict != "supported" for c in below), [(c.id, c.n_sigma) for c in below]
