"""The CoDec tagging study: Z' vs QCD taggers, their performance and how much they sculpt the QCD
jet-mass spectrum.

Every machine-learned tagger uses the same particle-level encoder (``classifier.model``; Deep Sets
by default) and is evaluated on the same test jets (wide Z' with flat-spectrum weights, QCD with its
natural falling spectrum; :mod:`codec_jax.studies.common.codec_samples`); the sculpting is
measured on a dedicated QCD sample (``samples.n_sculpting``; the QCD test jets when 0). The models
(:mod:`codec_jax.studies.codec_tagging.config`, chosen with ``models``):

* ``supervised_peaky`` / ``supervised_flat_1d`` / ``supervised_flat_2d`` -- BCE on the peaky set
  (narrow Z') or on the flat set (1D: mass; 2D: mass and pT), with the sets' residual weights;
* ``vicreg_flat`` / ``barlow_flat`` (and ``vicreg_peaky``) -- CoDec: contrastive pretraining
  (VICReg / Barlow Twins, no labels in the loss and never the mass) of the encoder into a
  ``latent_dim``-dimensional space (the encoder output, followed by one linear projector layer of
  the same size, on which the loss acts), then a small head on the frozen latent (``head``);
  positives (``positives``): ``augment`` -- each jet twice, both views augmented (label-free);
  ``same_class`` -- pairs of two jets of the same class (``partner_mass``: ``different`` --
  from another soft-drop mass cell of the flattening; ``similar`` -- of similar mass rank;
  ``any``; :mod:`codec_jax.pairing.same_class`); ``both`` -- same-class pairs, each view also
  augmented;
* ``mode0_flat`` / ``mode1_flat`` / ``disco_flat`` -- BCE plus the MoDe[0], MoDe[1] or DisCo
  penalty on the QCD jets of the flat 1D set (``mode_weight`` / ``disco_weight``, the
  classifier's batch); the scan models ``<penalty>_flat_w<weight>`` -- the same with the penalty
  on >= ``penalty_scan.background_per_step`` QCD jets per step, at that weight;
* ``n2`` / ``n2_ddt`` / ``n2_ddt_wp`` -- the observables: score ``-N2``; ``-N2_DDT`` with the
  DDT map at ``ddt.quantile`` (CMS: 26%); ``-N2_DDT`` with one map per working point, built at the
  QCD quantile whose cut at zero keeps that Z' efficiency on the training rows
  (:func:`codec_jax.baselines.ddt.ddt_map_at_signal_efficiency`). Maps from QCD training rows.

Each trained model runs once per seed of ``seeds`` (the scan models on the first
``penalty_scan.max_seeds``; samples, sets and pairs are shared). Written under ``out``:
``config.json``, ``data/`` (the sets as ROOT files), ``pairs_<set>.npz``, the DDT maps,
``seed<S>/<model>/`` (engine run directories; contrastive models also ``seed<S>/pretrain-<model>/``)
with ``scores.npz`` once scored, ``test_scores.root`` (every per-jet score) and the report
(:mod:`codec_jax.studies.codec_tagging.report`). Rerunning the same config in the same ``out``
reuses every finished run.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import parallel
from codec_jax.data.io import load_sample
from codec_jax.errors import ConfigError
from codec_jax.inference.scoring import ClassifierScorer
from codec_jax.jets import concatenate
from codec_jax.pairing import load_pairs, save_pairs
from codec_jax.pairing.same_class import same_class_pairs
from codec_jax.studies.codec_tagging import analysis
from codec_jax.studies.codec_tagging.config import (
    OBSERVABLE_RUN,
    POSITIVES,
    CodecTaggingConfig,
    check_config,
    contrastive_loss,
    mass_bin_edges,
    model_spec,
    penalty_kwargs,
)
from codec_jax.studies.codec_tagging.evaluation import (
    TaggingTestSet,
    qcd_mass_spectrum,
    sculpting_metrics,
    tagger_metrics,
)
from codec_jax.studies.codec_tagging.observables import observable_scores
from codec_jax.studies.codec_tagging.report import write_tagging_report
from codec_jax.studies.common.cached_runs import (
    finetune_and_score,
    prepare_study_dir,
    pretrain_once,
    train_all,
)
from codec_jax.studies.common.codec_samples import codec_sets
from codec_jax.studies.common.config import study_to_json
from codec_jax.studies.common.scores_file import SCORES_FILE, score_branch, write_test_scores

__all__ = ["SAMPLE_CODES", "penalty_batch", "run_codec_tagging"]

#: The ``sample`` branch of ``test_scores.root``.
SAMPLE_CODES = {"qcd_test": 0, "wide_zprime_test": 1, "qcd_sculpting": 2}


# --------------------------------------------------------------------------- engine run configs
def _set_files(sets, training_set: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    files = sets.files[training_set]
    return (str(files["train"]),), (str(files["validation"]),)


def penalty_batch(config: CodecTaggingConfig, sets) -> dict[str, Any]:
    """The batch of the penalty-scan models: the smallest multiple of 16 whose QCD count, three
    standard deviations below its mean for the QCD fraction of the ``flat_1d`` training set,
    reaches ``penalty_scan.background_per_step``.

    Raises:
        ConfigError: the training set is smaller than one such batch.
    """
    train = sets.sets["flat_1d"]["train"]
    validation = sets.sets["flat_1d"]["validation"]
    fraction = float(np.mean(train.label == 0))
    wanted = config.penalty_scan.background_per_step
    batch = 16
    while batch * fraction - 3 * math.sqrt(batch * fraction * (1 - fraction)) < wanted:
        batch += 16
        if batch > len(train):
            raise ConfigError(
                f"penalty_scan.background_per_step={wanted} needs batches of more than {len(train)} jets, "
                f"the flat_1d training set ({fraction:.0%} QCD); lower it or generate more jets"
            )
    return {
        "batch_size": batch,
        "background_fraction": fraction,
        "expected_background_per_step": batch * fraction,
        "background_per_step_minus_3_sigma": batch * fraction
        - 3 * math.sqrt(batch * fraction * (1 - fraction)),
        # One validation batch needs as many rows; otherwise (no early stopping) the training rows.
        "validation": "validation" if len(validation) >= batch else "train",
    }


def _classifier_config(
    config: CodecTaggingConfig, model: str, seed: int, sets, batch: dict[str, Any] | None
) -> config_lib.Config:
    spec = model_spec(model)
    run = config_lib.apply_overrides(config.classifier, [])
    run.name = f"{config.name}/{model}/seed{seed}"
    run.training.seed = seed
    run.data.train, run.data.validation = _set_files(sets, spec.training_set)
    run.data.target, run.data.mass_field = "label", "msd"
    run.finetune.level = "full"
    name, weight, kwargs = penalty_kwargs(config, model)
    if name != "none":
        run.loss.decorrelation, run.loss.decorrelation_weight, run.loss.decorrelation_kwargs = (
            name,
            weight,
            kwargs,
        )
    if spec.penalty_weight is not None:
        if batch["validation"] == "train":
            if run.training.patience:
                raise ConfigError(
                    "penalty_scan: the flat_1d validation set is smaller than one scan batch, so the scan "
                    "models validate on their training rows; set classifier.training.patience=0"
                )
            run.data.validation = run.data.train
        run.training.batch_size = batch["batch_size"]
        run.training.epochs = config.penalty_scan.epochs
        run.optimizer.learning_rate = config.penalty_scan.learning_rate
    return run


def _pretrain_config(
    config: CodecTaggingConfig, model: str, seed: int, sets, pairs_path: str
) -> config_lib.Config:
    spec = model_spec(model)
    uses_pairs, uses_augmentations = POSITIVES[config.positives]
    run = config_lib.apply_overrides(config.pretrain, [])
    run.name = f"{config.name}/pretrain-{model}/seed{seed}"
    run.training.seed = seed
    run.model.encoder = config.classifier.model.encoder
    run.model.encoder_kwargs = {**config.classifier.model.encoder_kwargs, "output_dim": config.latent_dim}
    run.model.projector_dims = (config.latent_dim,)
    run.data.inputs = config.classifier.data.inputs
    run.data.max_particles = config.classifier.data.max_particles
    run.data.train, run.data.validation = _set_files(sets, spec.training_set)
    run.data.alternate = run.data.train if uses_pairs else ()
    run.data.pairs = pairs_path if uses_pairs else ""
    run.data.background_only = False
    run.loss.name, run.loss.kwargs = contrastive_loss(config, spec.loss)
    run.loss.augmentations = tuple(config.augmentations) if uses_augmentations else ()
    run.loss.augmentation_kwargs = dict(config.augmentation_kwargs) if uses_augmentations else {}
    return run


def _head_config(config: CodecTaggingConfig, model: str, seed: int, sets) -> config_lib.Config:
    run = config_lib.apply_overrides(config.head, [])
    run.name = f"{config.name}/{model}/seed{seed}"
    run.training.seed = seed
    run.data.train, run.data.validation = _set_files(sets, model_spec(model).training_set)
    run.data.target = "label"
    return run


def _pairs(config: CodecTaggingConfig, sets, training_set: str, out: Path) -> dict[str, Any]:
    """Same-class pairs over the training rows of ``training_set`` in the order the engine reads
    them; written once to ``out/pairs_<set>.npz`` and reused."""

    path = out / f"pairs_{training_set}.npz"
    if path.is_file():
        pairs = load_pairs(path)
    else:
        train, _ = _set_files(sets, training_set)
        sample = load_sample(train, config.classifier.data.max_particles)
        low, high = config.samples.mass_range
        pairs = same_class_pairs(
            config.samples.seed,
            sample.label,
            sample.msd,
            pairs_per_jet=config.pairs_per_jet,
            mass_edges=np.linspace(low, high, config.samples.mass_bins + 1),
            partner_mass=config.partner_mass,
            similar_ranks=config.similar_ranks,
        )
        save_pairs(pairs, path)
    return {"path": str(path), **pairs.settings}


# --------------------------------------------------------------------------- the study
def _write_scores(
    out: Path, sets, test_sample, dedicated: bool, scores: dict[str, dict[str, analysis.TaggerScores]]
) -> Path:
    """``out/test_scores.root``: trees ``test`` and ``sculpting`` with the jet branches and one
    score branch per model and seed (n2_ddt_wp also ``<model>@<percent>`` for its other
    working points' maps)."""
    n_signal = len(sets.test_signal)
    sculpting = sets.sculpting
    sample_code = SAMPLE_CODES["qcd_sculpting" if dedicated else "qcd_test"]
    trees = {
        "test": {
            "label": test_sample.label,
            "weight": test_sample.weight,
            "jet_pt": test_sample.pt,
            "jet_msd": test_sample.msd,
            "sample": np.where(np.arange(len(test_sample)) < n_signal, 1, 0),
        },
        "sculpting": {
            "label": sculpting.label,
            "weight": sculpting.weight,
            "jet_pt": sculpting.pt,
            "jet_msd": sculpting.msd,
            "sample": np.full(len(sculpting), sample_code),
        },
    }
    for model, by_seed in scores.items():
        for seed, tagger in by_seed.items():
            trees["test"][score_branch(model, seed)] = tagger.test
            trees["sculpting"][score_branch(model, seed)] = tagger.sculpting
            for point, (test, sculpt) in list(tagger.points.items())[1:]:
                trees["test"][score_branch(f"{model}@{round(100 * point)}", seed)] = test
                trees["sculpting"][score_branch(f"{model}@{round(100 * point)}", seed)] = sculpt
    return write_test_scores(out / SCORES_FILE, trees)


def _evaluate(config: CodecTaggingConfig, tagger: analysis.TaggerScores, test: TaggingTestSet, sets, **kw):
    """:func:`tagger_metrics` on the test jets and :func:`sculpting_metrics` on the sculpting jets;
    with per-point scores, each working point's keys from its own scores."""
    evaluate = dict(spectrum_efficiencies=config.spectrum_efficiencies, floor_trials=config.floor_trials)
    signal = test.label == 1
    sculpt = dict(floor_trials=config.floor_trials, seed=kw.get("seed", 0))
    result = tagger_metrics(tagger.test, test, working_points=config.working_points, **evaluate, **kw)
    for point in config.working_points:
        test_scores, sculpting_scores = tagger.at(point)
        if point in tagger.points and point != config.working_points[0]:
            at_point = tagger_metrics(
                test_scores, test, working_points=(point,), spectrum_efficiencies=(), seed=kw.get("seed", 0)
            )
            result.update({k: v for k, v in at_point.items() if k not in ("auc", "curves")})
        result.update(
            sculpting_metrics(
                test_scores[signal], test.weight[signal], sculpting_scores, sets.sculpting.msd, test.bin_edges,
                working_points=(point,), **sculpt,
            )
        )  # fmt: skip
    return result


def run_codec_tagging(config: CodecTaggingConfig, out: str | os.PathLike) -> dict[str, Any] | None:
    """Run the whole study into ``out`` and write its report; returns the metrics dict (the
    content of ``out/metrics.json``); None on the processes other than
    0 of a multi-host run."""

    check_config(config)
    out = Path(out)
    prepare_study_dir(config, out)
    # Multi-host: process 0 writes the cached files first, the others read them.
    sets = parallel.main_process_first(
        lambda: codec_sets(config.samples, out / "data", progress=config.classifier.training.progress),
        "codec_jax:sets",
    )
    dedicated = config.samples.n_sculpting > 0
    test_sample = concatenate([sets.test_signal, sets.test_background])
    test = TaggingTestSet(test_sample.label, test_sample.weight, test_sample.msd, mass_bin_edges(config))
    runs: dict[str, dict[str, Any]] = {model: {} for model in config.models}
    scores: dict[str, dict[str, analysis.TaggerScores]] = {model: {} for model in config.models}
    observables = [model for model in config.models if model_spec(model).kind == "observable"]
    ddt = {}
    if observables:
        found, ddt = parallel.main_process_first(
            lambda: observable_scores(config, sets, test_sample, out), "codec_jax:observables"
        )
        for model in observables:
            scores[model][OBSERVABLE_RUN] = found[model]
            runs[model][OBSERVABLE_RUN] = _evaluate(config, found[model], test, sets)

    uses_pairs = POSITIVES[config.positives][0]
    contrastive_sets = {
        model_spec(m).training_set for m in config.models if model_spec(m).kind == "contrastive"
    }
    pairs = {
        name: parallel.main_process_first(
            lambda name=name: _pairs(config, sets, name, out), f"codec_jax:pairs:{name}"
        )
        for name in (sorted(contrastive_sets) if uses_pairs else [])
    }
    scans = [m for m in config.models if model_spec(m).penalty_weight is not None]
    batch = penalty_batch(config, sets) if scans else None
    scan_seeds = config.seeds[: config.penalty_scan.max_seeds or None]
    scorer = ClassifierScorer()

    def score_fn(with_latent: bool):
        def score(params, items):
            result = {"test": scorer.score(params, items, test_sample)}
            if dedicated:
                result["sculpting"] = scorer.score(params, items, sets.sculpting)
            if with_latent:
                result["latent"] = scorer.embed(params, items, test_sample)
            return result

        return score

    def train(seed_and_model: tuple[int, str]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """One trained model of one seed: ``({pretraining: seconds}, scores)``."""
        seed, model = seed_and_model
        seed_dir, spec = out / f"seed{seed}", model_spec(model)
        if spec.kind == "supervised":
            run = _classifier_config(config, model, seed, sets, batch)
            return {}, finetune_and_score(run, seed_dir / model, None, score_fn(False))
        pretrain_dir = seed_dir / f"pretrain-{model}"
        path = pairs.get(spec.training_set, {}).get("path", "")
        seconds = pretrain_once(_pretrain_config(config, model, seed, sets, path), pretrain_dir)
        run = _head_config(config, model, seed, sets)
        found = finetune_and_score(run, seed_dir / model, pretrain_dir, score_fn(True))
        return {f"seed{seed}/pretrain-{model}": seconds}, found

    trained = [
        (seed, model)
        for seed in config.seeds
        for model in config.models
        if model_spec(model).kind != "observable"
        and (model_spec(model).penalty_weight is None or seed in scan_seeds)
    ]
    timings: dict[str, float] = {}
    for (seed, model), (pretrain_timing, found) in zip(trained, train_all(trained, train), strict=True):
        timings.update(pretrain_timing)
        timings[f"seed{seed}/{model}"] = float(found["train_seconds"])
        sculpting = found["sculpting"] if dedicated else found["test"][len(sets.test_signal) :]
        scores[model][str(seed)] = analysis.TaggerScores(found["test"], sculpting)
        runs[model][str(seed)] = _evaluate(
            config, scores[model][str(seed)], test, sets, latent=found.get("latent"), seed=seed
        )

    def report() -> dict[str, Any]:
        _write_scores(out, sets, test_sample, dedicated, scores)
        jets = analysis.StudyJets(
            test.label, test.weight, sets.sculpting.msd.astype(np.float64), test.bin_edges
        )
        table = analysis.measure(
            jets,
            scores,
            working_points=config.working_points,
            floor_trials=config.floor_trials,
            n_resamples=config.claims.bootstrap_resamples,
            seed=config.claims.bootstrap_seed,
            without_seeds=observables,
        )
        claims, matches = analysis.tagging_claims(table, config.claims, config.working_points[0])
        return write_tagging_report(
            out,
            config=json.loads(study_to_json(config)),
            runs=runs,
            samples=sets.summary,
            pairs=pairs,
            timings=timings,
            bin_edges=test.bin_edges,
            inclusive_spectrum=qcd_mass_spectrum(
                sets.test_background.msd, sets.test_background.weight, test.bin_edges
            ),
            sculpting_spectrum=qcd_mass_spectrum(sets.sculpting.msd, sets.sculpting.weight, test.bin_edges),
            table=table,
            claims=claims,
            matches=matches,
            extra={
                "penalty_batch": batch,
                "ddt_working_points": ddt,
                "test_scores": _scores_description(dedicated),
            },
        )

    # Multi-host: process 0 measures and writes the scores and the report; the others return None.
    return parallel.main_process_verdict(report, "codec_jax:report")


def _scores_description(dedicated: bool) -> dict[str, Any]:
    return {
        "file": SCORES_FILE,
        "trees": {"test": "the test jets (Z' then QCD)", "sculpting": "the QCD sculpting jets"},
        "sample_codes": SAMPLE_CODES,
        "sculpting_source": "dedicated QCD sample" if dedicated else "QCD test jets",
        "branches": "label, weight, jet_pt, jet_msd, sample, score__<model>__seed<k> (seed 'fixed' for N2, "
        "N2_DDT; n2_ddt_wp@<percent>: its map of another working point)",
    }
