"""The MACK study (arXiv 2410.13947): contrastive pretraining on (nominal, alternate) EMD pairs,
fine-tuning levels, and robustness to the alternate shower.

For each seed of ``config.seeds``:

1. **pretraining** (VICReg, no labels) of encoder + projector, one run per entry of
   ``config.pretrainings``: ``emd_pairs`` -- views are positive (nominal, alternate) pairs with
   EMD below the cutoff C; ``emd_pairs_aug`` -- the same pairs, each view also augmented;
   ``aug_only`` -- each nominal jet twice, both augmented (no pairs; JetCLR-like);
2. **classifiers** on the nominal training sample (Z' vs QCD, BCE) on top of each pretrained
   encoder, one per fine-tuning level of ``config.finetune_levels`` (``frozen``, ``epochs:1``,
   ``full``), and a fully **supervised** baseline of the same architecture from scratch;
3. **evaluation** of every classifier on the nominal and the alternate test sets
   (:func:`codec_jax.studies.common.evaluation.robustness_metrics`).

Samples are generated once into ``config.samples.cache_dir`` and reused; positive pairs are
searched once per study on the nominal/alternate training samples. Everything is written under
``out``: ``config.json``, ``data/`` (split ROOT files), ``pairs.npz`` + ``pairs.png``,
``seed<S>/<run>/`` (engine run directories, each with ``scores.npz`` once evaluated), and the
report (:mod:`codec_jax.studies.mack.report`). Rerunning the same config in the same ``out`` reuses
every finished run (scores present) and redoes the rest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax.data.io import load_sample
from codec_jax.errors import ConfigError
from codec_jax.metrics.robustness import robustness_metrics
from codec_jax.pairing import PairingConfig, find_pairs, load_pairs, save_pairs
from codec_jax.pairing.plots import plot_pair_emd
from codec_jax.studies.common.cached_runs import (
    finetune_and_score,
    prepare_study_dir,
    pretrain_once,
    run_dir_name,
)
from codec_jax.studies.common.config import study_to_json
from codec_jax.studies.common.evaluation import ClassifierScorer
from codec_jax.studies.mack.report import write_report
from codec_jax.studies.mack.samples import SamplesConfig, split_samples, study_samples
from codec_jax.train.loop import METRICS_FILE, read_metrics

__all__ = [
    "PRETRAININGS",
    "SUPERVISED",
    "MackConfig",
    "final_variance_term",
    "variance_term_history",
    "model_names",
    "run_mack",
]

#: Pretraining variants: name -> (uses EMD pairs, uses augmentations).
PRETRAININGS: dict[str, tuple[bool, bool]] = {
    "emd_pairs": (True, False),
    "emd_pairs_aug": (True, True),
    "aug_only": (False, True),
}
SUPERVISED = "supervised"


@dataclasses.dataclass
class MackConfig:
    """The whole study.

    samples: what is generated and how it is split; pairing: the positive-pair search
    (:class:`codec_jax.pairing.PairingConfig`, passed to ``find_pairs`` as it is); pretrain: the engine
    config template of the pretraining runs (model, VICReg loss, optimizer, training -- its data
    files, augmentations and seed are filled in per run); classifier: the template of the
    classifier runs (head, BCE, optimizer, training; encoder taken from ``pretrain``);
    augmentations / augmentation_kwargs: used by the ``*_aug`` and ``aug_only`` pretrainings;
    pretrainings: which of :data:`PRETRAININGS`; finetune_levels: classifier levels on each;
    supervised: train the supervised baseline; seeds: training seeds (the samples and pairs are
    shared); working_points: efficiencies at which fractional changes are reported.
    """

    name: str = "mack"
    study: str = "mack"
    samples: SamplesConfig = dataclasses.field(default_factory=SamplesConfig)
    pairing: PairingConfig = dataclasses.field(default_factory=PairingConfig)
    pretrain: config_lib.Config = dataclasses.field(default_factory=config_lib.Config)
    classifier: config_lib.Config = dataclasses.field(default_factory=config_lib.Config)
    augmentations: tuple[str, ...] = ("rotate", "smear")
    augmentation_kwargs: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"smear": {"strength": 0.1}}
    )
    pretrainings: tuple[str, ...] = ("emd_pairs", "emd_pairs_aug", "aug_only")
    finetune_levels: tuple[str, ...] = ("frozen", "epochs:1", "full")
    supervised: bool = True
    seeds: tuple[int, ...] = (0, 1, 2)
    working_points: tuple[float, ...] = (0.5, 0.3)


def model_names(config: MackConfig) -> list[str]:
    """The classifiers of the study: ``"<pretraining>/<level>"`` and ``"supervised"``."""
    names = [
        f"{pretraining}/{level}" for pretraining in config.pretrainings for level in config.finetune_levels
    ]
    return names + ([SUPERVISED] if config.supervised else [])


def _check(config: MackConfig) -> None:
    unknown = sorted(set(config.pretrainings) - set(PRETRAININGS))
    if unknown:
        raise ConfigError(f"pretrainings: unknown {unknown}; expected names from {sorted(PRETRAININGS)}")
    if not config.seeds:
        raise ConfigError("seeds is empty: give at least one training seed")
    if not model_names(config):
        raise ConfigError(
            "the study trains no classifier: set pretrainings/finetune_levels or supervised=true"
        )
    if config.pretrain.loss.name not in ("vicreg", "barlow_twins", "ntxent"):
        raise ConfigError(f"pretrain.loss.name={config.pretrain.loss.name!r} is not a contrastive loss")
    config.pairing.validate()  # before the samples are generated


# --------------------------------------------------------------------------- pairs
def _pairs(config: MackConfig, split: dict[str, dict[str, Path]], out: Path) -> dict[str, Any]:
    """Search (or reuse ``out/pairs.npz``) positive pairs between the nominal and alternate
    training samples, in the row order the engine reads them (QCD files first, then Z')."""

    path = out / "pairs.npz"
    if path.is_file():
        pairs = load_pairs(path)
    else:
        max_particles = config.pretrain.data.max_particles
        nominal = load_sample(_files(split, "nominal", "train"), max_particles)
        alternate = load_sample(_files(split, "alternate", "train"), max_particles)
        start = time.perf_counter()
        pairs = find_pairs(
            config.samples.seed,
            nominal,
            alternate,
            config.pairing,
            progress=config.pretrain.training.progress,
        )
        pairs.settings["seconds"] = time.perf_counter() - start
        save_pairs(pairs, path)
        plot_pair_emd(pairs, out / "pairs.png")
    if len(pairs) == 0:
        raise ConfigError(
            f"{path}: no positive pairs below the cutoff; raise pairing.cutoff or cutoff_quantile"
        )
    return {"path": str(path), **{k: v for k, v in pairs.settings.items() if k != "candidate_emd_quantiles"}}


def _files(split: dict[str, dict[str, Path]], domain: str, part: str) -> tuple[str, ...]:
    return (str(split[f"qcd_{domain}"][part]), str(split[f"zprime_{domain}"][part]))


# --------------------------------------------------------------------------- runs
def _pretrain_config(config: MackConfig, name: str, seed: int, split, pairs_path: str) -> config_lib.Config:
    uses_pairs, uses_augmentations = PRETRAININGS[name]
    run = config_lib.apply_overrides(config.pretrain, [])
    run.name = f"{config.name}/{name}/seed{seed}"
    run.training.seed = seed
    run.data.train = _files(split, "nominal", "train")
    run.data.alternate = _files(split, "alternate", "train") if uses_pairs else ()
    run.data.pairs = pairs_path if uses_pairs else ""
    run.data.background_only = not config.pairing.include_signal
    run.loss.augmentations = tuple(config.augmentations) if uses_augmentations else ()
    run.loss.augmentation_kwargs = dict(config.augmentation_kwargs) if uses_augmentations else {}
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


def variance_term_history(pretrain_dir: str | os.PathLike) -> list[float | None]:
    """Per pretraining epoch, the VICReg variance term ``v(Z_a) + v(Z_b)`` on the validation pairs
    (0: every projector dimension has a batch std >= 1; 2: a constant, collapsed embedding);
    ``None`` for epochs that log no ``val/variance`` (Barlow Twins, NT-Xent)."""

    return [epoch.get("val/variance") for epoch in read_metrics(Path(pretrain_dir) / METRICS_FILE)]


def final_variance_term(pretrain_dir: str | os.PathLike) -> float | None:
    """The :func:`variance_term_history` entry of the last epoch (None if there is none)."""
    history = variance_term_history(pretrain_dir)
    return history[-1] if history else None


# --------------------------------------------------------------------------- the study
def run_mack(config: MackConfig, out: str | os.PathLike) -> dict[str, Any]:
    """Run the whole study into ``out`` and write its report; returns the metrics dict
    (the content of ``out/metrics.json``)."""

    _check(config)
    out = Path(out)
    prepare_study_dir(config, out)
    loaded = study_samples(config.samples, progress=config.pretrain.training.progress)
    split = split_samples(config.samples, loaded, out / "data")
    pairs = _pairs(config, split, out) if any(PRETRAININGS[p][0] for p in config.pretrainings) else {}
    max_particles = config.pretrain.data.max_particles
    tests = {
        domain: load_sample(_files(split, domain, "test"), max_particles)
        for domain in ("nominal", "alternate")
    }
    scorer = ClassifierScorer()

    def score_tests(params, items):
        return {name: scorer.score(params, items, sample) for name, sample in tests.items()}

    runs: dict[str, dict[str, Any]] = {name: {} for name in model_names(config)}
    health: dict[str, dict[str, dict[str, float | None]]] = {name: {} for name in config.pretrainings}
    timings: dict[str, float] = {}
    for seed in config.seeds:
        seed_dir = out / f"seed{seed}"
        trained: dict[str, dict[str, np.ndarray]] = {}
        for pretraining in config.pretrainings:
            pretrain_dir = seed_dir / f"pretrain-{pretraining}"
            run = _pretrain_config(config, pretraining, seed, split, pairs.get("path", ""))
            timings[f"seed{seed}/pretrain-{pretraining}"] = pretrain_once(run, pretrain_dir)
            health[pretraining][str(seed)] = {
                "variance_term": final_variance_term(pretrain_dir),
                **scorer.pretrained_spread(pretrain_dir, tests["nominal"]),
            }
            for level in config.finetune_levels:
                model = f"{pretraining}/{level}"
                run = _classifier_config(config, level, seed, split)
                trained[model] = finetune_and_score(
                    run, seed_dir / run_dir_name(model), pretrain_dir, score_tests
                )
        if config.supervised:
            run = _classifier_config(config, "full", seed, split)
            trained[SUPERVISED] = finetune_and_score(run, seed_dir / SUPERVISED, None, score_tests)
        for model, scores in trained.items():
            timings[f"seed{seed}/{run_dir_name(model)}"] = float(scores["train_seconds"])
            runs[model][str(seed)] = robustness_metrics(
                scores["nominal"],
                tests["nominal"].label,
                scores["alternate"],
                tests["alternate"].label,
                config.working_points,
            )
    samples = {name: sample.summary() for name, sample in loaded.items()}
    return write_report(
        out,
        config=json.loads(study_to_json(config)),
        runs=runs,
        samples=samples,
        pairs=pairs,
        timings=timings,
        working_points=config.working_points,
        pretraining_health=health,
    )
