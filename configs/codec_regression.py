"""The CoDec mass-regression study: the true Z' mass from the constituents, flat vs peaky training.

Run::

    codec-jax run configs/codec_regression.py --preset smoke --out runs/codec_regression_smoke  # ~1 min
    codec-jax run configs/codec_regression.py --out runs/codec_regression        # ~15-30 min, 2 CPU cores
    codec-jax run configs/codec_regression.py --preset full --out runs/codec_regression_full  # GPU
    codec-jax run configs/codec_regression.py --out runs/reg_5seeds --set seeds=0,1,2,3,4 \\
        --set regression.training.epochs=100

Fields (documented in codec_jax/studies/codec_mass/regression.py, codec_jax/studies/common/codec_samples.py and
codec_jax/config.py; see docs/codec_regression.md):

* samples: wide-width Z' (12,000 jets; the same cached file as the tagging study) and narrow Z'
  at 90, 130 and 170 GeV (3,500 jets each; each at the centre of a report bin), pT > 400 GeV,
  30 constituents, 2 generation processes; no QCD (it has no true mass).
* sets: ``flat`` -- wide Z' weighted flat in the true mass over 40-200 GeV (8 bins); ``peaky`` --
  the narrow samples in equal shares, as many jets as the flat set.
* regression: Deep Sets (per particle 64-64-64, per jet 64-64 -> 32), head 32 -> 1 predicting
  log(m x 500 GeV / pT), Huber loss (delta 0.1), Adam 3e-3 with cosine decay, 60 epochs, batch 128.
* baselines: soft-drop mass and ungroomed jet mass; 3 seeds per training set.

Default size, from timings on this project's 2-core machine under load (see docs/codec_regression.md):
generating the 10,500 narrow and, unless the tagging study cached it, the 12,000 wide Z' jets takes
~5-15 min; each regression ~1 s per epoch on ~5,500 jets plus checkpointing, ~1.5-2 min per run,
~10-12 min for the six. Preset ``smoke``: the shared tiny CoDec smoke samples (narrow Z' at 100 GeV
only), a 16-wide Deep Sets, 4 epochs, 1 seed (checks the pipeline; its numbers mean nothing).
Preset ``full``: 100,000 wide and 3 x 30,000 narrow Z' jets, 16 bins, a PFN-sized Deep Sets
(100-100-128 / 100-100), up to 100 epochs with early stopping, 5 seeds -- for a GPU.
"""

from codec_jax.config import ModelConfig, TrainingConfig
from codec_jax.errors import ConfigError
from codec_jax.studies.codec_mass.regression import CodecRegressionConfig
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

PRESETS = ("smoke", "full")


def get_config(preset=None):
    config = CodecRegressionConfig(name="codec_regression")
    if preset == "smoke":
        config.name = "codec_regression_smoke"
        config.samples = CodecSamplesConfig.smoke()
        config.truth_bins = 4
        config.regression.model = ModelConfig(
            encoder="deepsets",
            encoder_kwargs={"particle_dims": (16, 16), "jet_dims": (16,), "output_dim": 8},
            projector_dims=(8,),
            head_dims=(8,),
        )
        config.regression.training = TrainingConfig(
            epochs=4, batch_size=16, patience=0, keep_checkpoints=1, progress=False, devices=1
        )
        config.regression.optimizer.learning_rate = 1e-2
        config.seeds = (0,)
    elif preset == "full":
        config.name = "codec_regression_full"
        config.samples.n_wide = 100_000
        config.samples.n_peaky = 30_000
        config.samples.workers = 16
        config.truth_bins = 16
        config.regression.model.encoder_kwargs = {
            "particle_dims": (100, 100, 128),
            "jet_dims": (100, 100),
            "output_dim": 64,
        }
        config.regression.model.head_dims = (64, 32)
        config.regression.training = TrainingConfig(
            epochs=100, batch_size=512, patience=10, keep_checkpoints=2
        )
        config.seeds = (0, 1, 2, 3, 4)
    elif preset is not None:
        raise ConfigError(
            f"configs/codec_regression.py has no preset {preset!r}; presets: {', '.join(PRESETS)}"
        )
    return config
