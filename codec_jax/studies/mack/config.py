"""The MACK study's configuration: what is trained, which controls, how it is measured and decided.

Presets live in configs/mack.py; every field can be overridden with ``--set`` (docs/mack.md).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from codec_jax import config as config_lib
from codec_jax.config import StrictFields
from codec_jax.errors import ConfigError
from codec_jax.pairing import PairingConfig
from codec_jax.plots import PlotSettings
from codec_jax.studies.mack.controls import RANDOM_ENCODER, ladder_name, noisy_name
from codec_jax.studies.mack.samples import SamplesConfig

__all__ = [
    "Pretraining",
    "PRETRAININGS",
    "SUPERVISED",
    "ControlsConfig",
    "MeasurementConfig",
    "MackConfig",
    "mack_model_names",
    "control_names",
    "model_names",
    "check_config",
]


@dataclasses.dataclass(frozen=True)
class Pretraining:
    """A pretraining variant: ``pairs`` -- ``"emd"`` (positive pairs with EMD below the cutoff),
    ``"oracle"`` (true partners of same-hard-event samples) or ``""`` (each nominal jet twice);
    ``augment`` -- both views augmented; ``align`` -- add the study's distribution-alignment term
    between the projections of nominal and (unpaired) alternate jets (docs/ot.md)."""

    pairs: str
    augment: bool
    align: bool = False


PRETRAININGS: dict[str, Pretraining] = {
    "emd_pairs": Pretraining("emd", False),
    "emd_pairs_aug": Pretraining("emd", True),
    "aug_only": Pretraining("", True),
    "oracle_pairs": Pretraining("oracle", False),
    "ot_align": Pretraining("", True, align=True),
}
SUPERVISED = "supervised"


@dataclasses.dataclass
class ControlsConfig(StrictFields):
    """Taggers without a robustness mechanism, of chosen power, that trace the robustness-power
    frontier (:mod:`codec_jax.studies.mack.controls`).

    noisy_supervised: ``noisy_supervised@<model>`` for every MACK model (the supervised score plus
    Gaussian noise matched to the model's validation AUC; needs ``supervised``; trains nothing);
    ladder_fractions: a supervised tagger of the same architecture trained on each fraction of
    the training jets (``supervised_f<fraction>``); random_encoder: ``random_encoder/frozen``, a
    head trained on a randomly initialised, frozen encoder.
    """

    noisy_supervised: bool = True
    ladder_fractions: tuple[float, ...] = (0.03, 0.1, 0.3)
    random_encoder: bool = True


@dataclasses.dataclass
class MeasurementConfig(StrictFields):
    """How the study measures and decides, fixed before the run.

    matched_points: nominal QCD efficiencies of the matched working points (delta eps_QCD /
    eps_QCD at a threshold keeping that fraction of the nominal QCD jets); bootstrap: paired,
    stratified bootstrap resamples over the test jets; bootstrap_seed; claim_sigma: the verdict
    rule (supported at n_sigma >= claim_sigma in the claimed direction, contradicted at <= -it);
    partner_candidates / partner_jets: random candidates per jet and jets of the partner-recovery
    measurement (same-hard-event samples only).
    """

    matched_points: tuple[float, ...] = (0.1, 0.3)
    bootstrap: int = 200
    bootstrap_seed: int = 0
    claim_sigma: float = 3.0
    partner_candidates: int = 10
    partner_jets: int = 2000


@dataclasses.dataclass
class MackConfig(StrictFields):
    """The whole study.

    samples: what is generated and how it is split; pairing: the positive-pair search
    (:class:`codec_jax.pairing.PairingConfig`, passed to ``find_pairs`` as it is); pretrain: the
    engine config template of the pretraining runs (model, VICReg loss, optimizer, training -- its
    data files, augmentations and seed are filled in per run); classifier: the template of the
    classifier runs (head, BCE, optimizer, training; encoder taken from ``pretrain``);
    augmentations / augmentation_kwargs: used by the augmented pretrainings; pretrainings: which
    of :data:`PRETRAININGS`; finetune_levels: classifier levels on each; supervised: train the
    supervised baseline; controls: :class:`ControlsConfig`; seeds: training seeds (the samples and
    pairs are shared); working_points: Z' efficiencies at which fractional changes are reported;
    measurement: :class:`MeasurementConfig`.
    alignment / alignment_weight / alignment_kwargs: the distribution-alignment term of the
    ``ot_align`` pretraining (``loss.alignment*`` of its runs; docs/ot.md); plots: figure style
    and file formats (:class:`codec_jax.plots.PlotSettings`, e.g. ``plots.style=CMS``).

    A study directory may be extended (:func:`codec_jax.studies.common.cached_runs.prepare_study_dir`)
    by changing only :attr:`EXTENSIBLE_FIELDS`: which models, seeds and controls are trained and
    how they are measured; samples, pairing and the run templates are fixed for a directory.
    """

    EXTENSIBLE_FIELDS: typing.ClassVar[tuple[str, ...]] = (
        "pretrainings",
        "finetune_levels",
        "supervised",
        "controls",
        "seeds",
        "working_points",
        "measurement",
        "plots",
    )

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
    controls: ControlsConfig = dataclasses.field(default_factory=ControlsConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    working_points: tuple[float, ...] = (0.5, 0.3)
    measurement: MeasurementConfig = dataclasses.field(default_factory=MeasurementConfig)
    alignment: str = "sinkhorn"
    alignment_weight: float = 25.0
    alignment_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    plots: PlotSettings = dataclasses.field(default_factory=PlotSettings)


def mack_model_names(config: MackConfig) -> list[str]:
    """The MACK classifiers: ``"<pretraining>/<level>"``."""
    return [
        f"{pretraining}/{level}" for pretraining in config.pretrainings for level in config.finetune_levels
    ]


def control_names(config: MackConfig) -> list[str]:
    """The controls: ``noisy_supervised@<model>``, ``supervised_f<fraction>`` and
    ``random_encoder/frozen`` (as configured)."""
    names = []
    if config.controls.noisy_supervised and config.supervised:
        names += [noisy_name(model) for model in mack_model_names(config)]
    names += [ladder_name(fraction) for fraction in config.controls.ladder_fractions]
    if config.controls.random_encoder:
        names.append(RANDOM_ENCODER)
    return names


def model_names(config: MackConfig) -> list[str]:
    """Every classifier of the study: the MACK models, ``"supervised"`` and the controls."""
    return mack_model_names(config) + ([SUPERVISED] if config.supervised else []) + control_names(config)


def check_config(config: MackConfig) -> None:
    """Refuse an inconsistent config before anything is generated or trained.

    Raises:
        ConfigError: naming the field at fault.
    """
    unknown = sorted(set(config.pretrainings) - set(PRETRAININGS))
    if unknown:
        raise ConfigError(f"pretrainings: unknown {unknown}; expected names from {sorted(PRETRAININGS)}")
    if not config.seeds:
        raise ConfigError("seeds is empty: give at least one training seed")
    if not mack_model_names(config) and not config.supervised:
        raise ConfigError(
            "the study trains no classifier: set pretrainings/finetune_levels or supervised=true"
        )
    if config.pretrain.loss.name not in ("vicreg", "barlow_twins", "ntxent"):
        raise ConfigError(f"pretrain.loss.name={config.pretrain.loss.name!r} is not a contrastive loss")
    uses_oracle = any(PRETRAININGS[p].pairs == "oracle" for p in config.pretrainings)
    if (uses_oracle or config.pairing.strategy == "oracle") and config.samples.source != "same_events":
        raise ConfigError(
            "oracle pairs need same-hard-event samples: set samples.source=same_events "
            f"(pretrainings={list(config.pretrainings)}, pairing.strategy={config.pairing.strategy!r})"
        )
    fractions = config.controls.ladder_fractions
    if any(not 0.0 < fraction < 1.0 for fraction in fractions) or len(set(fractions)) != len(fractions):
        raise ConfigError(f"controls.ladder_fractions must be distinct fractions in (0, 1), got {fractions}")
    measurement = config.measurement
    points = (*config.working_points, *measurement.matched_points)
    if not config.working_points or any(not 0.0 < point < 1.0 for point in points):
        raise ConfigError(f"working_points and measurement.matched_points must lie in (0, 1), got {points}")
    if measurement.bootstrap < 2 or measurement.claim_sigma <= 0:
        raise ConfigError("measurement.bootstrap must be >= 2 and measurement.claim_sigma > 0")
    config.pairing.validate()  # before the samples are generated
