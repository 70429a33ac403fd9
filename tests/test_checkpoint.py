"""Checkpointer round trips and the errors of restore_encoder (toy parameter trees, no training)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from codec_jax.checkpoint import Checkpointer, checkpoint_directory, restore_encoder
from codec_jax.errors import CheckpointError
from codec_jax.train import create_state


def _params(width=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "encoder": {
            "dense": {
                "kernel": rng.normal(size=(3, width)).astype(np.float32),
                "bias": np.zeros(width, np.float32),
            }
        },
        "projector": {"kernel": rng.normal(size=(width, 2)).astype(np.float32)},
        "head": {"kernel": rng.normal(size=(width, 1)).astype(np.float32)},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with checkpoints of epochs 1..3 (max_to_keep=2 keeps 2 and 3)."""
    run = tmp_path_factory.mktemp("run")
    tx = optax.adam(1e-3)
    with Checkpointer(run / "checkpoints", max_to_keep=2) as checkpointer:
        for epoch in (1, 2, 3):
            state = create_state(_params(seed=epoch), tx).replace(step=jnp.asarray(10 * epoch, jnp.int32))
            checkpointer.save(
                epoch,
                state,
                config={"name": "toy", "epoch": epoch},
                normalisation={"mean": [0.5]},
                progress={"epoch": epoch},
            )
    return run


def test_save_and_restore_the_latest_state_and_json_items(run_dir):
    tx = optax.adam(1e-3)
    abstract = jax.eval_shape(lambda: create_state(_params(), tx))
    with Checkpointer(run_dir / "checkpoints", read_only=True) as checkpointer:
        assert checkpointer.all_epochs() == [2, 3]
        restored = checkpointer.restore(abstract)
    assert restored.epoch == 3 and int(restored.state.step) == 30
    assert restored.config == {"name": "toy", "epoch": 3}
    assert restored.normalisation == {"mean": [0.5]} and restored.progress == {"epoch": 3}
    expected = _params(seed=3)
    for a, b in zip(jax.tree.leaves(restored.state.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_restore_encoder_replaces_only_the_encoder(run_dir):
    fresh = _params(seed=99)
    merged, json_items = restore_encoder(run_dir, fresh, epoch=2)
    np.testing.assert_array_equal(
        merged["encoder"]["dense"]["kernel"], _params(seed=2)["encoder"]["dense"]["kernel"]
    )
    np.testing.assert_array_equal(merged["head"]["kernel"], fresh["head"]["kernel"])
    np.testing.assert_array_equal(merged["projector"]["kernel"], fresh["projector"]["kernel"])
    assert json_items["config"]["epoch"] == 2


def test_missing_directory_and_non_run_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint_directory(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoints/ subdirectory"):
        restore_encoder(tmp_path, _params())
    with pytest.raises(CheckpointError, match="does not exist"):
        Checkpointer(tmp_path / "nope", read_only=True)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        restore_encoder(tmp_path, _params())


def test_mismatching_encoder_key_or_shape(run_dir):
    wider = _params()
    wider["encoder"]["dense"]["kernel"] = np.zeros((3, 5), np.float32)
    with pytest.raises(
        CheckpointError, match=r"encoder/dense/kernel has shape \(3, 4\) in the checkpoint but \(3, 5\)"
    ):
        restore_encoder(run_dir, wider)
    renamed = _params()
    renamed["encoder"] = {"other": renamed["encoder"]["dense"]}
    with pytest.raises(CheckpointError, match="missing in the checkpoint"):
        restore_encoder(run_dir, renamed)
    with pytest.raises(CheckpointError, match="no 'backbone' parameters"):
        restore_encoder(run_dir, _params(), subtree="backbone")


def test_missing_epoch_is_named(run_dir):
    with pytest.raises(CheckpointError, match=r"no checkpoint of epoch 1 \(it has \[2, 3\]\)"):
        restore_encoder(run_dir, _params(), epoch=1)
    with Checkpointer(run_dir / "checkpoints", read_only=True) as checkpointer:
        with pytest.raises(CheckpointError, match="no checkpoint of epoch 7"):
            checkpointer.read_json(7)
