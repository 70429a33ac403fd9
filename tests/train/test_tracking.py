"""training.loggers: TensorBoard event files (read back with tensorboard's own reader), a W&B run
in offline mode, the config as hyperparameters, resume, and clear errors."""

import json

import numpy as np
import pytest

from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError
from codec_jax.train import pretrain
from codec_jax.train.loop import METRICS_FILE, read_metrics
from codec_jax.train.tracking import flat_hyperparameters
from tests.helpers.train_toys import TINY, toy_sample


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracking") / "train.root"
    write_root(toy_sample(0, n=160, particles=8), path)
    return path


def _config(data, *overrides):
    base = [*TINY, f"data.train={data}", "data.background_only=false", "training.epochs=2"]
    return apply_overrides(load_config("configs/example_pretrain.py", "smoke"), [*base, *overrides])


def _events(logdir):
    """Every Event of the TFRecord event files under ``logdir``, read independently of the writer
    (record = uint64 length, uint32 CRC, payload, uint32 CRC)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(logdir.rglob("events.out.tfevents.*")):
        blob = path.read_bytes()
        offset = 0
        while offset < len(blob):
            (length,) = struct.unpack("<Q", blob[offset : offset + 8])
            events.append(Event.FromString(blob[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def _scalars(logdir):
    """(tags of all summaries, {scalar tag: [(step, value), ...]}) as TensorBoard would show them
    (a purged step keeps only its last write)."""
    tags, scalars = set(), {}
    for event in _events(logdir):
        for value in event.summary.value:
            tags.add(value.tag)
            if value.HasField("simple_value"):
                series = scalars.setdefault(value.tag, {})
                series[event.step] = value.simple_value
    return tags, {tag: sorted(series.items()) for tag, series in scalars.items()}


def test_tensorboard_gets_every_epoch_metric_and_the_config(data, tmp_path):
    run = tmp_path / "run"
    pretrain(_config(data, "training.loggers=jsonl,tensorboard"), run)
    records = read_metrics(run / METRICS_FILE)
    tags, scalars = _scalars(run / "tensorboard")
    for key in ("train/loss", "val/loss", "train/variance"):
        assert [step for step, _ in scalars[key]] == [1, 2]
        np.testing.assert_allclose([value for _, value in scalars[key]], [r[key] for r in records], rtol=1e-6)
    assert any(tag.startswith("config") for tag in tags)
    # a run killed after epoch 2's record but before its checkpoint: --resume redoes epoch 2,
    # TensorBoard's epoch-2 events are purged and written again
    import shutil

    shutil.rmtree(run / "checkpoints" / "2")
    pretrain(_config(data, "training.loggers=jsonl,tensorboard"), run, resume=True)
    _, again = _scalars(run / "tensorboard")
    assert [step for step, _ in again["train/loss"]] == [1, 2]
    np.testing.assert_allclose(
        [v for _, v in again["train/loss"]], [r["train/loss"] for r in records], rtol=1e-6
    )


def test_wandb_offline_run_holds_the_config_and_history(data, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    pretrain(_config(data, "training.loggers=wandb", "name=tracked"), run)
    run_id = (run / "wandb_id.txt").read_text().strip()
    (offline,) = (run / "wandb").glob(f"offline-run-*-{run_id}")
    assert (offline / f"run-{run_id}.wandb").stat().st_size > 0
    assert wandb.run is None  # finished


def test_hyperparameters_are_the_flat_config():
    flat = flat_hyperparameters(
        {"name": "x", "optimizer": {"learning_rate": 1e-3}, "model": {"dims": [8, 4]}}
    )
    assert flat == {"name": "x", "optimizer.learning_rate": 1e-3, "model.dims": json.dumps([8, 4])}


def test_an_unknown_logger_is_refused(data, tmp_path):
    with pytest.raises(ConfigError, match=r"training.loggers: unknown \['mlflow'\]"):
        pretrain(_config(data, "training.loggers=jsonl,mlflow"), tmp_path / "run")
