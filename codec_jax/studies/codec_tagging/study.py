"""The CoDec tagging study: Z' vs QCD taggers, their performance and how much they sculpt the QCD
jet-mass spectrum.

Every machine-learned tagger uses the same particle-level encoder (``classifier.model``; Deep Sets
by default) and is evaluated on the same test jets (wide Z' with flat-spectrum weights, QCD with its
natural falling spectrum; :mod:`codec_jax.studies.common.codec_samples`). The models (:data:`MODELS`,
chosen with ``models``):

* ``supervised_peaky`` / ``supervised_flat_1d`` / ``supervised_flat_2d`` -- BCE on the peaky set
  (narrow Z') or on the flat set (1D: mass; 2D: mass and pT), with the sets' residual weights;
* ``vicreg_flat`` / ``barlow_flat`` (and ``vicreg_peaky``) -- CoDec: contrastive pretraining
  (VICReg / Barlow Twins, no labels in the loss and never the mass) of the encoder into a
  ``latent_dim``-dimensional space (the encoder output, followed by one linear projector layer of
  the same size, on which the loss acts), then a small head on the frozen latent (``head``);
  positives (``positives``): ``augment`` -- each jet twice, both views augmented;
  ``same_class`` -- pairs of two jets of the same class (``partner_mass="different"``: from
  another soft-drop mass cell of the flattening, :mod:`codec_jax.pairing.same_class`);
  ``both`` -- same-class pairs, each view also augmented;
* ``mode0_flat`` / ``mode1_flat`` / ``disco_flat`` -- BCE plus the MoDe[0], MoDe[1] or DisCo
  penalty on the QCD jets of the flat 1D set (``mode_weight`` / ``disco_weight``);
* ``n2`` / ``n2_ddt`` -- the observables (score ``-N2`` and ``-N2_DDT``, the DDT map measured on
  the QCD training rows with the settings ``ddt`` of :func:`codec_jax.baselines.ddt.build_ddt_map`).

Each trained model runs once per seed of ``seeds`` (the samples, sets and pairs are shared).
Written under ``out``: ``config.json``, ``data/`` (the sets as ROOT files), ``pairs_<set>.npz``,
``n2_ddt_map.json`` / ``.png``, ``seed<S>/<model>/`` (engine run directories; contrastive models
also ``seed<S>/pretrain-<model>/``) with ``scores.npz`` once scored, and the report
(:mod:`codec_jax.studies.codec_tagging.report`). Rerunning the same config in the same ``out`` reuses
every finished run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import losses
from codec_jax.baselines.ddt import build_ddt_map
from codec_jax.baselines.plots import plot_ddt_map
from codec_jax.data.io import load_sample
from codec_jax.errors import ConfigError
from codec_jax.jets import concatenate
from codec_jax.pairing import load_pairs, save_pairs
from codec_jax.pairing.same_class import PAIR_MASS_MODES, same_class_pairs
from codec_jax.studies.codec_tagging.evaluation import TaggingTestSet, qcd_mass_spectrum, tagger_metrics
from codec_jax.studies.codec_tagging.report import write_tagging_report
from codec_jax.studies.common.cached_runs import finetune_and_score, prepare_study_dir, pretrain_once
from codec_jax.studies.common.codec_samples import CodecSamplesConfig, codec_sets
from codec_jax.studies.common.config import study_to_json
from codec_jax.studies.common.evaluation import ClassifierScorer

__all__ = ["TaggerSpec", "MODELS", "POSITIVES", "CodecTaggingConfig", "mass_bin_edges", "run_codec_tagging"]


@dataclasses.dataclass(frozen=True)
class TaggerSpec:
    """How a model of the study is made: ``kind`` ``supervised`` (BCE, optionally with the
    ``decorrelation`` penalty ``mode0``/``mode1``/``disco``), ``contrastive`` (``loss``
    pretraining, then a frozen-encoder head) or ``observable`` (N2, N2_DDT); ``training_set`` is
    a set of :data:`codec_jax.studies.common.codec_samples.TRAINING_SETS`."""

    kind: str
    training_set: str = ""
    loss: str = ""
    decorrelation: str = "none"


MODELS: dict[str, TaggerSpec] = {
    "supervised_peaky": TaggerSpec("supervised", "peaky"),
    "supervised_flat_1d": TaggerSpec("supervised", "flat_1d"),
    "supervised_flat_2d": TaggerSpec("supervised", "flat_2d"),
    "vicreg_flat": TaggerSpec("contrastive", "flat_1d", loss="vicreg"),
    "barlow_flat": TaggerSpec("contrastive", "flat_1d", loss="barlow_twins"),
    "vicreg_peaky": TaggerSpec("contrastive", "peaky", loss="vicreg"),
    "mode0_flat": TaggerSpec("supervised", "flat_1d", decorrelation="mode0"),
    "mode1_flat": TaggerSpec("supervised", "flat_1d", decorrelation="mode1"),
    "disco_flat": TaggerSpec("supervised", "flat_1d", decorrelation="disco"),
    "n2": TaggerSpec("observable"),
    "n2_ddt": TaggerSpec("observable"),
}
#: Positive pairs of the contrastive pretraining: name -> (same-class pairs, augmented views).
POSITIVES: dict[str, tuple[bool, bool]] = {
    "augment": (False, True),
    "same_class": (True, False),
    "both": (True, True),
}
#: Keys of the per-seed runs of the (seedless) observables.
OBSERVABLE_RUN = "fixed"


@dataclasses.dataclass
class CodecTaggingConfig:
    """The whole study (see the module docstring; sizes and presets in configs/codec_tagging.py).

    samples: the CoDec samples and sets; models: which of :data:`MODELS`; seeds: training seeds;
    classifier: engine config template of the supervised taggers (its ``model`` -- encoder,
    encoder_kwargs, head_dims -- is the encoder of every ML model; data files, decorrelation and
    seed are filled in per run); pretrain: template of the contrastive pretraining (optimizer,
    training, and ``loss``: ``name="vicreg"`` with ``kwargs`` the VICReg weights ``sim_weight``,
    ``var_weight``, ``cov_weight`` -- default 25/25/1, the talk's 1/1/5 was unstable with
    same-class pairs in a 4-d latent, see docs/codec.md -- the loss of vicreg_flat and
    vicreg_peaky; its model is derived: the classifier's encoder with ``output_dim=latent_dim``
    and a single linear projector layer of ``latent_dim``);
    head: template of the head on the pretrained encoder (head_dims, optimizer, training,
    ``finetune.level``, normally ``frozen``); latent_dim: size of the contrastive latent space;
    positives: :data:`POSITIVES`; partner_mass: ``any`` or ``different`` (partner from another
    mass cell of the flattening); pairs_per_jet: same-class pairs per training jet;
    augmentations / augmentation_kwargs: of the augmented views; barlow_kwargs: the keyword
    arguments of the Barlow Twins loss of barlow_flat (``off_diagonal_weight``), which otherwise
    pretrains with the ``pretrain`` template; mode_weight / mode_kwargs, disco_weight / disco_kwargs: the
    decorrelation penalties (:func:`codec_jax.losses.mode`, :func:`codec_jax.losses.disco`; the
    MoDe order comes from the model name); ddt: keyword arguments of
    :func:`codec_jax.baselines.ddt.build_ddt_map`; working_points: Z' efficiencies of R and 1/JSD;
    spectrum_efficiencies: Z' efficiencies of the QCD mass spectra after cuts; jsd_bins: equal
    soft-drop-mass bins over ``samples.mass_range`` of every mass histogram; floor_trials: random
    cuts of the 1/JSD floor.
    """

    name: str = "codec_tagging"
    study: str = "codec_tagging"
    samples: CodecSamplesConfig = dataclasses.field(default_factory=CodecSamplesConfig)
    models: tuple[str, ...] = tuple(MODELS)
    seeds: tuple[int, ...] = (0, 1, 2)
    classifier: config_lib.Config = dataclasses.field(default_factory=config_lib.Config)
    pretrain: config_lib.Config = dataclasses.field(default_factory=config_lib.Config)
    head: config_lib.Config = dataclasses.field(default_factory=config_lib.Config)
    latent_dim: int = 4
    positives: str = "both"
    partner_mass: str = "different"
    pairs_per_jet: int = 2
    augmentations: tuple[str, ...] = ("rotate", "smear")
    augmentation_kwargs: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"smear": {"strength": 0.1}}
    )
    barlow_kwargs: dict[str, Any] = dataclasses.field(default_factory=lambda: {"off_diagonal_weight": 0.1})
    mode_weight: float = 10.0
    mode_kwargs: dict[str, Any] = dataclasses.field(default_factory=lambda: {"mass_bins": 8})
    disco_weight: float = 3.0
    disco_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    ddt: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"quantile": 0.26, "rho_bins": 12, "pt_bins": 3, "min_jets_per_bin": 30}
    )
    working_points: tuple[float, ...] = (0.5, 0.3)
    spectrum_efficiencies: tuple[float, ...] = (0.9, 0.7, 0.5, 0.3, 0.1)
    jsd_bins: int = 8
    floor_trials: int = 20


def mass_bin_edges(config: CodecTaggingConfig) -> np.ndarray:
    """``[jsd_bins + 1]`` equal soft-drop-mass bin edges [GeV] over ``samples.mass_range``."""
    low, high = config.samples.mass_range
    return np.linspace(float(low), float(high), int(config.jsd_bins) + 1)


def _check(config: CodecTaggingConfig) -> None:
    unknown = sorted(set(config.models) - set(MODELS))
    if unknown:
        raise ConfigError(f"models: unknown {unknown}; expected names from {list(MODELS)}")
    if not config.models:
        raise ConfigError("models is empty: name at least one model of the study")
    if not config.seeds:
        raise ConfigError("seeds is empty: give at least one training seed")
    if config.positives not in POSITIVES:
        raise ConfigError(f"positives={config.positives!r}; expected one of {sorted(POSITIVES)}")
    if POSITIVES[config.positives][1] and not config.augmentations:
        raise ConfigError(
            f"positives={config.positives!r} augments the views: list augmentations (e.g. rotate,smear)"
        )

    if config.partner_mass not in PAIR_MASS_MODES:
        raise ConfigError(f"partner_mass={config.partner_mass!r}; expected one of {PAIR_MASS_MODES}")
    if config.latent_dim < 1 or config.pairs_per_jet < 1 or config.jsd_bins < 2:
        raise ConfigError("latent_dim and pairs_per_jet must be >= 1 and jsd_bins >= 2")
    points = (*config.working_points, *config.spectrum_efficiencies)
    if not config.working_points or any(not 0.0 < point <= 1.0 for point in points):
        raise ConfigError(
            f"working_points / spectrum_efficiencies must be non-empty efficiencies in (0, 1], got {points}"
        )
    _check_losses(config)


def _check_losses(config: CodecTaggingConfig) -> None:
    if config.classifier.loss.name != "bce" or config.head.loss.name != "bce":
        raise ConfigError("classifier.loss.name and head.loss.name must be 'bce' (a tagger)")
    if config.pretrain.loss.name != "vicreg":
        raise ConfigError(
            f"pretrain.loss.name={config.pretrain.loss.name!r}: the pretraining template is the VICReg loss "
            "of vicreg_flat / vicreg_peaky (barlow_flat takes barlow_twins with barlow_kwargs)"
        )
    for prefix, loss in (("pretrain.", "vicreg"), ("barlow_kwargs -> ", "barlow_twins")):
        name, kwargs = _contrastive_loss(config, loss)
        try:  # the one check of the kwargs: the engine's, run early
            losses.configured_loss(name, "pretrain", kwargs)
        except ConfigError as error:
            raise ConfigError(f"{prefix}{error}") from None


def _contrastive_loss(config: CodecTaggingConfig, loss: str) -> tuple[str, dict[str, Any]]:
    """Name and keyword arguments of the pretraining loss of a contrastive model (its
    ``TaggerSpec.loss``): ``pretrain.loss`` for VICReg, ``barlow_kwargs`` for Barlow Twins."""
    if loss == "barlow_twins":
        return loss, dict(config.barlow_kwargs)
    return config.pretrain.loss.name, dict(config.pretrain.loss.kwargs)


# --------------------------------------------------------------------------- engine run configs
def _set_files(sets, training_set: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    files = sets.files[training_set]
    return (str(files["train"]),), (str(files["validation"]),)


def _classifier_config(config: CodecTaggingConfig, model: str, seed: int, sets) -> config_lib.Config:
    spec = MODELS[model]
    run = config_lib.apply_overrides(config.classifier, [])
    run.name = f"{config.name}/{model}/seed{seed}"
    run.training.seed = seed
    run.data.train, run.data.validation = _set_files(sets, spec.training_set)
    run.data.target, run.data.mass_field = "label", "msd"
    run.finetune.level = "full"
    if spec.decorrelation.startswith("mode"):
        order = int(spec.decorrelation[len("mode") :])
        run.loss.decorrelation, run.loss.decorrelation_weight = "mode", config.mode_weight
        run.loss.decorrelation_kwargs = {**config.mode_kwargs, "order": order}
    elif spec.decorrelation == "disco":
        run.loss.decorrelation, run.loss.decorrelation_weight = "disco", config.disco_weight
        run.loss.decorrelation_kwargs = dict(config.disco_kwargs)
    return run


def _pretrain_config(
    config: CodecTaggingConfig, model: str, seed: int, sets, pairs_path: str
) -> config_lib.Config:
    spec = MODELS[model]
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
    run.loss.name, run.loss.kwargs = _contrastive_loss(config, spec.loss)
    run.loss.augmentations = tuple(config.augmentations) if uses_augmentations else ()
    run.loss.augmentation_kwargs = dict(config.augmentation_kwargs) if uses_augmentations else {}
    return run


def _head_config(config: CodecTaggingConfig, model: str, seed: int, sets) -> config_lib.Config:
    run = config_lib.apply_overrides(config.head, [])
    run.name = f"{config.name}/{model}/seed{seed}"
    run.training.seed = seed
    run.data.train, run.data.validation = _set_files(sets, MODELS[model].training_set)
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
        )
        save_pairs(pairs, path)
    return {"path": str(path), **pairs.settings}


# --------------------------------------------------------------------------- the study
def _observable_scores(config: CodecTaggingConfig, sets, test_sample, out: Path) -> dict[str, np.ndarray]:
    """``-N2`` and ``-N2_DDT`` of the test jets (higher = more Z'-like); writes the DDT map."""

    scores = {"n2": -test_sample.n2.astype(np.float64)}
    if "n2_ddt" in config.models:
        try:
            ddt_map = build_ddt_map(sets.raw["qcd"]["train"], **config.ddt)
        except TypeError as error:
            raise ConfigError(f"ddt: {error}") from None
        ddt_map.save(out / "n2_ddt_map.json")
        plot_ddt_map(ddt_map, out / "n2_ddt_map.png")
        scores["n2_ddt"] = -ddt_map.transform(test_sample).astype(np.float64)
    return scores


def run_codec_tagging(config: CodecTaggingConfig, out: str | os.PathLike) -> dict[str, Any]:
    """Run the whole study into ``out`` and write its report; returns the metrics dict (the
    content of ``out/metrics.json``)."""

    _check(config)
    out = Path(out)
    prepare_study_dir(config, out)
    sets = codec_sets(config.samples, out / "data", progress=config.classifier.training.progress)
    test_sample = concatenate([sets.test_signal, sets.test_background])
    test = TaggingTestSet(test_sample.label, test_sample.weight, test_sample.msd, mass_bin_edges(config))
    evaluate = dict(
        working_points=config.working_points,
        spectrum_efficiencies=config.spectrum_efficiencies,
        floor_trials=config.floor_trials,
    )
    runs: dict[str, dict[str, Any]] = {model: {} for model in config.models}
    observables = [model for model in config.models if MODELS[model].kind == "observable"]
    if observables:
        scores = _observable_scores(config, sets, test_sample, out)
        for model in observables:
            runs[model][OBSERVABLE_RUN] = tagger_metrics(scores[model], test, **evaluate)

    uses_pairs = POSITIVES[config.positives][0]
    contrastive_sets = {MODELS[m].training_set for m in config.models if MODELS[m].kind == "contrastive"}
    pairs = {name: _pairs(config, sets, name, out) for name in sorted(contrastive_sets)} if uses_pairs else {}
    scorer = ClassifierScorer()

    def score_fn(with_latent: bool):
        def score(params, items):
            result = {"test": scorer.score(params, items, test_sample)}
            if with_latent:
                result["latent"] = scorer.embed(params, items, test_sample)
            return result

        return score

    timings: dict[str, float] = {}
    for seed in config.seeds:
        seed_dir = out / f"seed{seed}"
        for model in config.models:
            spec = MODELS[model]
            if spec.kind == "supervised":
                run = _classifier_config(config, model, seed, sets)
                scores = finetune_and_score(run, seed_dir / model, None, score_fn(False))
            elif spec.kind == "contrastive":
                pretrain_dir = seed_dir / f"pretrain-{model}"
                path = pairs.get(spec.training_set, {}).get("path", "")
                run = _pretrain_config(config, model, seed, sets, path)
                timings[f"seed{seed}/pretrain-{model}"] = pretrain_once(run, pretrain_dir)
                run = _head_config(config, model, seed, sets)
                scores = finetune_and_score(run, seed_dir / model, pretrain_dir, score_fn(True))
            else:
                continue
            timings[f"seed{seed}/{model}"] = float(scores["train_seconds"])
            runs[model][str(seed)] = tagger_metrics(
                scores["test"], test, latent=scores.get("latent"), seed=seed, **evaluate
            )
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
    )
