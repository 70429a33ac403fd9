"""The MACK study (arXiv 2410.13947): contrastive pretraining on (nominal, alternate) pairs,
fine-tuning levels, and robustness to the alternate shower, measured against controls of equal
tagging power.

For each seed of ``config.seeds``:

1. **pretraining** (VICReg, no labels) of encoder + projector, one run per entry of
   ``config.pretrainings`` (:data:`~codec_jax.studies.mack.config.PRETRAININGS`): ``emd_pairs`` --
   views are positive (nominal, alternate) pairs with EMD below the cutoff C; ``emd_pairs_aug`` --
   the same pairs, each view also augmented; ``aug_only`` -- each nominal jet twice, both
   augmented (JetCLR-like); ``oracle_pairs`` -- true partners of same-hard-event samples;
2. **classifiers** on the nominal training sample (Z' vs QCD, BCE) on each pretrained encoder, one
   per fine-tuning level (``frozen``, ``epochs:1``, ``full``), a fully **supervised** baseline of
   the same architecture, and the **controls** (:mod:`codec_jax.studies.mack.controls`): weaker
   supervised taggers trained on fractions of the jets, a frozen random encoder with a head, and
   the supervised score with noise matched to each MACK model's validation AUC;
3. **evaluation** of every classifier on the nominal and the alternate test sets
   (:func:`codec_jax.metrics.robustness_metrics`), then the measurement with errors and the claims
   (:mod:`codec_jax.studies.mack.analysis`).

Samples are generated once into ``config.samples.cache_dir`` and reused; pairs are searched once
per study. Written under ``out``: ``config.json``, ``data/`` (split ROOT files), ``pairs.npz`` +
``pairs.png`` (and ``pairs_oracle.npz``), ``seed<S>/<run>/`` (engine run directories, each with
``scores.npz`` once evaluated), ``test_scores.root`` (every per-jet test score) and the report
(:mod:`codec_jax.studies.mack.report`). Rerunning the same config in the same ``out`` reuses every
finished run and redoes the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import metrics, parallel
from codec_jax.data.io import load_sample, write_root
from codec_jax.errors import ConfigError, DataError
from codec_jax.inference.scoring import ClassifierScorer
from codec_jax.jets import JetSample
from codec_jax.metrics.claims import ClaimRule
from codec_jax.pairing import find_pairs, load_pairs, save_pairs
from codec_jax.pairing.plots import plot_pair_differences, plot_pair_emd
from codec_jax.pairing.quality import pair_differences, partner_recovery
from codec_jax.studies.common.cached_runs import (
    finetune_and_score,
    prepare_study_dir,
    pretrain_once,
    run_dir_name,
    train_all,
)
from codec_jax.studies.common.config import study_to_json
from codec_jax.studies.common.scores_file import SCORES_FILE, score_branch, write_test_scores
from codec_jax.studies.mack.analysis import StudyScores, analyse, mack_claims
from codec_jax.studies.mack.config import (
    PRETRAININGS,
    SUPERVISED,
    MackConfig,
    check_config,
    control_names,
    mack_model_names,
    model_names,
)
from codec_jax.studies.mack.controls import (
    RANDOM_ENCODER,
    ladder_name,
    noise_width_for_auc,
    noisy_name,
    standard_normal_draws,
)
from codec_jax.studies.mack.report import write_report
from codec_jax.studies.mack.samples import split_samples, study_samples
from codec_jax.train.loop import METRICS_FILE, read_metrics

__all__ = ["final_variance_term", "variance_term_history", "run_mack"]

SETS = ("nominal", "alternate")


# --------------------------------------------------------------------------- pairs
def _files(split: dict[str, dict[str, Path]], domain: str, part: str) -> tuple[str, ...]:
    """The ROOT files of one domain and split, in the order the engine reads them (QCD, then Z')."""
    return (str(split[f"qcd_{domain}"][part]), str(split[f"zprime_{domain}"][part]))


def _pairs(config: MackConfig, kind: str, training: dict[str, JetSample], out: Path) -> dict[str, Any]:
    """Search (or reuse) the positive pairs of ``kind`` (``"emd"``: ``config.pairing``;
    ``"oracle"``: true partners) between the nominal and alternate training samples; writes
    ``out/pairs.npz`` (``pairs_oracle.npz``) and its EMD plot."""
    suffix = "" if kind == "emd" else f"_{kind}"
    path = out / f"pairs{suffix}.npz"
    if path.is_file():
        pairs = load_pairs(path)
    else:
        pairing = config.pairing if kind == "emd" else dataclasses.replace(config.pairing, strategy="oracle")
        start = time.perf_counter()
        pairs = find_pairs(
            config.samples.seed,
            training["nominal"],
            training["alternate"],
            pairing,
            progress=config.pretrain.training.progress,
        )
        pairs.settings["seconds"] = time.perf_counter() - start
        save_pairs(pairs, path)
        plot_pair_emd(pairs, out / f"pairs{suffix}.png")
    if len(pairs) == 0:
        raise ConfigError(
            f"{path}: no positive pairs below the cutoff; raise pairing.cutoff or cutoff_quantile"
        )
    summary = {k: v for k, v in pairs.settings.items() if k != "candidate_emd_quantiles"}
    differences = pair_differences(pairs, training["nominal"], training["alternate"])
    return {"path": str(path), **summary, "differences": differences}


def _pair_quality(config: MackConfig, training: dict[str, JetSample], cutoff: float | None) -> dict[str, Any]:
    """With same-hard-event samples, how often the EMD finds the true partner (training rows)."""
    if config.samples.source != "same_events":
        return {}
    return partner_recovery(
        config.samples.seed,
        training["nominal"],
        training["alternate"],
        config.pairing.emd,
        cutoff=cutoff,
        candidates=config.measurement.partner_candidates,
        n_jets=config.measurement.partner_jets,
        include_signal=config.pairing.include_signal,
        max_particles=config.pairing.max_particles,
    )


# --------------------------------------------------------------------------- run configs
def _pretrain_config(
    config: MackConfig, name: str, seed: int, split, pairs: dict[str, dict]
) -> config_lib.Config:
    variant = PRETRAININGS[name]
    run = config_lib.apply_overrides(config.pretrain, [])
    run.name = f"{config.name}/{name}/seed{seed}"
    run.training.seed = seed
    run.data.train = _files(split, "nominal", "train")
    run.data.alternate = _files(split, "alternate", "train") if variant.pairs or variant.align else ()
    run.data.pairs = pairs[variant.pairs]["path"] if variant.pairs else ""
    run.data.background_only = not config.pairing.include_signal
    run.loss.augmentations = tuple(config.augmentations) if variant.augment else ()
    run.loss.augmentation_kwargs = dict(config.augmentation_kwargs) if variant.augment else {}
    if variant.align:
        run.loss.alignment = config.alignment
        run.loss.alignment_weight = config.alignment_weight
        run.loss.alignment_kwargs = dict(config.alignment_kwargs)
    return run


def _random_encoder_config(config: MackConfig, seed: int, split) -> config_lib.Config:
    """A "pretraining" that leaves the encoder at its random initialisation: one epoch at learning
    rate 0 (the input standardisation is fitted as usual)."""
    run = config_lib.apply_overrides(config.pretrain, ["training.epochs=1", "optimizer.learning_rate=0.0"])
    run.name = f"{config.name}/random_encoder/seed{seed}"
    run.training.seed = seed
    run.data.train = _files(split, "nominal", "train")
    run.data.background_only = not config.pairing.include_signal
    return run


def _classifier_config(config: MackConfig, level: str, seed: int, split) -> config_lib.Config:
    run = config_lib.apply_overrides(config.classifier, [])
    run.name = f"{config.name}/classifier/seed{seed}"
    run.training.seed = seed
    run.model.encoder = config.pretrain.model.encoder
    run.model.encoder_kwargs = dict(config.pretrain.model.encoder_kwargs)
    run.data.inputs = config.pretrain.data.inputs
    run.data.max_particles = config.pretrain.data.max_particles
    run.data.train = _files(split, "nominal", "train")
    run.data.validation = _files(split, "nominal", "validation")
    run.data.target = "label"
    run.finetune.level = level
    return run


def _ladder_files(config: MackConfig, split, fraction: float, out: Path) -> tuple[str, ...]:
    """Seeded subsets holding ``fraction`` of the nominal training jets of each class (the same
    for every seed), written next to the split files."""
    files = []
    for index, path in enumerate(_files(split, "nominal", "train")):
        target = out / "data" / f"{Path(path).stem}_f{fraction:g}.root"
        if not target.is_file():
            sample = load_sample((path,), config.pretrain.data.max_particles)
            rng = np.random.default_rng([config.samples.seed, index, round(fraction * 1e6)])
            rows = np.sort(rng.choice(len(sample), max(2, round(fraction * len(sample))), replace=False))
            write_root(sample[rows], target)
        files.append(str(target))
    return tuple(files)


def variance_term_history(pretrain_dir: str | os.PathLike) -> list[float | None]:
    """Per pretraining epoch, the VICReg variance term ``v(Z_a) + v(Z_b)`` on the validation pairs
    (0: every projector dimension has a batch std >= 1; 2: a constant, collapsed embedding);
    ``None`` for epochs that log no ``val/variance`` (Barlow Twins, NT-Xent)."""
    return [epoch.get("val/variance") for epoch in read_metrics(Path(pretrain_dir) / METRICS_FILE)]


def final_variance_term(pretrain_dir: str | os.PathLike) -> float | None:
    """The :func:`variance_term_history` entry of the last epoch (None if there is none)."""
    history = variance_term_history(pretrain_dir)
    return history[-1] if history else None


# --------------------------------------------------------------------------- controls
def _noisy_controls(
    config: MackConfig, seed: int, trained: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """``noisy_supervised@<model>`` scores of one seed: the supervised logits plus noise whose
    width matches, on the validation jets, the model's AUC; and the widths (or why none)."""
    scores, widths = {}, {}
    if not (config.controls.noisy_supervised and config.supervised):
        return scores, widths
    supervised = trained[SUPERVISED]
    for model in mack_model_names(config):
        target = metrics.roc_auc(trained[model]["validation"], labels["validation"])
        noise = standard_normal_draws(len(labels["validation"]), "validation", model, seed)
        try:
            sigma = noise_width_for_auc(supervised["validation"], labels["validation"], target, noise)
        except DataError as error:
            widths[model] = {"target_auc": target, "sigma": None, "reason": str(error)}
            continue
        widths[model] = {"target_auc": target, "sigma": sigma}
        scores[noisy_name(model)] = {
            name: supervised[name] + sigma * standard_normal_draws(len(labels[name]), name, model, seed)
            for name in SETS
        }
    return scores, widths


# --------------------------------------------------------------------------- the study
def _train_seed(config, seed, split, pairs, ladders, out, score_sets, scorer, tests):
    """Every trained classifier of one seed: ``({model: scores}, {run: seconds}, health)``.

    ``ladders`` are the training files of the ladder controls, ``{fraction: files}``. The seed's
    trainings form independent chains (a pretraining and its fine-tunings, or one
    supervised training), run by :func:`train_all` (concurrently under ``run --dask``); the results
    are collected in the order of the chains."""
    seed_dir = out / f"seed{seed}"

    def pretrained_chain(pretraining: str) -> tuple[dict, dict, dict]:
        pretrain_dir = seed_dir / f"pretrain-{pretraining}"
        run = _pretrain_config(config, pretraining, seed, split, pairs)
        timings = {f"seed{seed}/pretrain-{pretraining}": pretrain_once(run, pretrain_dir)}
        health = {
            pretraining: {
                "variance_term": final_variance_term(pretrain_dir),
                **scorer.pretrained_spread(pretrain_dir, tests["nominal"]),
            }
        }
        trained = {}
        for level in config.finetune_levels:
            model = f"{pretraining}/{level}"
            run = _classifier_config(config, level, seed, split)
            trained[model] = finetune_and_score(run, seed_dir / run_dir_name(model), pretrain_dir, score_sets)
        return trained, timings, health

    def supervised_chain(name: str, files: tuple[str, ...] | None) -> tuple[dict, dict, dict]:
        run = _classifier_config(config, "full", seed, split)
        if files is not None:
            run.data.train = files
        return {name: finetune_and_score(run, seed_dir / run_dir_name(name), None, score_sets)}, {}, {}

    def random_encoder_chain() -> tuple[dict, dict, dict]:
        pretrain_dir = seed_dir / "pretrain-random"
        timings = {
            f"seed{seed}/pretrain-random": pretrain_once(
                _random_encoder_config(config, seed, split), pretrain_dir
            )
        }
        run = _classifier_config(config, "frozen", seed, split)
        scores = finetune_and_score(run, seed_dir / run_dir_name(RANDOM_ENCODER), pretrain_dir, score_sets)
        return {RANDOM_ENCODER: scores}, timings, {}

    chains: list[Callable[[], tuple[dict, dict, dict]]] = [
        functools.partial(pretrained_chain, pretraining) for pretraining in config.pretrainings
    ]
    if config.supervised:
        chains.append(functools.partial(supervised_chain, SUPERVISED, None))
    chains += [functools.partial(supervised_chain, ladder_name(f), files) for f, files in ladders.items()]
    if config.controls.random_encoder:
        chains.append(random_encoder_chain)
    trained, timings, health = {}, {}, {}
    for chain_trained, chain_timings, chain_health in train_all(chains, lambda chain: chain()):
        trained.update(chain_trained)
        timings.update(chain_timings)
        health.update(chain_health)
    for model, scores in trained.items():
        timings[f"seed{seed}/{run_dir_name(model)}"] = float(scores["train_seconds"])
    return trained, timings, health


def _test_scores_trees(tests: dict[str, JetSample], scores: dict[str, dict[str, dict[str, np.ndarray]]]):
    """The trees of ``test_scores.root``: jet branches and ``score__<model>__seed<k>``."""
    trees = {}
    for name in SETS:
        sample = tests[name]
        tree = {
            "label": sample.label,
            "weight": np.ones(len(sample)),
            "jet_pt": sample.pt,
            "jet_msd": sample.msd,
        }
        for model, seeds in scores.items():
            for seed, by_set in seeds.items():
                tree[score_branch(model, seed)] = by_set[name]
        trees[name] = tree
    return trees


def run_mack(config: MackConfig, out: str | os.PathLike) -> dict[str, Any] | None:
    """Run the whole study into ``out`` and write its report; returns the metrics dict
    (the content of ``out/metrics.json``); None on the processes other than
    0 of a multi-host run."""
    check_config(config)
    out = Path(out)
    extended = prepare_study_dir(config, out)
    if extended:
        print(f"extending the study in {out} ({', '.join(extended)} changed): finished runs are reused")
    # Multi-host: process 0 generates and writes the cached files first, the others read them.
    loaded = parallel.main_process_first(
        lambda: study_samples(config.samples, progress=config.pretrain.training.progress), "codec_jax:samples"
    )
    split = parallel.main_process_first(
        lambda: split_samples(config.samples, loaded, out / "data"), "codec_jax:split"
    )
    max_particles = config.pretrain.data.max_particles
    training = {domain: load_sample(_files(split, domain, "train"), max_particles) for domain in SETS}
    kinds = sorted({PRETRAININGS[p].pairs for p in config.pretrainings} - {""})
    pairs = {
        kind: parallel.main_process_first(
            functools.partial(_pairs, config, kind, training, out), f"codec_jax:pairs:{kind}"
        )
        for kind in kinds
    }
    if pairs and parallel.is_main_process():
        plot_pair_differences(
            {kind: entry["differences"]["_arrays"] for kind, entry in pairs.items()},
            out / "pair_differences.png",
        )
    quality = _pair_quality(config, training, pairs.get("emd", {}).get("cutoff"))
    tests = {domain: load_sample(_files(split, domain, "test"), max_particles) for domain in SETS}
    tests["validation"] = load_sample(_files(split, "nominal", "validation"), max_particles)
    labels = {name: sample.label for name, sample in tests.items()}
    scorer = ClassifierScorer()

    def score_sets(params, items):
        return {name: scorer.score(params, items, sample) for name, sample in tests.items()}

    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {name: {} for name in model_names(config)}
    health: dict[str, dict[str, Any]] = {name: {} for name in config.pretrainings}
    timings: dict[str, float] = {}
    noise_widths: dict[str, dict[str, Any]] = {}
    ladders = {
        fraction: parallel.main_process_first(
            functools.partial(_ladder_files, config, split, fraction, out), f"codec_jax:ladder:{fraction}"
        )
        for fraction in config.controls.ladder_fractions
    }
    by_seed = train_all(
        config.seeds,
        lambda seed: _train_seed(config, seed, split, pairs, ladders, out, score_sets, scorer, tests),
    )
    for seed, (trained, seed_timings, seed_health) in zip(config.seeds, by_seed, strict=True):
        timings.update(seed_timings)
        for pretraining, entry in seed_health.items():
            health[pretraining][str(seed)] = entry
        noisy, noise_widths[str(seed)] = _noisy_controls(config, seed, trained, labels)
        for model, by_set in {**trained, **noisy}.items():
            scores[model][str(seed)] = {name: by_set[name] for name in SETS}
    scores = {model: seeds for model, seeds in scores.items() if seeds}
    runs = {
        model: {
            seed: metrics.robustness_metrics(
                by_set["nominal"],
                labels["nominal"],
                by_set["alternate"],
                labels["alternate"],
                config.working_points,
                matched_points=config.measurement.matched_points,
            )
            for seed, by_set in seeds.items()
        }
        for model, seeds in scores.items()
    }

    def report() -> dict[str, Any]:
        write_test_scores(out / SCORES_FILE, _test_scores_trees(tests, scores))
        measured = _measure(config, scores, labels)
        return write_report(
            out,
            config=json.loads(study_to_json(config)),
            runs=runs,
            samples={name: sample.summary() for name, sample in loaded.items()},
            pairs=pairs,
            pair_quality=quality,
            timings=timings,
            working_points=config.working_points,
            pretraining_health=health,
            analysis=measured["analysis"],
            claims=measured["claims"],
            noise_widths=noise_widths,
        )

    # Multi-host: process 0 writes the scores file and the report; the others return None.
    return parallel.main_process_verdict(report, "codec_jax:report")


def _measure(config: MackConfig, scores, labels) -> dict[str, Any]:
    """The analysis with errors (every MACK model against the controls) and the claims."""
    mack_models = [model for model in mack_model_names(config) if model in scores]
    controls = [
        name for name in ([SUPERVISED] if config.supervised else []) + control_names(config) if name in scores
    ]
    analysis = analyse(
        StudyScores(labels={name: labels[name] for name in SETS}, scores=scores),
        mack_models=mack_models,
        controls=controls,
        working_points=config.working_points,
        matched_points=config.measurement.matched_points,
        n_resamples=config.measurement.bootstrap,
        seed=config.measurement.bootstrap_seed,
    )
    frozen = [model for model in mack_models if model.endswith("/frozen")]
    quantities = [f"change_qcd_at_zprime_{config.working_points[0]:g}"]
    if config.measurement.matched_points:
        quantities.append(f"change_qcd_at_qcd_{config.measurement.matched_points[0]:g}")
    finetuned = {m: m.replace("/frozen", "/full") for m in frozen if m.replace("/frozen", "/full") in scores}
    comparisons = [
        (better, worse)
        for better, worse in (
            ("emd_pairs/frozen", "aug_only/frozen"),
            ("oracle_pairs/frozen", "emd_pairs/frozen"),
            ("ot_align/frozen", "aug_only/frozen"),
        )
        if better in scores and worse in scores
    ]
    claims = (
        mack_claims(
            analysis,
            frozen_models=frozen,
            claim_quantities=quantities,
            supervised=SUPERVISED,
            finetuned=finetuned,
            comparisons=comparisons,
            rule=ClaimRule(config.measurement.claim_sigma),
        )
        if config.supervised
        else []
    )
    return {"analysis": analysis, "claims": claims}
