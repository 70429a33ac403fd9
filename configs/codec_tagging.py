"""The CoDec tagging study: Z' vs QCD taggers trained on flat / peaky samples, contrastive latent
spaces, MoDe, DisCo (fixed weights and weight scans), N2 and N2_DDT, and how much each sculpts the
QCD jet-mass spectrum of a dedicated QCD sample; the talk's claims as measurements with verdicts.

Run::

    codec-jax run configs/codec_tagging.py --preset smoke --out runs/codec_tagging_smoke   # ~1.5 min
    codec-jax run configs/codec_tagging.py --preset demo --out runs/codec_tagging_demo     # ~5 min + generation
    codec-jax run configs/codec_tagging.py --out runs/codec_tagging                        # ~1.6 h, 2 CPU cores
    codec-jax run configs/codec_tagging.py --preset full --out runs/codec_tagging_full     # GPU
    codec-jax run configs/codec_tagging.py --preset talk --out runs/tag_talk               # VICReg 1/1/5
    codec-jax run configs/codec_tagging.py --preset demo+talk --out runs/tag_talk_demo

Fields (codec_jax/studies/codec_tagging/config.py, codec_jax/studies/common/codec_samples.py;
see docs/codec.md):

* samples: wide-width Z' (flat sets), QCD, narrow 100 GeV Z' (peaky set), nominal Pythia 8,
  30 particles, soft-drop mass window 40-200 GeV in 16 flattening cells (x 2 pT cells for
  flat_2d), at most 300 jets per cell and class; train/validation/test 60/15/25%; test: wide Z'
  weighted flat in mass and QCD with its natural spectrum; a dedicated QCD sculpting sample
  (``samples.n_sculpting``, independent seed; ~34% of its jets fall in the window).
* models: supervised_peaky, supervised_flat_1d, supervised_flat_2d, vicreg_flat, barlow_flat,
  vicreg_peaky, mode0_flat, mode1_flat, disco_flat, n2, n2_ddt, n2_ddt_wp, and the penalty scans
  ``<mode0|mode1|disco>_flat_w<weight>`` at weights 1, 3, 10, 30, 100 (``models=...``).
* classifier: the encoder of every ML model and the supervised taggers (BCE with the sets'
  weights): Deep Sets / PFN, particle MLP 64-64-64, jet MLP 64, 32-d output, head 32-32-1.
* pretrain: VICReg (``pretrain.loss.kwargs``: sim 25, var 25, cov 1; the option ``talk`` sets
  the talk's 1/1/5, less stable between seeds, see docs/codec.md) or, for barlow_flat, Barlow
  Twins (``barlow_kwargs``: off-diagonal 0.1) into a 4-d latent (encoder output 4, one linear
  4-d projector layer); positives ``both``: pairs of same-class jets from different mass cells
  (2 per jet; ``partner_mass=similar`` / ``any``, ``positives=augment`` for the others), each view
  rotated and smeared.
* head: 32-32-1 on the frozen encoder (``head.finetune.level=frozen``).
* mode0_flat / mode1_flat weight 10 with 8 equal-occupancy mass bins per batch of 128; disco_flat
  weight 3. penalty_scan: the scan models with >= 1,024 QCD jets per step (batch ~2,016 on the
  flat set), 60 epochs, learning rate 3e-3, MoDe with 16 bins and the paper's uniform fit.
* N2_DDT: 26% QCD quantile map in 12 rho x 3 pT bins from the QCD training rows; n2_ddt_wp: one
  map per working point at the quantile that keeps its Z' efficiency on the training rows.
* metrics: R and 1/JSD at eps_Z' = 50% and 30%, 8 bins of 20 GeV in soft-drop mass (40-200 GeV),
  1/JSD floor from 20 random cuts; on the sculpting sample also the excess JSD over its floor;
  QCD spectra after cuts at eps_Z' = 90/70/50/30/10%.
* claims: rule n_sigma >= 3 (supported) / <= -3 (contradicted), errors from 200 paired bootstrap
  resamples of the test and sculpting jets combined with the seed spread.

Default size (this project's 2-core CPU machine): 10,000 wide Z', 30,000 QCD and 10,000 narrow Z'
generated (2 workers), giving flat_1d ~3,650 Z' + ~4,360 QCD training jets and ~1,570 Z' + ~2,700
QCD test jets, and 210,000 QCD sculpting jets (74,356 in the window); batch 128; 20 epochs for the
supervised taggers and the pretraining (2 pairs per jet), 10 for the heads; seeds 0-4 for every
model, the 15 scan models included (``penalty_scan.max_seeds=0``). Measured per training at this
size at load 6-8: supervised 21 s, pretraining + head 63 s, MoDe scan 56 s, DisCo scan 70 s.
Measured end to end (5 seeds, load 5-7): 1 h 36 min with cached samples, 80 min of it training
(the 15 scan models x 5 seeds 73%, the contrastive models 17%), ~5 min bootstrap and report
(docs/codec.md, "Measured"). Generating the
samples is extra: ~50,000 jets plus the 210,000-jet sculpting sample (at ~14-23 ms of CPU per jet).
The narrow Z' sample must be at least ~0.85 x the wide one (the peaky set matches the flat set's
Z' count in training and validation).
Preset ``smoke``: the tiny shared samples (CodecSamplesConfig.smoke()) and 600 sculpting jets, a
small Deep Sets, 3-4 epochs, two scan models, one seed (checks the pipeline; its numbers mean
nothing). Preset ``demo`` (part of ``make demo``): 3,000 wide Z', 9,000 QCD, 3,000 narrow Z' and
6,000 sculpting jets, 8 flattening cells, twelve models (supervised peaky / flat, VICReg, MoDe[0],
DisCo, N2, N2_DDT, N2_DDT at the working point, MoDe[0] and DisCo at weights 3 and 30 with >= 256
QCD jets per step), 15 epochs, 2 seeds. Preset ``full``: 60,000 wide Z', 150,000 QCD, 55,000
narrow Z', 760,000 sculpting jets (>= 250,000 in the window), the MACK Interaction Network
encoder, batch 512, early stopping, every scan on all 5 seeds -- for a GPU. Option ``talk`` (alone
or ``<preset>+talk``): the talk's VICReg weights 1/1/5.
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
from codec_jax.studies.codec_tagging import MODELS, CodecTaggingConfig, scan_model_name
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

PRESETS = ("smoke", "demo", "full")
#: Options added to a preset with ``+`` (``--preset demo+talk``), or alone (the default size).
OPTIONS = ("talk",)
#: The talk's VICReg weights (sim, var, cov) = (1, 1, 5).
TALK_VICREG = {"sim_weight": 1.0, "var_weight": 1.0, "cov_weight": 5.0}
#: The penalty weights of the default and full scans.
SCAN_WEIGHTS = (1, 3, 10, 30, 100)


def _training(epochs, batch_size, **extra):
    return TrainingConfig(epochs=epochs, batch_size=batch_size, patience=0, keep_checkpoints=1, **extra)


def _scan(penalties, weights):
    return tuple(scan_model_name(penalty, weight) for penalty in penalties for weight in weights)


def _parse(preset):
    parts = [] if preset is None else preset.split("+")
    size = [part for part in parts if part not in OPTIONS]
    if len(size) > 1 or any(part not in PRESETS for part in size):
        raise ConfigError(
            f"configs/codec_tagging.py has no preset {preset!r}; presets: {', '.join(PRESETS)}, "
            f"each optionally with +{' +'.join(OPTIONS)} (e.g. demo+talk), or an option alone"
        )
    return (size[0] if size else None), {part for part in parts if part in OPTIONS}


def get_config(preset=None):
    size, options = _parse(preset)
    config = _sized(size)
    if "talk" in options:
        config.name += "_talk"
        config.pretrain.loss.kwargs = dict(TALK_VICREG)
    return config


def _sized(preset):
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
            n_sculpting=210_000,
        ),
        models=(*MODELS, *_scan(("mode0", "mode1", "disco"), SCAN_WEIGHTS)),
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
        seeds=(0, 1, 2, 3, 4),
        jsd_bins=8,
    )
    # The scans dominate the cost (~1 min per model and seed at batch 2,016 on 2 cores); every
    # model, scans included, runs on all 5 seeds (penalty_scan.max_seeds=3 saves ~30 min).
    config.penalty_scan.max_seeds = 0
    if preset == "smoke":
        config.name = "codec_tagging_smoke"
        config.samples = CodecSamplesConfig.smoke(n_sculpting=600)
        config.models = (*MODELS, "mode0_flat_w10", "disco_flat_w3")
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
        config.penalty_scan.background_per_step = 24
        config.penalty_scan.epochs = 3
        config.penalty_scan.mode_kwargs = {"mass_bins": 4, "fit": "uniform"}
        config.claims.bootstrap_resamples = 20
        config.seeds = (0,)
    elif preset == "demo":
        config.name = "codec_tagging_demo"
        config.samples.n_wide, config.samples.n_qcd, config.samples.n_peaky = 3000, 9000, 3000
        config.samples.mass_bins = 8
        config.samples.jets_per_cell = 200
        config.samples.n_sculpting = 6000
        config.models = (
            "supervised_peaky",
            "supervised_flat_1d",
            "vicreg_flat",
            "mode0_flat",
            "disco_flat",
            "n2",
            "n2_ddt",
            "n2_ddt_wp",
            *_scan(("mode0", "disco"), (3, 30)),
        )
        config.penalty_scan.background_per_step = 256
        config.penalty_scan.epochs = 40
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
        config.samples.n_sculpting = 760_000
        config.classifier.model.encoder = "interaction"
        config.classifier.model.encoder_kwargs = {}
        config.classifier.model.head_dims = (64, 32)
        config.ddt = {"quantile": 0.26, "rho_bins": 24, "pt_bins": 6, "min_jets_per_bin": 50}
        for run, epochs in ((config.classifier, 40), (config.pretrain, 60), (config.head, 30)):
            run.training = TrainingConfig(epochs=epochs, batch_size=512, patience=8, keep_checkpoints=2)
        config.penalty_scan.max_seeds = 0
        config.seeds = (0, 1, 2, 3, 4)
    return config
