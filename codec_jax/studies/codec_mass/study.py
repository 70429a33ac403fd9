"""The steps the CoDec mass studies (regression, calibration) share: checks, sets, trained mass
estimators, evaluation and report.

A mass-study config (:class:`~codec_jax.studies.codec_mass.regression.CodecRegressionConfig`,
:class:`~codec_jax.studies.codec_mass.calibration.CodecCalibrationConfig`) has the fields ``name``,
``samples``, ``truth_range``, ``truth_bins``, ``truth_fit``, ``training_sets``, ``seeds`` and
``peak_window``; its engine template (``regression`` / ``calibration``) regresses ``truth_mass``
with the ``mass_regression`` loss. ``predictions`` are ``{method: {seed: masses [n_test] in GeV}}``
with the single seed key :data:`~codec_jax.studies.codec_mass.report.FIXED` for methods that are
not trained.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import parallel
from codec_jax.errors import ConfigError
from codec_jax.inference.scoring import ClassifierScorer
from codec_jax.studies.codec_mass.report import (
    FIXED,
    response_metrics,
    summarize_methods,
    write_response_report,
)
from codec_jax.studies.codec_mass.sets import MASS_SETS, MassSets, from_reference_pt, mass_sets
from codec_jax.studies.common.cached_runs import finetune_and_score, prepare_study_dir, train_all
from codec_jax.studies.common.config import study_to_json

__all__ = [
    "FIXED",
    "check_mass_study",
    "prepare_mass_sets",
    "train_mass_models",
    "report_mass_study",
]


def check_mass_study(config: Any, run: config_lib.Config, section: str) -> None:
    """Checks shared by the mass studies (``run`` is the engine template in ``section``).

    Raises:
        ConfigError: naming the offending key.
    """
    unknown = sorted(set(config.training_sets) - set(MASS_SETS))
    if unknown or not config.training_sets:
        raise ConfigError(f"training_sets={config.training_sets}: expected names from {list(MASS_SETS)}")
    if not config.seeds:
        raise ConfigError("seeds is empty: give at least one training seed")
    if run.loss.name != "mass_regression":
        raise ConfigError(f"{section}.loss.name={run.loss.name!r}: the mass studies need 'mass_regression'")
    if run.data.target != "truth_mass":
        raise ConfigError(f"{section}.data.target={run.data.target!r}: the mass studies regress 'truth_mass'")
    if not 0.0 <= config.peak_window < 1.0:
        raise ConfigError(f"peak_window={config.peak_window}: expected a fraction in [0, 1)")


def prepare_mass_sets(
    config: Any, run: config_lib.Config, out: Path, *, reference_pt: float = 0.0
) -> tuple[MassSets, dict[str, float]]:
    """Create the study directory (refusing one with another config) and build the sets into
    ``out/data``; returns the sets and ``{"sets": seconds}``."""

    prepare_study_dir(config, out)
    start = time.perf_counter()
    make_sets = functools.partial(
        mass_sets,
        config.samples,
        out / "data",
        truth_range=tuple(config.truth_range),
        truth_bins=config.truth_bins,
        truth_fit=config.truth_fit,
        reference_pt=reference_pt,
        progress=run.training.progress,
    )
    sets = parallel.main_process_first(make_sets, "codec_jax:sets")  # multi-host: 0 writes, others read
    return sets, {"sets": time.perf_counter() - start}


def train_mass_models(
    config: Any,
    run_template: config_lib.Config,
    sets: MassSets,
    out: Path,
    *,
    prefix: str,
    reference_pt: float = 0.0,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Train (or reuse) one engine run per seed of ``config.seeds`` and training set of
    ``config.training_sets`` into ``out/seed<S>/<prefix>_<set>/`` and predict the test masses
    (``exp`` of the head output for a log-mass loss, scaled back from ``reference_pt``).

    Returns ``({"<prefix>_<set>": {seed: predicted masses [n_test] in GeV}}, seconds per run)``.
    """

    scorer = ClassifierScorer()
    test = sets.test

    def score(params, items):
        return {"test": scorer.score(params, items, test)}

    log_mass = bool(run_template.loss.kwargs.get("log_mass", True))
    predictions: dict[str, dict[str, np.ndarray]] = {f"{prefix}_{name}": {} for name in config.training_sets}
    timings: dict[str, float] = {}

    def train(seed_and_set: tuple[int, str]) -> dict[str, np.ndarray]:
        seed, name = seed_and_set
        method = f"{prefix}_{name}"
        run = config_lib.apply_overrides(run_template, [])
        run.name = f"{config.name}/{method}/seed{seed}"
        run.training.seed = seed
        run.data.train = (str(sets.files[name]["train"]),)
        run.data.validation = (str(sets.files[name]["validation"]),)
        return finetune_and_score(run, out / f"seed{seed}" / method, None, score)

    trained = [(seed, name) for seed in config.seeds for name in config.training_sets]
    for (seed, name), scores in zip(trained, train_all(trained, train), strict=True):
        method = f"{prefix}_{name}"
        output = np.exp(scores["test"]) if log_mass else scores["test"]
        if reference_pt > 0:
            output = from_reference_pt(output, test.pt, reference_pt)
        predictions[method][str(seed)] = output
        timings[f"seed{seed}/{method}"] = float(scores["train_seconds"])
    return predictions, timings


def report_mass_study(
    config: Any,
    out: Path,
    sets: MassSets,
    predictions: Mapping[str, Mapping[str, np.ndarray]],
    timings: Mapping[str, float],
    *,
    intro: Sequence[str],
    claims: Callable[[dict[str, dict[str, Any]]], list[dict[str, Any]]],
    response_name: str = "response",
    extra: Mapping[str, Any] | None = None,
    extra_figures: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Evaluate every prediction on the test jets per true-mass bin, summarise over seeds, decide
    the ``claims(summary)`` and write the report (:func:`~codec_jax.studies.codec_mass.report.write_response_report`);
    returns the metrics, or None on the processes other than 0 of a multi-host run."""

    test = sets.test
    edges = np.linspace(*config.truth_range, config.truth_bins + 1)
    peaks = [float(m) for m in config.samples.peaky_masses]
    runs = {
        method: {
            seed: response_metrics(test.truth_mass, values, test.weight, edges, peaks, config.peak_window)
            for seed, values in by_seed.items()
        }
        for method, by_seed in predictions.items()
    }
    summary = summarize_methods(runs)
    panels = {
        method: (test.truth_mass, next(iter(by_seed.values())), test.weight)
        for method, by_seed in predictions.items()
    }
    report = functools.partial(
        write_response_report,
        out,
        title=f"{config.name} report",
        intro=intro,
        config=json.loads(study_to_json(config)),
        sets=sets.summary,
        runs=runs,
        summary=summary,
        claims=claims(summary),
        timings=timings,
        peaks=peaks,
        peak_window=config.peak_window,
        panels=panels,
        response_name=response_name,
        extra=extra,
        extra_figures=extra_figures,
    )
    # Multi-host: process 0 writes the report; the others return None.
    return parallel.main_process_verdict(report, "codec_jax:report")
