"""The config of the CoDec tagging study: its models, the penalty scans, the claims, the checks.

Models are named in ``CodecTaggingConfig.models``: the fixed ones of :data:`MODELS` and the
decorrelation-penalty scan models ``<penalty>_flat_w<weight>`` (:func:`scan_model_name`, e.g.
``mode0_flat_w30``), trained with the settings of ``penalty_scan`` (:class:`PenaltyScanConfig`).
:func:`model_spec` resolves either kind to a :class:`TaggerSpec`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import losses
from codec_jax.config import StrictFields
from codec_jax.errors import ConfigError
from codec_jax.losses.decorrelation import MODE_FITS
from codec_jax.metrics.claims import ClaimRule
from codec_jax.pairing.same_class import PAIR_MASS_MODES
from codec_jax.plots import PlotSettings
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

__all__ = [
    "TaggerSpec",
    "MODELS",
    "PENALTIES",
    "POSITIVES",
    "OBSERVABLE_RUN",
    "PenaltyScanConfig",
    "ClaimsConfig",
    "CodecTaggingConfig",
    "check_config",
    "contrastive_loss",
    "mass_bin_edges",
    "model_spec",
    "scan_model_name",
]


@dataclasses.dataclass(frozen=True)
class TaggerSpec:
    """How a model of the study is made: ``kind`` ``supervised`` (BCE, optionally with the
    ``decorrelation`` penalty ``mode0``/``mode1``/``disco``), ``contrastive`` (``loss``
    pretraining, then a frozen-encoder head) or ``observable`` (N2, N2_DDT); ``training_set`` is
    a set of :data:`codec_jax.studies.common.codec_samples.TRAINING_SETS`; ``penalty_weight`` is
    set for the penalty-scan models (trained with ``penalty_scan``), None for the others."""

    kind: str
    training_set: str = ""
    loss: str = ""
    decorrelation: str = "none"
    penalty_weight: float | None = None


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
    "n2_ddt_wp": TaggerSpec("observable"),
}
#: The penalties of the scan models ``<penalty>_flat_w<weight>``.
PENALTIES: tuple[str, ...] = ("mode0", "mode1", "disco")
_SCAN_NAME = re.compile(r"^(?P<penalty>mode0|mode1|disco)_flat_w(?P<weight>[0-9]+(?:\.[0-9]+)?)$")
#: Positive pairs of the contrastive pretraining: name -> (same-class pairs, augmented views).
POSITIVES: dict[str, tuple[bool, bool]] = {
    "augment": (False, True),
    "same_class": (True, False),
    "both": (True, True),
}
#: Keys of the per-seed runs of the (seedless) observables.
OBSERVABLE_RUN = "fixed"


def scan_model_name(penalty: str, weight: float) -> str:
    """``scan_model_name("mode0", 30) == "mode0_flat_w30"`` (the weight as ``%g``)."""
    if penalty not in PENALTIES:
        raise ConfigError(f"penalty {penalty!r}; expected one of {PENALTIES}")
    return f"{penalty}_flat_w{float(weight):g}"


def model_spec(name: str) -> TaggerSpec:
    """The :class:`TaggerSpec` of a model of :data:`MODELS` or of a scan model.

    Raises:
        ConfigError: an unknown name.
    """
    if name in MODELS:
        return MODELS[name]
    match = _SCAN_NAME.match(name)
    if match is None:
        raise ConfigError(
            f"models: unknown [{name!r}]; expected names from {list(MODELS)} or scan models "
            "<mode0|mode1|disco>_flat_w<weight> (e.g. mode0_flat_w30)"
        )
    return TaggerSpec(
        "supervised", "flat_1d", decorrelation=match["penalty"], penalty_weight=float(match["weight"])
    )


@dataclasses.dataclass
class PenaltyScanConfig(StrictFields):
    """How the penalty-scan models ``<penalty>_flat_w<weight>`` train (everything else comes from
    the ``classifier`` template).

    background_per_step: QCD jets the penalty sees per step; the batch is the smallest multiple
    of 64 whose QCD count is at least this, three standard deviations below its mean, for the
    QCD fraction of the ``flat_1d`` training set. epochs / learning_rate: of these trainings
    (few steps per epoch at a large batch). mode_kwargs / disco_kwargs: the penalties' keyword
    arguments (:func:`codec_jax.losses.mode`, the order from the name; :func:`codec_jax.losses.disco`).
    max_seeds: train the scan on the first ``max_seeds`` study seeds only (0 = all).
    """

    background_per_step: int = 1024
    epochs: int = 60
    learning_rate: float = 3e-3
    mode_kwargs: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"mass_bins": 16, "fit": "uniform"}
    )
    disco_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_seeds: int = 0


@dataclasses.dataclass
class ClaimsConfig(StrictFields):
    """The claims and their rule, fixed before the run.

    threshold: n_sigma of the verdict rule (:class:`~codec_jax.metrics.ClaimRule`);
    bootstrap_resamples / bootstrap_seed: the paired bootstrap over the test and sculpting jets;
    contrastive_models: the flat contrastive models the claims are made for; auc_margin: the AUC
    claim holds if the contrastive model's AUC is at most this much below that of the MoDe[0]
    scan point of matching decorrelation (the talk: 0.85 vs 0.86).
    """

    threshold: float = 3.0
    bootstrap_resamples: int = 200
    bootstrap_seed: int = 0
    contrastive_models: tuple[str, ...] = ("vicreg_flat",)
    auc_margin: float = 0.01

    @property
    def rule(self) -> ClaimRule:
        return ClaimRule(threshold=float(self.threshold))


@dataclasses.dataclass
class CodecTaggingConfig(StrictFields):
    """The whole study (see :mod:`codec_jax.studies.codec_tagging.study`; sizes and presets in
    configs/codec_tagging.py).

    samples: the CoDec samples and sets (``samples.n_sculpting``: the dedicated QCD sculpting
    sample); models: names of :data:`MODELS` and scan models (:func:`model_spec`); seeds:
    training seeds; classifier: engine config template of the supervised taggers (its ``model``
    is the encoder of every ML model; data files, decorrelation and seed are filled in per run);
    pretrain: template of the contrastive pretraining (``loss``: ``name="vicreg"`` with ``kwargs``
    the VICReg weights, the loss of vicreg_flat and vicreg_peaky; its model is derived: the
    classifier's encoder with ``output_dim=latent_dim`` and a single linear projector layer);
    head: template of the head on the pretrained encoder; latent_dim: size of the contrastive
    latent space; positives: :data:`POSITIVES`; partner_mass: ``any``, ``different`` (partner
    from another mass cell of the flattening) or ``similar`` (one of the ``similar_ranks``
    nearest same-class jets in mass rank on each side); pairs_per_jet: same-class pairs per
    training jet; augmentations / augmentation_kwargs: of the augmented views; barlow_kwargs:
    the Barlow Twins loss of barlow_flat; mode_weight / mode_kwargs, disco_weight / disco_kwargs:
    the penalties of mode0_flat, mode1_flat, disco_flat (the classifier's batch); penalty_scan:
    the scan models (:class:`PenaltyScanConfig`); ddt: keyword arguments of
    :func:`codec_jax.baselines.ddt.build_ddt_map` (``quantile`` is that of n2_ddt; n2_ddt_wp
    chooses its own per working point); working_points: Z' efficiencies of R and 1/JSD;
    spectrum_efficiencies: Z' efficiencies of the QCD mass spectra after cuts; jsd_bins: equal
    soft-drop-mass bins over ``samples.mass_range``; floor_trials: random cuts of the 1/JSD
    floor and of the excess JSD; claims: :class:`ClaimsConfig`.
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
    similar_ranks: int = 5
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
    penalty_scan: PenaltyScanConfig = dataclasses.field(default_factory=PenaltyScanConfig)
    ddt: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"quantile": 0.26, "rho_bins": 12, "pt_bins": 3, "min_jets_per_bin": 30}
    )
    working_points: tuple[float, ...] = (0.5, 0.3)
    spectrum_efficiencies: tuple[float, ...] = (0.9, 0.7, 0.5, 0.3, 0.1)
    jsd_bins: int = 8
    floor_trials: int = 20
    claims: ClaimsConfig = dataclasses.field(default_factory=ClaimsConfig)
    plots: PlotSettings = dataclasses.field(default_factory=PlotSettings)


def mass_bin_edges(config: CodecTaggingConfig) -> np.ndarray:
    """``[jsd_bins + 1]`` equal soft-drop-mass bin edges [GeV] over ``samples.mass_range``."""
    low, high = config.samples.mass_range
    return np.linspace(float(low), float(high), int(config.jsd_bins) + 1)


def contrastive_loss(config: CodecTaggingConfig, loss: str) -> tuple[str, dict[str, Any]]:
    """Name and keyword arguments of the pretraining loss of a contrastive model (its
    ``TaggerSpec.loss``): ``pretrain.loss`` for VICReg, ``barlow_kwargs`` for Barlow Twins."""
    if loss == "barlow_twins":
        return loss, dict(config.barlow_kwargs)
    return config.pretrain.loss.name, dict(config.pretrain.loss.kwargs)


def penalty_kwargs(config: CodecTaggingConfig, model: str) -> tuple[str, float, dict[str, Any]]:
    """``(registry name, weight, keyword arguments)`` of the decorrelation penalty of a
    supervised model (``("none", 0.0, {})`` without one)."""
    spec = model_spec(model)
    scan = spec.penalty_weight is not None
    if spec.decorrelation.startswith("mode"):
        kwargs = config.penalty_scan.mode_kwargs if scan else config.mode_kwargs
        weight = spec.penalty_weight if scan else config.mode_weight
        return "mode", float(weight), {**kwargs, "order": int(spec.decorrelation[len("mode") :])}
    if spec.decorrelation == "disco":
        kwargs = config.penalty_scan.disco_kwargs if scan else config.disco_kwargs
        weight = spec.penalty_weight if scan else config.disco_weight
        return "disco", float(weight), dict(kwargs)
    return "none", 0.0, {}


def check_config(config: CodecTaggingConfig) -> None:
    """Fail early, with the key to change, on a config the study cannot run."""
    if not config.models:
        raise ConfigError("models is empty: name at least one model of the study")
    specs = [model_spec(model) for model in config.models]  # raises on unknown names
    if len(set(config.models)) != len(config.models):
        raise ConfigError(f"models lists a model twice: {list(config.models)}")
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
    if config.latent_dim < 1 or config.pairs_per_jet < 1 or config.jsd_bins < 2 or config.similar_ranks < 1:
        raise ConfigError("latent_dim, pairs_per_jet and similar_ranks must be >= 1 and jsd_bins >= 2")
    points = (*config.working_points, *config.spectrum_efficiencies)
    if not config.working_points or any(not 0.0 < point <= 1.0 for point in points):
        raise ConfigError(
            f"working_points / spectrum_efficiencies must be non-empty efficiencies in (0, 1], got {points}"
        )
    scan = config.penalty_scan
    if any(spec.penalty_weight is not None for spec in specs) and (
        scan.background_per_step < 1 or scan.epochs < 1 or scan.learning_rate <= 0 or scan.max_seeds < 0
    ):
        raise ConfigError(
            "penalty_scan: background_per_step and epochs must be >= 1, learning_rate > 0, max_seeds >= 0"
        )
    claims = config.claims
    try:
        claims.rule  # noqa: B018 (validates the threshold)
    except ConfigError as error:
        raise ConfigError(f"claims.threshold: {error}") from None
    if claims.bootstrap_resamples < 2 or claims.auc_margin < 0:
        raise ConfigError("claims.bootstrap_resamples must be >= 2 and claims.auc_margin >= 0")
    _check_losses(config, specs)


def _check_losses(config: CodecTaggingConfig, specs: Sequence[TaggerSpec]) -> None:
    if config.classifier.loss.name != "bce" or config.head.loss.name != "bce":
        raise ConfigError("classifier.loss.name and head.loss.name must be 'bce' (a tagger)")
    if config.pretrain.loss.name != "vicreg":
        raise ConfigError(
            f"pretrain.loss.name={config.pretrain.loss.name!r}: the pretraining template is the VICReg loss "
            "of vicreg_flat / vicreg_peaky (barlow_flat takes barlow_twins with barlow_kwargs)"
        )
    for prefix, loss in (("pretrain.", "vicreg"), ("barlow_kwargs -> ", "barlow_twins")):
        name, kwargs = contrastive_loss(config, loss)
        try:  # the one check of the kwargs: the engine's, run early
            losses.configured_loss(name, "pretrain", kwargs)
        except ConfigError as error:
            raise ConfigError(f"{prefix}{error}") from None
    for model in config.models:
        name, _, kwargs = penalty_kwargs(config, model)
        if name != "none":
            try:
                losses.configured_loss(name, "penalty", kwargs)
                if name == "mode" and kwargs.get("fit", "count") not in MODE_FITS:
                    raise ConfigError(f"fit={kwargs['fit']!r}; expected one of {MODE_FITS}")
            except ConfigError as error:
                where = "penalty_scan" if model_spec(model).penalty_weight is not None else f"{name}_kwargs"
                raise ConfigError(f"{where} ({model}): {error}") from None
