"""Learning-rate schedules against the closed form, optimizers, and the fine-tuning masks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from codec_jax.config import OptimizerConfig
from codec_jax.errors import ConfigError
from codec_jax.train.optim import (
    finetune_optimizer,
    learning_rate_schedule,
    make_optimizer,
    optimizer_from_config,
    parse_finetune_level,
)


def _closed_form(t, peak, warmup, total, end):
    if t < warmup:
        return peak * t / warmup
    progress = min(t - warmup, total - warmup) / (total - warmup)
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@pytest.mark.parametrize("warmup_epochs", [0.0, 1.5])
def test_warmup_cosine_matches_the_closed_form(warmup_epochs):
    config = OptimizerConfig(learning_rate=3e-3, warmup_epochs=warmup_epochs, end_fraction=0.1)
    schedule = learning_rate_schedule(config, steps_per_epoch=10, epochs=5)
    warmup = round(warmup_epochs * 10)
    for t in [0, 1, 7, 14, 15, 16, 30, 49, 50, 60]:
        expected = _closed_form(t, 3e-3, warmup, 50, 3e-4)
        assert float(schedule(t)) == pytest.approx(expected, rel=1e-5, abs=1e-9), t


def test_schedule_errors():
    with pytest.raises(ConfigError, match="warm-up steps"):
        learning_rate_schedule(OptimizerConfig(warmup_epochs=5), steps_per_epoch=10, epochs=5)
    with pytest.raises(ConfigError, match="optimizer.schedule='step'"):
        learning_rate_schedule(OptimizerConfig(schedule="step"), 10, 5)
    with pytest.raises(ConfigError, match="optimizer.name='rmsprop'"):
        make_optimizer("rmsprop", 1e-3)


@pytest.mark.parametrize("name", ["adam", "sgd", "lars"])
def test_each_optimizer_decreases_a_quadratic(name):
    params = {"w": jnp.array([[2.0, -1.0], [0.5, 3.0]]), "b": jnp.array([1.0, -2.0])}
    config = OptimizerConfig(name=name, learning_rate=0.05, weight_decay=1e-4, clip_norm=10.0)
    tx = optimizer_from_config(config, steps_per_epoch=20, epochs=1)
    state = tx.init(params)

    def loss(p):
        return sum(jnp.sum(v**2) for v in jax.tree.leaves(p))

    start = float(loss(params))
    for _ in range(20):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(loss(params)) < 0.9 * start


def test_sgd_step_is_minus_learning_rate_times_gradient():
    tx = make_optimizer("sgd", 0.1, momentum=0.0)
    params = {"w": jnp.array([1.0, 2.0])}
    grads = {"w": jnp.array([0.5, -1.0])}
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], [-0.05, 0.1], rtol=1e-6)


def test_parse_finetune_level():
    assert parse_finetune_level("frozen") == ("frozen", 0)
    assert parse_finetune_level("full") == ("full", 0)
    assert parse_finetune_level("epochs:3") == ("epochs", 3)
    for bad in ("epochs:0", "epochs:x", "partial", "epochs"):
        with pytest.raises(ConfigError, match="finetune.level"):
            parse_finetune_level(bad)


def _train(tx, n_steps):
    params = {"encoder": {"w": jnp.ones(3)}, "head": {"w": jnp.ones(2)}}
    grads = {"encoder": {"w": jnp.ones(3)}, "head": {"w": jnp.ones(2)}}
    state = tx.init(params)
    history = []
    for _ in range(n_steps):
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        history.append(jax.tree.map(np.asarray, params))
    return history


def test_finetune_levels_freeze_the_encoder_as_documented():
    base = optax.adam(0.1)  # Adam keeps moving a parameter after its gradient stops: updates must be gated
    steps_per_epoch = 2
    frozen = _train(finetune_optimizer(base, "frozen", steps_per_epoch), 4)
    full = _train(finetune_optimizer(base, "full", steps_per_epoch), 4)
    one_epoch = _train(finetune_optimizer(base, "epochs:1", steps_per_epoch), 4)
    assert all(np.array_equal(h["encoder"]["w"], np.ones(3)) for h in frozen)
    assert not np.array_equal(frozen[-1]["head"]["w"], np.ones(2))
    assert len({h["encoder"]["w"][0] for h in full}) == 4
    encoder = [h["encoder"]["w"][0] for h in one_epoch]
    assert encoder[0] != 1.0 and encoder[1] != encoder[0]  # steps 0, 1 = epoch 1 update the encoder
    assert encoder[2] == encoder[1] and encoder[3] == encoder[1]  # frozen from epoch 2 on
    np.testing.assert_array_equal(one_epoch[-1]["head"]["w"], full[-1]["head"]["w"])
