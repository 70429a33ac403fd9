"""Step factories: 8 devices == 1 device, updates against closed forms, penalties, keys."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from codec_jax import losses, parallel
from codec_jax.errors import ConfigError
from codec_jax.train import (
    create_state,
    jit_train_step,
    make_pretrain_step,
    make_supervised_eval_step,
    make_supervised_step,
)
from tests.helpers.train_toys import ToyJetModel, toy_batch

MODEL = ToyJetModel()
DISCO = losses.configured_loss("disco", "penalty", {})


@pytest.fixture(scope="module")
def batch():
    return toy_batch(seed=1, n=32)


@pytest.fixture(scope="module")
def params(batch):
    return MODEL.init(jax.random.key(0), batch["x"], batch["mask"])["params"]


def _run_on_mesh(step, params, tx, batch, n_devices, n_steps=3):
    mesh = parallel.make_mesh(n_devices)
    state = parallel.replicate(create_state(params, tx), mesh)
    with jax.set_mesh(mesh):
        jitted = jit_train_step(step, mesh)
        history = []
        for _ in range(n_steps):
            state, metrics = jitted(
                state, parallel.put_batch(batch, mesh, len(batch["x"])), jax.random.key(7)
            )
            history.append(jax.device_get(metrics))
    return jax.device_get(state), history


def _assert_trees_close(a, b, rtol, atol):
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(leaf_a), np.asarray(leaf_b), rtol=rtol, atol=atol)


# float32 reductions run in another order on 8 devices: parameters agree to ~1e-6 after 3 SGD steps.
# (Not Adam: it divides by |g|, so a gradient that is exactly zero in theory -- the projector bias
# under VICReg, which is shift-invariant -- becomes +-lr from rounding noise.)
RTOL, ATOL = 2e-5, 2e-6
SGD = optax.sgd(0.05, momentum=0.9)


def test_pretrain_step_on_8_devices_equals_1_device(batch, params):
    assert jax.device_count() == 8
    tx = SGD
    step = make_pretrain_step(MODEL.apply, tx, losses.vicreg)
    state_1, history_1 = _run_on_mesh(step, params, tx, batch, 1)
    state_8, history_8 = _run_on_mesh(step, params, tx, batch, 8)
    _assert_trees_close(state_8.params, state_1.params, RTOL, ATOL)
    _assert_trees_close(history_8, history_1, 1e-5, 1e-6)
    assert int(state_8.step) == 3
    # the three steps really changed the parameters
    assert not np.allclose(
        state_8.params["encoder"]["Dense_0"]["kernel"], params["encoder"]["Dense_0"]["kernel"]
    )


def test_supervised_step_with_disco_on_8_devices_equals_1_device(batch, params):
    tx = SGD
    step = make_supervised_step(MODEL.apply, tx, losses.bce, penalty_fn=DISCO, penalty_weight=5.0)
    state_1, history_1 = _run_on_mesh(step, params, tx, batch, 1)
    state_8, history_8 = _run_on_mesh(step, params, tx, batch, 8)
    _assert_trees_close(state_8.params, state_1.params, RTOL, ATOL)
    _assert_trees_close(history_8, history_1, 1e-5, 1e-6)


def test_supervised_sgd_update_of_head_bias_matches_closed_form(batch, params):
    # For BCE on logits l = w.h + b, dL/db = mean(sigmoid(l) - y); one SGD step moves b by -lr * that.
    lr = 0.5
    tx = optax.sgd(lr)
    step = make_supervised_step(MODEL.apply, tx, losses.bce)
    state, metrics = jax.jit(step)(create_state(params, tx), batch, jax.random.key(0))
    logits = np.asarray(MODEL.apply({"params": params}, batch["x"], batch["mask"], method="classify"))[:, 0]
    probability = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    expected_bias = np.asarray(params["head"]["bias"]) - lr * np.mean(probability - batch["target"])
    np.testing.assert_allclose(state.params["head"]["bias"], expected_bias, rtol=1e-5, atol=1e-6)
    y = batch["target"]
    expected_loss = -np.mean(y * np.log(probability) + (1 - y) * np.log(1 - probability))
    np.testing.assert_allclose(metrics["loss"], expected_loss, rtol=1e-5)


def _distance_correlation_squared(x, y):
    def centred(v):
        d = np.abs(v[:, None] - v[None, :])
        return d - d.mean(0, keepdims=True) - d.mean(1, keepdims=True) + d.mean()

    a, b = centred(np.asarray(x, np.float64)), centred(np.asarray(y, np.float64))
    return (a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())


def test_decorrelation_penalty_uses_background_jets_only(batch, params):
    weight = 3.0
    eval_step = make_supervised_eval_step(MODEL.apply, losses.bce, penalty_fn=DISCO, penalty_weight=weight)
    metrics = jax.jit(eval_step)(params, batch, jax.random.key(0))
    logits = np.asarray(MODEL.apply({"params": params}, batch["x"], batch["mask"], method="classify"))[:, 0]
    background = batch["label"] == 0
    expected = _distance_correlation_squared(1 / (1 + np.exp(-logits[background])), batch["mass"][background])
    np.testing.assert_allclose(metrics["penalty"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics["loss"], metrics["task_loss"] + weight * metrics["penalty"], rtol=1e-6)


def test_unknown_decorrelation_is_a_config_error():
    with pytest.raises(ConfigError, match="loss.decorrelation='flatness'.*expected one of none, disco, mode"):
        losses.configured_loss("flatness", "penalty", {})


def test_pretrain_step_keys_fold_in_the_step_counter(batch, params):
    # With a random augmentation, the same (state, batch, key) gives the same result, and the
    # next step (a different step counter) draws a different augmentation.
    def jitter(key, x, mask):
        return jnp.where(mask[..., None], x + 0.1 * jax.random.normal(key, x.shape), 0.0), mask

    tx = optax.sgd(0.0)  # parameters never move: differences come from the keys only
    step = jax.jit(make_pretrain_step(MODEL.apply, tx, losses.vicreg, augment_fn=jitter))
    state = create_state(params, tx)
    _, first = step(state, batch, jax.random.key(3))
    _, again = step(state, batch, jax.random.key(3))
    _, later = step(state.replace(step=state.step + 1), batch, jax.random.key(3))
    assert float(first["loss"]) == float(again["loss"])
    assert float(first["loss"]) != float(later["loss"])
