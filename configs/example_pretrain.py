"""Example: MACK-style contrastive pretraining of an Interaction Network with VICReg.

Run (after generating samples, see docs/training.md)::

    codec-jax pretrain --config configs/example_pretrain.py --out runs/pretrain
    codec-jax pretrain --config configs/example_pretrain.py --preset smoke --out runs/pretrain_smoke

Fields (all documented in codec_jax/config.py):

* model: the Interaction Network featurizer (edge 64-32-32, node 64-32-32, jet 128-128-64 -> 64-d),
  a 64-64 projector and a 64-32-1 head (the head is trained later, by fine-tuning).
* data: background (QCD) jets of the nominal sample, 30 particles (pt_rel, eta_rel, phi_rel); 20%
  held out for the validation loss. For (nominal, alternate) pairs set ``data.alternate`` to the
  alternate-shower files and ``data.pairs`` to the file written by ``codec-jax pair``.
* loss: VICReg with MACK's weights 25/25/1; both views are rotated and pT-smeared (MACK).
* optimizer/training: Adam 1e-3 with a 1-epoch warm-up and cosine decay, batch 256, early stopping
  after 10 epochs without improvement.

Preset ``smoke``: a small Deep Sets encoder, 3 epochs, batch 64 -- runs in about a minute on a
laptop CPU with a few thousand jets.
"""

from codec_jax.config import (
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    TrainingConfig,
)
from codec_jax.errors import ConfigError


def get_config(preset=None):
    config = Config(
        name="example_pretrain",
        model=ModelConfig(encoder="interaction", projector_dims=(64, 64), head_dims=(64, 32)),
        data=DataConfig(
            train=("runs/data/qcd_nominal.root",),
            max_particles=30,
            inputs="particles",
            background_only=True,
            validation_fraction=0.2,
        ),
        loss=LossConfig(
            name="vicreg",
            kwargs={"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0},
            augmentations=("rotate", "smear"),
            augmentation_kwargs={"smear": {"strength": 0.1}},
        ),
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, warmup_epochs=1.0, end_fraction=0.01),
        training=TrainingConfig(epochs=50, batch_size=256, seed=0, patience=10),
    )
    if preset == "smoke":
        config.model = ModelConfig(
            encoder="deepsets",
            encoder_kwargs={"particle_dims": (32, 32), "jet_dims": (32,), "output_dim": 16},
            projector_dims=(16, 8),
            head_dims=(16,),
        )
        config.training = TrainingConfig(epochs=3, batch_size=64, seed=0, patience=0)
        config.optimizer.warmup_epochs = 0.5
    elif preset is not None:
        raise ConfigError(f"configs/example_pretrain.py has no preset {preset!r}; presets: smoke")
    return config
