"""Example: fine-tune a tagger on top of the encoder of ``configs/example_pretrain.py``.

Run::

    codec-jax finetune --config configs/example_finetune.py --from runs/pretrain --out runs/finetune
    codec-jax finetune --config configs/example_finetune.py --from runs/pretrain_smoke \\
        --preset smoke --out runs/finetune_smoke --set finetune.level=frozen

Fields (all documented in codec_jax/config.py):

* The encoder (``model.encoder``, ``model.encoder_kwargs``) and the input fields
  (``data.inputs``, ``data.max_particles``, ``data.jet_features``) are taken from the pretraining
  run given with ``--from``, as is the feature standardisation; the head (``model.head_dims``) is
  new.
* data: signal and background jets of the nominal sample(s), target ``label``; 20% held out.
* loss: weighted binary cross-entropy on the head's logit. For a mass-decorrelated tagger add
  ``--set loss.decorrelation=disco --set loss.decorrelation_weight=10`` (or ``mode`` with
  ``loss.decorrelation_kwargs.order=0``, or a penalty registered with
  ``codec_jax.losses.register_loss(name, fn, kind="penalty")``; docs/losses.md).
* finetune.level: ``epochs:1`` -- the encoder trains during the first epoch only, then is
  frozen (MACK's "1 epoch" level); ``frozen`` and ``full`` are the other levels.

Without ``--from`` the same config trains a supervised baseline from scratch (level ``full``).
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


def get_config(preset=None):
    config = Config(
        name="example_finetune",
        model=ModelConfig(encoder="interaction", head_dims=(64, 32), n_outputs=1),
        data=DataConfig(
            train=("runs/data/qcd_nominal.root", "runs/data/zprime_nominal.root"),
            max_particles=30,
            target="label",
            mass_field="msd",
            validation_fraction=0.2,
        ),
        loss=LossConfig(name="bce"),
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, warmup_epochs=0.0, end_fraction=0.01),
        training=TrainingConfig(epochs=30, batch_size=256, seed=1, patience=10),
        finetune=FinetuneConfig(level="epochs:1"),
    )
    if preset == "smoke":
        config.model.head_dims = (16,)
        config.training = TrainingConfig(epochs=3, batch_size=64, seed=1, patience=0)
    elif preset is not None:
        raise ConfigError(f"configs/example_finetune.py has no preset {preset!r}; presets: smoke")
    return config
