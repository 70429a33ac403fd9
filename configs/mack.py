"""The MACK study: contrastive pretraining on nominal/alternate EMD pairs, robustness to the shower.

Run::

    codec-jax run configs/mack.py --preset smoke --out runs/mack_smoke    # ~3 min on 2 CPU cores
    codec-jax run configs/mack.py --out runs/mack                         # ~1.5 h on 2 CPU cores
    codec-jax run configs/mack.py --preset vincia --out runs/mack_vincia  # another shower model
    codec-jax run configs/mack.py --preset oracle --out runs/mack_oracle  # same-hard-event samples
    codec-jax run configs/mack.py --preset full --out runs/mack_full      # GPU
    codec-jax run configs/mack.py --out runs/mack_c30 --set pairing.cutoff=30 --set pairing.cutoff_quantile=none

Fields (documented in codec_jax/studies/mack/study.py, codec_jax/studies/mack/samples.py,
codec_jax/pairing/config.py and codec_jax/config.py; see docs/mack.md):

* samples: Z' (narrow, 100 GeV) and QCD jets, pT > 400 GeV, nominal Pythia 8 and the
  ``fsr_had_alt`` variant (FSR alpha_s 0.1365 -> 0.150 and softer Lund fragmentation) as the
  alternate, "data-like" sample; 30 particles.
* pairing: 11 random candidates per nominal QCD jet, exact EMD (R = 1, beta = 1, GeV:
  ``pairing.emd``), keep the 20% smallest (``pairing.cutoff=C`` in GeV with
  ``pairing.cutoff_quantile=none`` instead); background only (``include_signal``).
* pretrain: the MACK Interaction Network featurizer (edge 64-32-32, node 64-32-32,
  dense 128-128-64 -> 64) with a 64-64 projector; VICReg 25/25/1 with the invariance averaged over
  the 64 dimensions (MACK's script sums it, which collapses the embedding on EMD pairs: see
  docs/mack.md; ``--set pretrain.loss.kwargs.invariance=sum`` restores it).
* classifier: head 64-32-1 with BCE on the nominal sample, fine-tuning levels frozen / epochs:1 /
  full, and a supervised baseline of the same architecture.
* controls (no robustness mechanism): the supervised score plus noise matched to each MACK
  model's validation AUC, supervised taggers trained on 3%, 10% and 30% of the jets, and a frozen
  random encoder with a head; they trace the robustness-power frontier.
* measurement: |delta eps_QCD / eps_QCD| at eps_Z' = 0.5, 0.3 and at a nominal eps_QCD = 0.1, 0.3;
  errors from a paired bootstrap over the test jets (200 resamples) combined with the seed
  spread; claims decided at 3 sigma (``measurement.claim_sigma``).

Default size: 8,000 jets per sample split 45/15/40% (3,200 test jets per class and sample), 8
pretraining and 4 classifier epochs, 5 seeds, three pretrainings x three fine-tuning levels plus
the controls (the wall time measured on the 2-core machine is in docs/mack.md).
Preset ``vincia``: the default with the Vincia antenna shower as the alternate (a different
shower model rather than a parameter shift), EMD-pair and augmentation-only pretraining, frozen and
full fine-tuning. Preset ``oracle``: same-hard-event samples (nominal and fsr_had_alt jets
showered from the same hard events, so every jet has a known partner), pretraining on EMD pairs,
on the true partners (``oracle_pairs``, an upper bound) and on augmentations only; the report adds
how often the EMD finds the true partner.
Preset ``smoke``: 200 jets per sample, a small Deep Sets encoder, 6 epochs, 1 seed (checks the
pipeline; its numbers mean nothing). Preset ``demo`` (part of ``make demo``): 1,500 jets per
sample, a Deep Sets encoder, EMD-pair and augmentation-only pretraining, frozen and full
fine-tuning, 2 seeds -- a few minutes on 2 CPU cores. Preset ``full``: 100,000 jets per sample, batch 1024, early
stopping, 5 seeds -- for a GPU. Preset ``jetnet``: the default study on local JetNet HDF5 files
(30 particles) -- nominal q (background) vs W (signal), alternate g vs Z -- read from
``data/jetnet/{q,w,g,z}.hdf5``; point it elsewhere with ``--set samples.jetnet.qcd_nominal=PATH``
(names: qcd_nominal, zprime_nominal, qcd_alternate, zprime_alternate).
"""

from codec_jax.config import (
    Config,
    DataConfig,
    FinetuneConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    TrainingConfig,
)
from codec_jax.emd import EMDSettings
from codec_jax.errors import ConfigError
from codec_jax.studies.mack import ControlsConfig, MackConfig, MeasurementConfig, PairingConfig
from codec_jax.studies.mack.samples import SamplesConfig

PRESETS = ("smoke", "demo", "vincia", "oracle", "full", "jetnet")
JETNET_FILES = {
    "qcd_nominal": "data/jetnet/q.hdf5",
    "zprime_nominal": "data/jetnet/w.hdf5",
    "qcd_alternate": "data/jetnet/g.hdf5",
    "zprime_alternate": "data/jetnet/z.hdf5",
}


def get_config(preset=None):
    model = ModelConfig(encoder="interaction", projector_dims=(64, 64), head_dims=(64, 32))
    config = MackConfig(
        name="mack",
        samples=SamplesConfig(
            n_jets=8000,
            alternate_variant="fsr_had_alt",
            seed=1,
            max_particles=30,
            test_fraction=0.4,
            workers=2,
        ),
        pairing=PairingConfig(
            strategy="random",
            candidates=11,
            cutoff=None,
            cutoff_quantile=0.2,
            emd=EMDSettings(R=1.0, beta=1.0, norm=False),
        ),
        pretrain=Config(
            name="mack_pretrain",
            model=model,
            data=DataConfig(max_particles=30, inputs="particles", validation_fraction=0.2),
            loss=LossConfig(
                name="vicreg",
                kwargs={"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0, "invariance": "mean"},
            ),
            optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, warmup_epochs=0.5, end_fraction=0.01),
            training=TrainingConfig(epochs=8, batch_size=128, patience=0, keep_checkpoints=1),
        ),
        classifier=Config(
            name="mack_classifier",
            model=model,
            loss=LossConfig(name="bce"),
            optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, end_fraction=0.01),
            training=TrainingConfig(epochs=4, batch_size=128, patience=0, keep_checkpoints=1),
            finetune=FinetuneConfig(level="full"),
        ),
        augmentations=("rotate", "smear"),
        augmentation_kwargs={"smear": {"strength": 0.1}},
        pretrainings=("emd_pairs", "emd_pairs_aug", "aug_only", "ot_align"),
        alignment="sinkhorn",
        alignment_weight=25.0,
        controls=ControlsConfig(
            noisy_supervised=True, ladder_fractions=(0.03, 0.1, 0.3), random_encoder=True
        ),
        seeds=(0, 1, 2, 3, 4),
        working_points=(0.5, 0.3),
        measurement=MeasurementConfig(matched_points=(0.1, 0.3), bootstrap=200, claim_sigma=3.0),
    )
    if preset == "smoke":
        config.name = "mack_smoke"
        config.samples.n_jets = 200
        config.pairing.cutoff_quantile = 0.3
        small = ModelConfig(
            encoder="deepsets",
            encoder_kwargs={"particle_dims": (32, 32), "jet_dims": (32,), "output_dim": 16},
            projector_dims=(16, 16),
            head_dims=(16,),
        )
        for run in (config.pretrain, config.classifier):
            run.model = small
            run.training = TrainingConfig(
                epochs=6, batch_size=16, patience=0, keep_checkpoints=1, progress=False, devices=1
            )
            run.optimizer.learning_rate = 3e-3
        config.samples.workers = 1
        config.controls.ladder_fractions = (0.3,)
        config.measurement.bootstrap = 20
        config.measurement.partner_jets = 100
        config.seeds = (0,)
    elif preset == "demo":
        config.name = "mack_demo"
        config.samples.n_jets = 1500
        config.samples.workers = 2
        encoder = ModelConfig(
            encoder="deepsets",
            encoder_kwargs={"particle_dims": (64, 64), "jet_dims": (64,), "output_dim": 32},
            projector_dims=(32, 32),
            head_dims=(32, 16),
        )
        for run, epochs in ((config.pretrain, 12), (config.classifier, 8)):
            run.model = encoder
            run.training = TrainingConfig(epochs=epochs, batch_size=64, patience=0, keep_checkpoints=1)
            run.optimizer.learning_rate = 2e-3
        config.pretrainings = ("emd_pairs", "aug_only")
        config.finetune_levels = ("frozen", "full")
        config.controls.ladder_fractions = (0.1, 0.3)
        config.measurement.bootstrap = 100
        config.seeds = (0, 1)
    elif preset == "vincia":
        config.name = "mack_vincia"
        config.samples.alternate_variant = "vincia"
        config.pretrainings = ("emd_pairs", "aug_only")
        config.finetune_levels = ("frozen", "full")
    elif preset == "oracle":
        config.name = "mack_oracle"
        config.samples.source = "same_events"
        config.pretrainings = ("emd_pairs", "oracle_pairs", "aug_only")
        config.finetune_levels = ("frozen", "full")
    elif preset == "full":
        config.name = "mack_full"
        config.samples.n_jets = 100_000
        config.samples.workers = 16
        config.measurement.bootstrap = 500
        config.pretrain.training = TrainingConfig(epochs=50, batch_size=1024, patience=10, keep_checkpoints=2)
        config.classifier.training = TrainingConfig(
            epochs=30, batch_size=1024, patience=10, keep_checkpoints=2
        )
    elif preset == "jetnet":
        config.name = "mack_jetnet"
        config.samples.source = "jetnet"
        config.samples.jetnet = dict(JETNET_FILES)
    elif preset is not None:
        raise ConfigError(f"configs/mack.py has no preset {preset!r}; presets: {', '.join(PRESETS)}")
    return config
