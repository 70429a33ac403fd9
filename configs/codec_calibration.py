"""The CoDec calibration study: a truth-level correction of the soft-drop mass in (m_SD, pT),
learned on the flat sample versus the peaky one, and its closure versus the true mass.

Run::

    codec-jax run configs/codec_calibration.py --preset smoke --out runs/codec_calibration_smoke  # ~1 min
    codec-jax run configs/codec_calibration.py --out runs/codec_calibration   # ~5-8 min once samples exist
    codec-jax run configs/codec_calibration.py --preset full --out runs/codec_calibration_full  # GPU
    codec-jax run configs/codec_calibration.py --out runs/cal_fine --set map_msd_bins=50 \\
        --set closure_tolerance=0.03

Fields (documented in codec_jax/studies/codec_mass/calibration.py, codec_jax/studies/common/codec_samples.py
and codec_jax/config.py; see docs/codec_regression.md):

* samples: the same as configs/codec_regression.py (wide Z' 12,000 jets, narrow Z' at 90, 130,
  170 GeV with 3,500 jets each; no QCD -- it has no true mass, so only resonance jets are
  calibrated); the two studies share the cached files.
* sets: ``flat`` (wide Z' weighted flat in the true mass over 40-200 GeV, 8 bins) and ``peaky``
  (narrow Z', same size).
* calibrations: a binned map of the median log(true / soft-drop mass) in 25 x 4 (m_SD, pT) cells
  over 0-250 GeV x 400-800 GeV (cells with fewer than 10 jets copy their nearest neighbour), and an
  MLP 64-64-64 -> 32 -> 1 on (m_SD, pT), Huber loss on the log mass, 60 epochs, 3 seeds.
* closure: median calibrated / true mass per true-mass bin; tolerance 5%.

Default size: the samples as in the regression study (nothing to generate once it ran; otherwise
~5-15 min); the maps take a second, each MLP ~0.3 s per epoch on ~5,500 jets plus checkpointing,
under a minute per run. Preset ``smoke``: the shared tiny CoDec smoke samples (narrow Z' at
100 GeV only), a 10 x 2 map, 4 epochs, 1 seed (checks the pipeline only). Preset ``full``: 100,000
wide and 3 x 30,000 narrow Z' jets, 16 true-mass bins, a 50 x 8 map, MLP 128-128-128, up to 100
epochs with early stopping, 5 seeds -- for a GPU.
"""

from codec_jax.config import TrainingConfig
from codec_jax.errors import ConfigError
from codec_jax.studies.codec_mass.calibration import CodecCalibrationConfig
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

PRESETS = ("smoke", "full")


def get_config(preset=None):
    config = CodecCalibrationConfig(name="codec_calibration")
    if preset == "smoke":
        config.name = "codec_calibration_smoke"
        config.samples = CodecSamplesConfig.smoke()
        config.truth_bins = 4
        config.map_msd_bins = 10
        config.map_pt_bins = 2
        config.map_min_jets = 3
        config.calibration.training = TrainingConfig(
            epochs=4, batch_size=16, patience=0, keep_checkpoints=1, progress=False, devices=1
        )
        config.calibration.optimizer.learning_rate = 1e-2
        config.seeds = (0,)
    elif preset == "full":
        config.name = "codec_calibration_full"
        config.samples.n_wide = 100_000
        config.samples.n_peaky = 30_000
        config.samples.workers = 16
        config.truth_bins = 16
        config.map_msd_bins = 50
        config.map_pt_bins = 8
        config.map_pt_range = (400.0, 1000.0)
        config.calibration.model.encoder_kwargs = {"hidden_dims": (128, 128, 128), "output_dim": 32}
        config.calibration.training = TrainingConfig(
            epochs=100, batch_size=512, patience=10, keep_checkpoints=2
        )
        config.seeds = (0, 1, 2, 3, 4)
    elif preset is not None:
        raise ConfigError(
            f"configs/codec_calibration.py has no preset {preset!r}; presets: {', '.join(PRESETS)}"
        )
    return config
