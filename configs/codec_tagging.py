"""The CoDec tagging study: Z' vs QCD taggers trained on flat / peaky samples, contrastive latent
spaces, MoDe, DisCo, N2 and N2_DDT, and how much each sculpts the QCD jet-mass spectrum.

Run::

    codec-jax run configs/codec_tagging.py --preset smoke --out runs/codec_tagging_smoke   # 3-4 min
    codec-jax run configs/codec_tagging.py --out runs/codec_tagging                        # ~1 h, 2 CPU cores
    codec-jax run configs/codec_tagging.py --preset full --out runs/codec_tagging_full     # GPU
    codec-jax run configs/codec_tagging.py --out runs/tag_talk --set models=vicreg_flat,mode0_flat \
        --set 'pretrain.loss.kwargs={"sim_weight": 1, "var_weight": 1, "cov_weight": 5}'

Fields (documented in codec_jax/studies/codec_tagging.py and codec_jax/studies/common/codec_samples.py;
see docs/codec.md):

* samples: wide-width Z' (flat sets), QCD, narrow 100 GeV Z' (peaky set), nominal Pythia 8,
  30 particles, soft-drop mass window 40-200 GeV in 16 flattening cells (x 2 pT cells for
  flat_2d), at most 300 jets per cell and class; train/validation/test 60/15/25%; test: wide Z'
  weighted flat in mass and QCD with its natural spectrum.
* models: supervised_peaky, supervised_flat_1d, supervised_flat_2d, vicreg_flat, barlow_flat,
  vicreg_peaky, mode0_flat, mode1_flat, disco_flat, n2, n2_ddt (select with ``models=...``).
* classifier: the encoder of every ML model and the supervised taggers (BCE with the sets'
  weights): Deep Sets / PFN, particle MLP 64-64-64, jet MLP 64, 32-d output, head 32-32-1.
* pretrain: VICReg (``pretrain.loss.kwargs``: sim 25, var 25, cov 1; the talk's 1/1/5 was
  unstable here, see docs/codec.md) or, for barlow_flat, Barlow Twins (``barlow_kwargs``:
  off-diagonal 0.1) into a 4-d latent (encoder output 4, one linear 4-d projector layer);
  positives ``both``: pairs of same-class jets from different mass cells (2 per jet), each view
  rotated and smeared.
* head: 32-32-1 on the frozen encoder (``head.finetune.level=frozen``).
* MoDe[0]/MoDe[1] weight 10 with 8 equal-occupancy mass bins per batch; DisCo weight 3.
* N2_DDT: 26% QCD quantile map in 12 rho x 3 pT bins from the QCD training rows.
* metrics: R and 1/JSD at eps_Z' = 50% and 30%, 8 bins of 20 GeV in soft-drop mass (40-200 GeV),
  1/JSD floor from 20 random cuts; QCD spectra after cuts at eps_Z' = 90/70/50/30/10%.

Default size (this project's 2-core CPU machine): 10,000 wide Z', 30,000 QCD and 10,000 narrow Z'
generated (2 workers; ~10 min on idle cores at ~23 ms of CPU per jet, longer when the machine is
shared), giving flat_1d ~3,600 Z' + ~4,300 QCD training jets and ~1,560 Z' + ~2,700 QCD test
jets; batch 128; 20 epochs for the supervised taggers and the pretraining (2 pairs per jet), 10
for the heads; seeds 0, 1, 2. Estimated ~10 min of training per seed from per-epoch times
measured on a 3,000-jet set and a 2-seed run on 3,000/6,000/3,000 generated jets (docs/codec.md),
so about 45-60 min in all. The narrow Z' sample must be at least ~0.85 x the wide one (the peaky
set matches the flat set's Z' count in training and validation).
Preset ``smoke``: the tiny shared samples (CodecSamplesConfig.smoke()), a small Deep Sets, 3-4
epochs, one seed (checks the pipeline; its numbers mean nothing). Preset ``demo`` (part of ``make demo``): 3,000 wide Z', 9,000 QCD and
3,000 narrow Z', 8 flattening cells, seven models (supervised peaky / flat, VICReg, MoDe[0],
DisCo, N2, N2_DDT), 15 epochs, 2 seeds -- a few minutes on 2 CPU cores. Preset ``full``: 60,000 wide Z',
150,000 QCD, 55,000 narrow Z', the MACK Interaction Network encoder, batch 512, early stopping,
16 mass bins for 1/JSD, 5 seeds -- for a GPU.
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
from codec_jax.errors import ConfigError
from codec_jax.studies.codec_tagging import CodecTaggingConfig
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

PRESETS = ("smoke", "demo", "full")


def _training(epochs, batch_size, **extra):
    return TrainingConfig(epochs=epochs, batch_size=batch_size, patience=0, keep_checkpoints=1, **extra)


def get_config(preset=None):
    encoder_kwargs = {"particle_dims": (64, 64, 64), "jet_dims": (64,), "output_dim": 32}
    data = DataConfig(max_particles=30, inputs="particles")
    config = CodecTaggingConfig(
        name="codec_tagging",
        samples=CodecSamplesConfig(
            n_wide=10000,
            n_qcd=30000,
            n_peaky=10000,
            pt_bins=2,
            jets_per_cell=300,
            min_jets_per_cell=2,
            workers=2,
        ),
        classifier=Config(
            name="codec_classifier",
            model=ModelConfig(encoder="deepsets", encoder_kwargs=encoder_kwargs, head_dims=(32, 32)),
            data=data,
            loss=LossConfig(name="bce"),
            optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, warmup_epochs=0.5, end_fraction=0.01),
            training=_training(20, 128),
        ),
        pretrain=Config(
            name="codec_pretrain",
            data=data,
            loss=LossConfig(
                name="vicreg", kwargs={"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0}
            ),
            optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, warmup_epochs=0.5, end_fraction=0.01),
            training=_training(20, 128),
        ),
        head=Config(
            name="codec_head",
            model=ModelConfig(head_dims=(32, 32)),
            data=data,
            loss=LossConfig(name="bce"),
            optimizer=OptimizerConfig(name="adam", learning_rate=3e-3, end_fraction=0.01),
            training=_training(10, 128),
            finetune=FinetuneConfig(level="frozen"),
        ),
        seeds=(0, 1, 2),
        jsd_bins=8,
    )
    if preset == "smoke":
        config.name = "codec_tagging_smoke"
        config.samples = CodecSamplesConfig.smoke()
        config.classifier.model.encoder_kwargs = {
            "particle_dims": (16, 16),
            "jet_dims": (16,),
            "output_dim": 8,
        }
        config.classifier.model.head_dims = (8,)
        config.head.model.head_dims = (8,)
        for run, epochs in ((config.classifier, 3), (config.pretrain, 4), (config.head, 3)):
            run.training = _training(epochs, 16, progress=False, devices=1)
            run.optimizer.learning_rate = 3e-3
        config.mode_kwargs = {"mass_bins": 4}
        config.ddt = {"quantile": 0.26, "rho_bins": 4, "pt_bins": 1, "min_jets_per_bin": 10}
        config.jsd_bins = 4
        config.floor_trials = 5
        config.seeds = (0,)
    elif preset == "demo":
        config.name = "codec_tagging_demo"
        config.samples.n_wide, config.samples.n_qcd, config.samples.n_peaky = 3000, 9000, 3000
        config.samples.mass_bins = 8
        config.samples.jets_per_cell = 200
        config.models = (
            "supervised_peaky",
            "supervised_flat_1d",
            "vicreg_flat",
            "mode0_flat",
            "disco_flat",
            "n2",
            "n2_ddt",
        )
        config.mode_kwargs = {"mass_bins": 4}
        config.ddt = {"quantile": 0.26, "rho_bins": 8, "pt_bins": 2, "min_jets_per_bin": 20}
        for run, epochs in ((config.classifier, 15), (config.pretrain, 15), (config.head, 8)):
            run.training = _training(epochs, 128)
        config.seeds = (0, 1)
    elif preset == "full":
        config.name = "codec_tagging_full"
        config.samples.n_wide, config.samples.n_qcd, config.samples.n_peaky = 60_000, 150_000, 55_000
        config.samples.jets_per_cell = 1500
        config.samples.workers = 16
        config.classifier.model.encoder = "interaction"
        config.classifier.model.encoder_kwargs = {}
        config.classifier.model.head_dims = (64, 32)
        config.ddt = {"quantile": 0.26, "rho_bins": 24, "pt_bins": 6, "min_jets_per_bin": 50}
        config.jsd_bins = 16
        for run, epochs in ((config.classifier, 40), (config.pretrain, 60), (config.head, 30)):
            run.training = TrainingConfig(epochs=epochs, batch_size=512, patience=8, keep_checkpoints=2)
        config.seeds = (0, 1, 2, 3, 4)
    elif preset is not None:
        raise ConfigError(f"configs/codec_tagging.py has no preset {preset!r}; presets: {', '.join(PRESETS)}")
    return config
