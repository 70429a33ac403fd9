"""Checkpointer round trips and the errors of restore_encoder (toy parameter trees, no training)."""

import json
import shutil

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


# --------------------------------------------------------------------------- verified checkpoints
def _one_checkpoint(root, width=64):
    """A run directory with one checkpoint (epoch 1) of larger arrays; returns its state."""
    tx = optax.adam(1e-3)
    state = create_state(_params(width=width, seed=7), tx)
    with Checkpointer(root / "checkpoints") as checkpointer:
        checkpointer.save(
            1, state, config={"name": "toy"}, normalisation={"mean": [0.0]}, progress={"epoch": 1}
        )
    return state


def _restore(root):
    abstract = jax.eval_shape(lambda: create_state(_params(width=64), optax.adam(1e-3)))
    with Checkpointer(root / "checkpoints", read_only=True) as checkpointer:
        return checkpointer.restore(abstract)


def _checksum_file(root):
    return root / "checkpoints" / "1" / "checksums" / "metadata"


def test_checksums_are_saved_and_a_clean_checkpoint_verifies(tmp_path):
    _one_checkpoint(tmp_path)

    saved = json.loads(_checksum_file(tmp_path).read_text())
    assert "state/params/encoder/dense/kernel" in saved and "config" in saved
    assert int(_restore(tmp_path).epoch) == 1


def test_a_changed_array_is_refused_naming_epoch_and_array(tmp_path):

    _one_checkpoint(tmp_path)
    path = _checksum_file(tmp_path)
    saved = json.loads(path.read_text())
    saved["state/params/encoder/dense/kernel"] = "0" * 64  # what a flipped bit in the array gives
    path.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match=r"checkpoints/1 is corrupt: state/params/encoder/dense/kernel"):
        _restore(tmp_path)
    template = _params(width=64)
    with pytest.raises(CheckpointError, match="encoder/dense/kernel does not match"):
        restore_encoder(tmp_path, template)


def test_flipped_bytes_in_the_largest_data_file_are_refused_in_one_line(tmp_path):
    _one_checkpoint(tmp_path, width=256)
    files = [p for p in (tmp_path / "checkpoints" / "1" / "state").rglob("*") if p.is_file()]
    largest = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    middle = len(data) // 2
    for offset in range(64):
        data[middle + offset] ^= 0xFF
    largest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as error:
        _restore(tmp_path)
    assert "\n" not in str(error.value) and "checkpoints/1" in str(error.value)


def test_a_checkpoint_written_without_checksums_restores_unchecked(tmp_path):

    state = _one_checkpoint(tmp_path)
    shutil.rmtree(tmp_path / "checkpoints" / "1" / "checksums")
    restored = _restore(tmp_path)
    np.testing.assert_array_equal(
        np.asarray(restored.state.params["head"]["kernel"]), np.asarray(state.params["head"]["kernel"])
    )
