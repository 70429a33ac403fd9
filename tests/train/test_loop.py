"""The driver: one compilation per step, interrupt-and-resume, early stopping, NaN guard, JSONL."""

import functools
import json

import jax
import numpy as np
import optax
import pytest

from codec_jax import losses, parallel
from codec_jax.checkpoint import Checkpointer
from codec_jax.train import (
    NonFiniteLossError,
    create_state,
    fit,
    make_supervised_eval_step,
    make_supervised_step,
    run_keys,
)
from tests.helpers.train_toys import ToyJetModel, toy_batch

MODEL = ToyJetModel()
EPOCHS = 4
BATCH = 16


@pytest.fixture(scope="module")
def data():
    train = toy_batch(seed=2, n=72)  # 4 full batches of 16 per epoch, 8 rows dropped
    validation = toy_batch(seed=3, n=32)
    keep = ("x", "mask", "target", "weight", "label", "mass")
    return {k: train[k] for k in keep}, {k: validation[k] for k in keep}


@pytest.fixture(scope="module")
def mesh():
    return parallel.make_mesh(2)


@functools.cache
def _steps(learning_rate):
    # built once per learning rate, so later fits reuse the traced and compiled steps
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, EPOCHS * 4))
    step = make_supervised_step(MODEL.apply, tx, losses.bce)
    eval_step = make_supervised_eval_step(MODEL.apply, losses.bce)
    return tx, step, eval_step


def _setup(data, learning_rate=0.05):
    train, _ = data
    keys = run_keys(0)
    params = MODEL.init(keys["init"], train["x"][:1], train["mask"][:1])["params"]
    tx, step, eval_step = _steps(learning_rate)
    return create_state(params, tx), step, eval_step, keys


def _fit(data, mesh, run_dir, checkpointer=None, resume_from=None, on_epoch_end=None, patience=0, lr=0.05):
    state, step, eval_step, keys = _setup(data, lr)
    return fit(
        state,
        step,
        eval_step,
        train_arrays=data[0],
        validation_arrays=data[1],
        batch_size=BATCH,
        epochs=EPOCHS,
        keys=keys,
        mesh=mesh,
        run_dir=run_dir,
        checkpointer=checkpointer,
        checkpoint_json={"config": {"name": "toy"}, "normalisation": {}},
        resume_from=resume_from,
        patience=patience,
        progress=False,
        on_epoch_end=on_epoch_end,
    )


@pytest.fixture(scope="module")
def uninterrupted(data, mesh, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    return run_dir, _fit(data, mesh, run_dir)


def test_each_jitted_step_compiles_once(uninterrupted):
    _, result = uninterrupted
    assert result.compilations == {"train": 1, "eval": 1}
    assert int(result.state.step) == EPOCHS * 4


def test_metrics_jsonl_has_one_line_per_epoch(uninterrupted):
    run_dir, result = uninterrupted
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == list(range(1, EPOCHS + 1))
    assert [line["step"] for line in lines] == [4, 8, 12, 16]
    assert lines == result.history
    for line in lines:
        assert np.isfinite(line["train/loss"]) and np.isfinite(line["val/loss"])
        assert 0.0 <= line["val/accuracy"] <= 1.0


class _Interrupt(Exception):
    pass


def test_interrupted_and_resumed_run_ends_with_the_same_parameters(data, mesh, uninterrupted, tmp_path):
    _, reference = uninterrupted

    def stop_after_epoch_2(epoch, metrics):
        if epoch == 2:
            raise _Interrupt

    with Checkpointer(tmp_path / "checkpoints") as checkpointer:
        with pytest.raises(_Interrupt):
            _fit(data, mesh, tmp_path, checkpointer, on_epoch_end=stop_after_epoch_2)
    with Checkpointer(tmp_path / "checkpoints") as checkpointer:
        assert checkpointer.latest_epoch() == 2
        state, _, _, _ = _setup(data)
        abstract = jax.eval_shape(lambda: state)
        restored = checkpointer.restore(abstract)
        assert restored.progress["epoch"] == 2 and restored.config == {"name": "toy"}
        resumed = _fit(data, mesh, tmp_path, checkpointer, resume_from=restored)
    assert int(resumed.state.step) == int(reference.state.step)
    for a, b in zip(
        jax.tree.leaves(resumed.state.params), jax.tree.leaves(reference.state.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the metrics file holds each epoch once, with the same numbers as the uninterrupted run
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4]
    assert [line["val/loss"] for line in lines] == [h["val/loss"] for h in reference.history]


def test_early_stopping_stops_after_patience_epochs_without_improvement(data, mesh, tmp_path):
    # learning rate 0: the validation loss never improves after epoch 1
    result = _fit(data, mesh, tmp_path, patience=2, lr=0.0)
    assert result.stopped_early
    assert len(result.history) == 3 and result.best_epoch == 1


def test_nan_loss_stops_with_a_clear_error(data, mesh, tmp_path):
    train, validation = data
    poisoned = dict(train, x=np.where(np.arange(len(train["x"]))[:, None, None] == 5, np.nan, train["x"]))
    with pytest.raises(NonFiniteLossError, match=r"training loss became nan at step \d+ \(epoch 1\)"):
        _fit((poisoned, validation), mesh, tmp_path)


def test_a_set_smaller_than_one_batch_is_a_clear_error(tmp_path):
    """Batches are full: a validation set of fewer rows than a batch is refused up front, naming
    the set and the batch size (instead of failing inside the first validation)."""
    from codec_jax.errors import DataError
    from codec_jax.train.loop import _check_enough_rows

    train = {"x": np.zeros((64, 3))}
    with pytest.raises(DataError, match=r"validation set holds 10 rows.*batch_size=32"):
        _check_enough_rows(train, {"x": np.zeros((10, 3))}, 32)
    with pytest.raises(DataError, match="training set holds 64 rows"):
        _check_enough_rows(train, None, 128)
    _check_enough_rows(train, {"x": np.zeros((32, 3))}, 32)  # one full batch each is enough
