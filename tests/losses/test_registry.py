"""Registering a user loss makes it usable by name in configs (the engine calls it)."""

import json

import jax.numpy as jnp
import pytest

from codec_jax import losses
from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError
from codec_jax.losses.registry import LOSS_KINDS
from codec_jax.train import pretrain
from tests.helpers.train_toys import TINY, toy_sample


def cosine_alignment(z_a, z_b, temperature=1.0):
    """A toy contrastive loss: minus the mean cosine similarity of the positive pairs."""
    a = z_a / jnp.linalg.norm(z_a, axis=-1, keepdims=True)
    b = z_b / jnp.linalg.norm(z_b, axis=-1, keepdims=True)
    similarity = jnp.mean(jnp.sum(a * b, axis=-1)) / temperature
    return -similarity, {"similarity": similarity}


@pytest.fixture
def registered():
    losses.register_loss("cosine_alignment", cosine_alignment, kind="pretrain")
    yield
    LOSS_KINDS["pretrain"].pop("cosine_alignment")


def test_a_registered_loss_trains_by_name_with_its_kwargs(registered, tmp_path):
    write_root(toy_sample(0, n=200, particles=8), tmp_path / "train.root")
    config = apply_overrides(
        load_config("configs/example_pretrain.py", preset="smoke"),
        [
            *TINY,
            f"data.train={tmp_path / 'train.root'}",
            "data.background_only=false",
            "training.epochs=1",
            "loss.name=cosine_alignment",
            'loss.kwargs={"temperature": 0.5}',
        ],
    )
    pretrain(config, tmp_path / "run")
    epoch = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    # the engine logged the aux term of our loss, and loss = -similarity / temperature
    assert "train/similarity" in epoch
    assert -1.0 <= epoch["val/similarity"] <= 2.0  # similarity / 0.5 lies in [-2, 2]
    assert epoch["val/loss"] == pytest.approx(-epoch["val/similarity"], rel=1e-5)


def test_registry_rejects_duplicates_unknown_kinds_and_names():
    with pytest.raises(ValueError, match="already registered"):
        losses.register_loss("vicreg", cosine_alignment, kind="pretrain")
    with pytest.raises(ValueError, match="kind"):
        losses.register_loss("x", cosine_alignment, kind="finetune")
    with pytest.raises(ConfigError, match="'nope' cannot fine-tune; expected one of bce, mass_regression"):
        losses.get_loss("nope", "supervised")
    assert losses.get_loss("vicreg", "pretrain") is losses.vicreg


def test_unknown_loss_kwargs_are_a_config_error_naming_them():
    with pytest.raises(ConfigError, match=r"loss.kwargs \['sim_weigth'\] are not arguments of loss 'vicreg'"):
        losses.configured_loss("vicreg", "pretrain", {"sim_weigth": 1.0})
    bound = losses.configured_loss("vicreg", "pretrain", {"sim_weight": 1.0})
    assert bound.keywords == {"sim_weight": 1.0}
