"""Faults that must not lose data: an output equal to an input, and SIGTERM during training.

* Every command that reads files refuses an output that is one of its inputs (or a directory
  holding one) with one error line, before any work; the input's bytes are unchanged.
* SIGTERM (what a batch system sends before a kill) mid-epoch ends ``pretrain`` with one line and
  a non-zero status; ``--resume`` then finishes with the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from codec_jax.checkpoint import Checkpointer, restore_encoder
from codec_jax.cli import main
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError, DataError
from codec_jax.files import refuse_overwriting_inputs
from codec_jax.models import build_model
from codec_jax.train.loop import read_metrics
from tests.helpers.train_toys import TINY, toy_sample

REPO = Path(__file__).resolve().parents[2]


def _sets(*overrides):
    return [arg for override in overrides for arg in ("--set", override)]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def inputs(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_root(toy_sample(0, n=160, particles=8), folder / "a.root")
    write_root(toy_sample(1, n=160, particles=8), folder / "b.root")
    return folder


def _commands(folder: Path) -> dict[str, list[str]]:
    a, b = folder / "a.root", folder / "b.root"
    return {
        "flatten": ["flatten", "--signal", str(a), "--background", str(b), "--out", str(folder)],
        "ddt": ["ddt", "--background", str(a), "--out", str(a)],
        "ddt plot": ["ddt", "--background", str(a), "--out", str(folder / "map.json"), "--plot", str(a)],
        "pair": [
            "pair",
            "--nominal",
            str(a),
            "--alternate",
            str(b),
            "--cutoff-quantile",
            "0.2",
            "--out",
            str(b),
        ],
        "pretrain": _engine_argv("pretrain", a, folder, epochs=1),
        "finetune": _engine_argv("finetune", a, folder, epochs=1, extra=("finetune.level=full",)),
        "predict": ["predict", str(folder), "--data", str(a), "--out", str(a)],
        "generate": [
            "generate",
            "--process",
            "qcd",
            "--jets",
            "10",
            "--out",
            str(a),
            "--same-events-alternate",
            "fsr_high",
            "--alternate-out",
            str(a),
        ],
    }


@pytest.mark.parametrize(
    "name", ["flatten", "ddt", "ddt plot", "pair", "pretrain", "finetune", "predict", "generate"]
)
def test_an_output_equal_to_an_input_is_refused_and_the_input_kept(inputs, capsys, name):
    argv = _commands(inputs)[name]
    before = {path.name: _digest(path) for path in inputs.glob("*.root")}
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"codec-jax {argv[0]}: error: "), lines
    if name != "predict":  # predict first finds that the directory is no run; either way nothing is written
        assert "would be overwritten" in lines[0] or "could be overwritten" in lines[0], lines[0]
    assert {path.name: _digest(path) for path in inputs.glob("*.root")} == before
    assert sorted(path.name for path in inputs.iterdir()) == ["a.root", "b.root"]


def test_symlinks_are_resolved(tmp_path):
    target = tmp_path / "real.root"
    target.write_text("x")
    (tmp_path / "link.root").symlink_to(target)
    with pytest.raises(ConfigError, match="is the input"):
        refuse_overwriting_inputs([tmp_path / "link.root"], files=[target])
    with pytest.raises(ConfigError, match="contains the input"):
        refuse_overwriting_inputs([target], directories=[tmp_path])
    refuse_overwriting_inputs([target], files=[tmp_path / "other.root"], directories=[tmp_path / "sub"])


def _engine_argv(
    command: str, data: Path, out: Path, *, epochs: int, extra: tuple[str, ...] = ()
) -> list[str]:
    """``codec-jax pretrain|finetune`` of the tiny Deep Sets model on ``data``."""
    overrides = [
        *TINY,
        f"data.train={data}",
        "data.background_only=false",
        f"training.epochs={epochs}",
        *extra,
    ]
    config = f"configs/example_{command}.py"
    return [command, "--config", config, "--preset", "smoke", *_sets(*overrides), "--out", str(out)]


def _pretrain_argv(data: Path, out: Path, epochs: int) -> list[str]:
    return _engine_argv("pretrain", data, out, epochs=epochs)


def _final_params(out: Path):
    """(latest checkpointed epoch, its JSON items)."""
    with Checkpointer(out / "checkpoints", read_only=True) as checkpointer:
        return checkpointer.latest_epoch(), checkpointer.read_json()


@pytest.mark.slow
def test_sigterm_mid_training_exits_with_a_line_and_resumes_to_the_same_parameters(tmp_path):
    data = tmp_path / "train.root"
    write_root(toy_sample(3, n=2000, particles=8), data)
    epochs = 6
    reference = tmp_path / "reference"
    assert main(_pretrain_argv(data, reference, epochs)) == 0

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "codec_jax.cli", *_pretrain_argv(data, out, epochs)]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be terminated"
    os.kill(process.pid, signal.SIGTERM)
    status = process.wait(timeout=120)
    stderr = process.stderr.read()
    assert status != 0
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("codec-jax pretrain: error: terminated (SIGTERM)")
    stopped_at, _ = _final_params(out)
    assert stopped_at is not None and stopped_at < epochs

    assert main([*_pretrain_argv(data, out, epochs), "--resume"]) == 0
    model = build_model(
        "deepsets",
        encoder_kwargs={"particle_dims": [8], "jet_dims": [8], "output_dim": 8},
        projector_dims=(8, 4),
        head_dims=(8,),
    )
    template = model.init(jax.random.key(0), np.zeros((1, 8, 3), np.float32), np.ones((1, 8), bool))["params"]
    finished = {}
    for run in (reference, out):
        assert _final_params(run)[0] == epochs
        params = template
        for subtree in ("encoder", "projector"):
            params, _ = restore_encoder(run, params, subtree=subtree)
        finished[run.name] = params
    for left, right in zip(
        jax.tree.leaves(finished["reference"]), jax.tree.leaves(finished["killed"]), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))
    # the epoch records too, apart from their timings
    losses = [
        [{k: v for k, v in line.items() if "second" not in k} for line in read_metrics(run / "metrics.jsonl")]
        for run in (reference, out)
    ]
    assert len(losses[0]) == epochs and losses[0] == losses[1]


def test_a_torn_last_metrics_line_is_dropped_on_resume_with_a_warning(tmp_path):
    """A kill while a record is appended leaves half a line; --resume drops it and finishes."""
    data = tmp_path / "train.root"
    write_root(toy_sample(5, n=200, particles=8), data)
    reference, out = tmp_path / "reference", tmp_path / "torn"
    assert main(_pretrain_argv(data, reference, 3)) == 0
    assert main(_pretrain_argv(data, out, 3)) == 0
    # as if killed while appending epoch 3's record: half a line, no checkpoint of epoch 3
    shutil.rmtree(out / "checkpoints" / "3")
    metrics = out / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(read_metrics(metrics)) == 2
    with pytest.warns(UserWarning, match="torn last line"):
        assert main([*_pretrain_argv(data, out, 3), "--resume"]) == 0
    lines = metrics.read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    timing = ("epoch_seconds", "examples_per_second")
    strip = [{k: v for k, v in entry.items() if k not in timing} for entry in read_metrics(metrics)]
    assert strip == [
        {k: v for k, v in e.items() if k not in timing} for e in read_metrics(reference / "metrics.jsonl")
    ]
    metrics.write_text('{"epoch": 1}\nnot json\n{"epoch": 3}\n')  # damage before the last line is an error
    with pytest.raises(DataError, match="line 2 is not a JSON record"):
        read_metrics(metrics)
