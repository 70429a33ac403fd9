"""Registering a user loss or decorrelation penalty makes it usable by name in configs (the engine
calls it); keyword arguments are checked against its signature."""

import json

import jax.numpy as jnp
import pytest

from codec_jax import losses
from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError
from codec_jax.losses.registry import LOSS_KINDS
from codec_jax.train import finetune, pretrain
from tests.helpers.train_toys import TINY, toy_sample


def cosine_alignment(z_a, z_b, temperature=1.0):
    """A toy contrastive loss: minus the mean cosine similarity of the positive pairs."""
    a = z_a / jnp.linalg.norm(z_a, axis=-1, keepdims=True)
    b = z_b / jnp.linalg.norm(z_b, axis=-1, keepdims=True)
    similarity = jnp.mean(jnp.sum(a * b, axis=-1)) / temperature
    return -similarity, {"similarity": similarity}


def mean_background_score(scores, mass, weights, *, scale=1.0):
    """A toy decorrelation penalty: ``scale`` times the weighted mean score of the background jets
    (``weights`` is zero for signal jets)."""
    mean = jnp.sum(weights * scores) / jnp.sum(weights)
    return scale * mean, {"mean": mean}


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


@pytest.fixture
def registered_penalty():
    losses.register_loss("mean_background_score", mean_background_score, kind="penalty")
    yield
    LOSS_KINDS["penalty"].pop("mean_background_score")


def _finetune_config(tmp_path, *overrides):
    write_root(toy_sample(0, n=200, particles=8), tmp_path / "train.root")
    return apply_overrides(
        load_config("configs/example_finetune.py", preset="smoke"),
        [
            *TINY,
            f"data.train={tmp_path / 'train.root'}",
            "training.epochs=1",
            "finetune.level=full",
            *overrides,
        ],
    )


def test_a_registered_penalty_decorrelates_a_finetune_run_by_name(registered_penalty, tmp_path):
    config = _finetune_config(
        tmp_path,
        "loss.decorrelation=mean_background_score",
        "loss.decorrelation_weight=2.0",
        'loss.decorrelation_kwargs={"scale": 3.0}',
    )
    finetune(config, tmp_path / "run")
    epoch = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert "train/penalty_mean" in epoch  # the engine called our penalty and logged its aux
    assert 0.0 < epoch["val/penalty_mean"] < 1.0  # a mean of probabilities
    assert epoch["val/penalty"] == pytest.approx(3.0 * epoch["val/penalty_mean"], rel=1e-5)
    assert epoch["val/loss"] == pytest.approx(epoch["val/task_loss"] + 2.0 * epoch["val/penalty"], rel=1e-5)


def test_unknown_penalty_kwargs_are_refused_naming_them(registered_penalty, tmp_path):
    config = _finetune_config(
        tmp_path, "loss.decorrelation=mean_background_score", 'loss.decorrelation_kwargs={"scal": 3.0}'
    )
    with pytest.raises(
        ConfigError,
        match=r"loss.decorrelation_kwargs \['scal'\] are not arguments of penalty 'mean_background_score'; "
        r"it accepts \['scale'\]",
    ):
        finetune(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written
    # the built-in penalties too; their array arguments are not settable
    with pytest.raises(ConfigError, match=r"\['oder'\] are not arguments of penalty 'mode'"):
        losses.configured_loss("mode", "penalty", {"oder": 1})
    with pytest.raises(ConfigError, match=r"\['weights'\] are not arguments of penalty 'disco'"):
        losses.configured_loss("disco", "penalty", {"weights": 1.0})
    assert losses.configured_loss("mode", "penalty", {"order": 1}).keywords == {"order": 1}


def test_unknown_penalty_names_list_the_registered_ones_and_none(registered_penalty, tmp_path):
    config = _finetune_config(tmp_path, "loss.decorrelation=flatness")
    with pytest.raises(
        ConfigError,
        match="loss.decorrelation='flatness'.*expected one of none, disco, mean_background_score, mode",
    ):
        finetune(config, tmp_path / "run")
    with pytest.raises(ValueError, match="reserved"):
        losses.register_loss("none", mean_background_score, kind="penalty")
    assert losses.get_loss("mode", "penalty") is losses.mode
