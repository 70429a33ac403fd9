"""Multi-host training on one machine: two processes on localhost, ``jax.distributed`` over the
CPU backend (gloo), two local devices each, sharing one run directory.

Checks the issue's contract: ``metrics.jsonl`` gets exactly one line per epoch (only process 0
writes), the final parameters equal a one-process run with the same global batch on 4 devices
(float32 tolerance: the gradient all-reduce sums in another order), and after killing one
process (the other aborts after the heartbeat timeout) both resume from the last checkpoint to
the same parameters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from codec_jax.data.io import write_root
from codec_jax.inference.trained import load_trained_run
from codec_jax.train.loop import read_metrics
from tests.helpers.train_toys import TINY, toy_sample

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _argv(data: Path, out: Path) -> list[str]:
    overrides = [
        *[item for item in TINY if not item.startswith("training.devices")],
        "training.devices=0",  # every device of every process
        f"data.train={data}",
        "data.background_only=false",
        f"training.epochs={EPOCHS}",
    ]
    sets = [arg for override in overrides for arg in ("--set", override)]
    config = "configs/example_pretrain.py"
    return [
        sys.executable,
        "-m",
        "codec_jax.cli",
        "pretrain",
        "--config",
        config,
        "--preset",
        "smoke",
        *sets,
        "--out",
        str(out),
    ]


def _env(devices: int, kill_at: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CODEC_JAX_KILL_AT"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    if kill_at:
        env["CODEC_JAX_KILL_AT"] = kill_at
    return env


def _launch(
    command: list[str], devices: int, kill_process_1_at: str | None = None
) -> list[tuple[int, str, str]]:
    """Run ``command`` as processes 0 and 1 of a localhost cluster (``devices`` CPU devices each);
    returns ``(exit code, stdout, stderr)`` of each."""
    coordinator = f"localhost:{_free_port()}"
    processes = [
        subprocess.Popen(
            [*command, "--coordinator", coordinator, "--num-processes", "2", "--process-id", str(index)],
            cwd=REPO,
            env=_env(devices, kill_process_1_at if index == 1 else None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    return [(process.returncode, *output) for process, output in zip(processes, outputs, strict=True)]


def _two_processes(data: Path, out: Path, *extra: str, kill_process_1_at: str | None = None) -> list[int]:
    """Run the pretraining as processes 0 and 1; returns their exit codes."""
    command = [*_argv(data, out), *extra, "--heartbeat-timeout", "5"]
    results = _launch(command, 2, kill_process_1_at)
    if kill_process_1_at is None:
        for code, _, stderr in results:
            assert code == 0, stderr[-3000:]
    return [code for code, _, _ in results]


def _params(run: Path) -> dict:
    example = toy_sample(0, n=2, particles=8)
    return jax.tree.map(np.asarray, load_trained_run(run, example).params)


def _assert_close(a: dict, b: dict) -> None:
    """Equal to float32 tolerance, leaf by leaf, but for the projector's biases: VICReg is
    invariant under a shift of the embeddings, so they get a zero gradient in exact arithmetic and
    Adam turns rounding noise into moves of order the learning rate -- between any two device
    layouts, also within one process (measured: 2 vs 4 devices of one process differ by 1e-3 there,
    by < 5e-6 of the scale elsewhere)."""
    flat_a = dict(jax.tree_util.tree_leaves_with_path(a))
    flat_b = dict(jax.tree_util.tree_leaves_with_path(b))
    assert flat_a.keys() == flat_b.keys() and flat_a
    compared = 0
    for path, x in flat_a.items():
        name = jax.tree_util.keystr(path)
        if "projector" in name and "bias" in name:
            continue
        y = flat_b[path]
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-4 * np.abs(y).max() + 1e-8, err_msg=name)
        compared += 1
    assert compared >= 6  # the encoder and the projector's kernels


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("multihost") / "train.root"
    write_root(toy_sample(3, n=400, particles=8), path)
    return path


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory) -> Path:
    """The reference: one process with 4 devices, the same global batch of 32."""
    out = tmp_path_factory.mktemp("one") / "run"
    result = subprocess.run(
        _argv(data, out), cwd=REPO, env=_env(4), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_two_processes_write_one_metrics_line_per_epoch_and_match_one_process(data, one_process, tmp_path):
    out = tmp_path / "run"
    assert _two_processes(data, out) == [0, 0]
    records = read_metrics(out / "metrics.jsonl")
    assert [record["epoch"] for record in records] == list(range(1, EPOCHS + 1))
    reference = read_metrics(one_process / "metrics.jsonl")
    np.testing.assert_allclose(
        [r["train/loss"] for r in records], [r["train/loss"] for r in reference], rtol=1e-5
    )
    _assert_close(_params(out), _params(one_process))
    assert (out / "config.json").read_text() == (one_process / "config.json").read_text()


def test_a_killed_process_and_a_resume_of_both_end_with_the_same_parameters(data, one_process, tmp_path):
    out = tmp_path / "run"
    codes = _two_processes(data, out, kill_process_1_at="train:epoch_saved:2")
    assert codes[1] == -9  # SIGKILL after epoch 2's line, while its checkpoint is written
    assert codes[0] != 0  # process 0 aborts after the heartbeat timeout instead of waiting forever
    assert _two_processes(data, out, "--resume") == [0, 0]
    assert [record["epoch"] for record in read_metrics(out / "metrics.jsonl")] == list(range(1, EPOCHS + 1))
    _assert_close(_params(out), _params(one_process))


def test_a_run_directory_in_use_is_refused_by_every_process(data, one_process, tmp_path):
    """Process 0's verdict on the directory reaches process 1: both exit with status 2."""
    out = tmp_path / "run"
    assert _two_processes(data, out) == [0, 0]
    results = _launch(_argv(data, out), 2)
    assert [code for code, _, _ in results] == [2, 2]
    errors = [stderr for _, _, stderr in results]
    assert all("already holds a run" in error for error in errors), [e[-500:] for e in errors]
    assert "verdict of process 0" in errors[1]


def test_a_study_on_two_processes_writes_one_report_from_process_0(codec_smoke_cache, tmp_path):
    """``codec-jax run`` with the multi-host flags: every training runs on both processes (2
    devices), process 0 alone writes the study directory and prints the digest; the reported
    numbers equal a one-process run on 2 devices to float32 tolerance."""
    config = REPO / "configs" / "codec_regression.py"
    sets = ["--set", f"samples.cache_dir={codec_smoke_cache}", "--set", "regression.training.devices=0"]
    command = [sys.executable, "-m", "codec_jax.cli", "run", str(config), "--preset", "smoke", *sets]
    reference = tmp_path / "one"
    result = subprocess.run(
        [*command, "--out", str(reference)],
        cwd=REPO,
        env=_env(2),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "two"
    results = _launch([*command, "--out", str(out)], 1)
    assert [code for code, _, _ in results] == [0, 0], [stderr[-2000:] for _, _, stderr in results]
    assert "report:" in results[0][1] and "report:" not in results[1][1]
    for run in out.glob("seed*/*"):
        records = read_metrics(run / "metrics.jsonl")
        assert [r["epoch"] for r in records] == list(range(1, len(records) + 1)) and records
    expected = json.loads((reference / "metrics.json").read_text())["runs"]
    actual = json.loads((out / "metrics.json").read_text())["runs"]
    assert _numbers(actual).keys() == _numbers(expected).keys()
    for name, value in _numbers(expected).items():
        np.testing.assert_allclose(_numbers(actual)[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def _numbers(tree, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a JSON tree by path (None as NaN)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _numbers(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _numbers(sub, f"{prefix}[{i}]").items()}
    if isinstance(tree, bool) or not isinstance(tree, (int, float, type(None))):
        return {}
    return {prefix: np.nan if tree is None else float(tree)}


_VERDICT_SCRIPT = """
import sys
from codec_jax import parallel
parallel.initialize_distributed(sys.argv[1], 2, int(sys.argv[2]), heartbeat_timeout=10)
from codec_jax.errors import CodecJaxError

def check():
    raise OSError(28, "No space left on device", "/shared/run/config.json")

try:
    parallel.main_process_verdict(check, "test:verdict")
except CodecJaxError as error:
    print("CodecJaxError:", error)
except OSError as error:
    print("OSError:", error)
print("value:", parallel.main_process_verdict(lambda: 42, "test:value"))
"""


def test_any_failure_of_process_0_reaches_the_others():
    """An error that is not a user error (here an OSError) is re-raised on process 0 and reaches
    process 1 as a CodecJaxError naming it; a value is returned on process 0 only."""
    coordinator = f"localhost:{_free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _VERDICT_SCRIPT, coordinator, str(index)],
            cwd=REPO,
            env=_env(1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert "OSError: [Errno 28] No space left on device" in outputs[0] and "value: 42" in outputs[0]
    assert "CodecJaxError: process 0 failed: OSError" in outputs[1] and "value: None" in outputs[1]
