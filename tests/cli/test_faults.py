"""Fault injection: what the command line does when it is killed, runs out of disk or reads bad input.

* Every command that reads files refuses an output that is one of its inputs (or a directory
  holding one) with one error line, before any work; the input's bytes are unchanged.
* SIGTERM (what a batch system sends before a kill) mid-epoch ends ``pretrain`` with one line and
  a non-zero status; ``--resume`` then finishes with the same parameters as an uninterrupted run.
* kill -9 at set points (``CODEC_JAX_KILL_AT``, :mod:`codec_jax.faults`): while a checkpoint is
  written (resume gives the same parameters), before the pair file (nothing left), between the
  files of ``flatten`` (readers refuse the mixed set), after a generation chunk (the rerun gives
  the same file).
* A full disk (a tiny tmpfs where the machine allows mounting, and patched writers everywhere):
  one line naming the path, exit 2.
* A damaged checkpoint: refused in one line naming epoch and array; ``--resume`` falls back to
  the previous good checkpoint and ends with the same parameters.
* Malformed inputs (unphysical constituents and jets, jets without constituents, unknown or
  out-of-range settings, negative seeds): one line, exit 2, the input unchanged.
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
        "merge": ["merge", str(a), str(b), "--out", str(b)],
        "export": ["export", str(folder), "--out", str(a)],
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
    "name",
    ["flatten", "ddt", "ddt plot", "pair", "pretrain", "finetune", "predict", "generate", "merge", "export"],
)
def test_an_output_equal_to_an_input_is_refused_and_the_input_kept(inputs, capsys, name):
    argv = _commands(inputs)[name]
    before = {path.name: _digest(path) for path in inputs.glob("*.root")}
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"codec-jax {argv[0]}: error: "), lines
    if name not in ("predict", "export"):  # these first find that the folder is no run; nothing is written
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


# --------------------------------------------------------------------------- kill -9 at set points
def _killed_at(point: str, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``codec-jax ARGV`` in a subprocess that SIGKILLs itself at ``point`` (codec_jax.faults)."""
    env = {**os.environ, "CODEC_JAX_KILL_AT": point}
    command = [sys.executable, "-m", "codec_jax.cli", *argv]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])
    return result


def _state_checksums(run: Path, epoch: int) -> dict:
    """The checksums of the state arrays saved with ``epoch`` (equal checksums: equal arrays)."""
    saved = json.loads((run / "checkpoints" / str(epoch) / "checksums" / "metadata").read_text())
    return {name: digest for name, digest in saved.items() if name.startswith("state/")}


@pytest.mark.slow
def test_kill_9_while_a_checkpoint_is_written_resumes_to_the_same_parameters(tmp_path):
    data = tmp_path / "train.root"
    write_root(toy_sample(3, n=400, particles=8), data)
    reference, out = tmp_path / "reference", tmp_path / "killed"
    assert main(_pretrain_argv(data, reference, 4)) == 0
    _killed_at("train:epoch_saved:2", _pretrain_argv(data, out, 4))
    assert len(read_metrics(out / "metrics.jsonl")) == 2  # epoch 2's line is there, its checkpoint may not be
    assert main([*_pretrain_argv(data, out, 4), "--resume"]) == 0
    assert _state_checksums(out, 4) == _state_checksums(reference, 4)
    strip = [{k: v for k, v in e.items() if "second" not in k} for e in read_metrics(out / "metrics.jsonl")]
    assert strip == [
        {k: v for k, v in e.items() if "second" not in k} for e in read_metrics(reference / "metrics.jsonl")
    ]


def test_kill_9_before_the_pair_file_is_written_leaves_nothing(inputs, tmp_path):
    out = tmp_path / "pairs.npz"
    argv = ["pair", "--nominal", str(inputs / "a.root"), "--alternate", str(inputs / "b.root")]
    argv += ["--cutoff-quantile", "0.2", "--backend", "exact", "--out", str(out)]
    _killed_at("pair:searched", argv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no pair file, no temporary file
    assert main(argv) == 0 and out.is_file()


def test_kill_9_between_the_files_of_flatten_leaves_a_set_that_readers_refuse(tmp_path):
    from codec_jax.data.io import read_root

    signal_file, background_file = tmp_path / "signal_in.root", tmp_path / "background_in.root"
    write_root(_flattenable(0, label=1), signal_file)
    write_root(_flattenable(1, label=0), background_file)
    out = tmp_path / "flat"
    argv = ["flatten", "--signal", str(signal_file), "--background", str(background_file), "--out", str(out)]
    argv += ["--mass-bins", "5"]
    assert main([*argv, "--seed", "1"]) == 0
    read_root(out / "background.root")  # a finished set reads
    _killed_at("flatten:signal_written", [*argv, "--seed", "2"])  # overwrites signal.root only
    for name in ("signal.root", "background.root"):
        with pytest.raises(DataError, match="unfinished output set .*codec-jax flatten"):
            read_root(out / name)
    assert main([*argv, "--seed", "2"]) == 0
    assert len(read_root(out / "signal.root")) > 0
    shutil.copy(signal_file, out / "background.root")  # replaced afterwards: no longer its set's file
    with pytest.raises(DataError, match="differs from the file codec-jax flatten wrote"):
        read_root(out / "background.root")


def _flattenable(seed: int, label: int, n: int = 600):
    """Jets with soft-drop masses spread over 40-300 GeV (enough per mass bin to flatten)."""
    from tests.helpers.samples import make_sample

    sample = make_sample(n=n, p=8, seed=seed)
    rng = np.random.default_rng(seed)
    mass = rng.uniform(40.0, 300.0, n).astype(np.float32)
    return sample.replace(
        msd=mass, mass=mass, truth_mass=mass, label=np.full(n, label, dtype=sample.label.dtype)
    )


@pytest.mark.generate
def test_kill_9_after_a_generation_chunk_resumes_to_the_same_file(tmp_path):
    argv = ["generate", "--process", "qcd", "--jets", "12", "--chunk-jets", "6", "--seed", "3"]
    reference, out = tmp_path / "reference.root", tmp_path / "killed.root"
    assert main([*argv, "--out", str(reference), "--no-progress"]) == 0
    _killed_at("generate:chunk_written", [*argv, "--out", str(out), "--no-progress"])
    assert not out.exists() and len(list((tmp_path / "killed.root.chunks").glob("chunk_*.root"))) == 1
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    from codec_jax.data.io import read_root

    a, b = read_root(reference), read_root(out)
    np.testing.assert_array_equal(a.parts, b.parts)
    for field in ("pt", "msd", "n2", "tau21"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


# --------------------------------------------------------------------------- full disk
def _tiny_filesystem(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("size", ["24k", "60k", "150k"])
def test_a_full_disk_during_training_is_one_line_naming_the_path(tmp_path, size):
    disk = tmp_path / "disk"
    if not _tiny_filesystem(disk, size):
        pytest.skip("cannot mount a tiny tmpfs here (needs root); the patched-writer tests cover the logic")
    try:
        data = tmp_path / "train.root"
        write_root(toy_sample(3, n=400, particles=8), data)
        command = [sys.executable, "-m", "codec_jax.cli", *_pretrain_argv(data, disk / "run", 3)]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2
        assert len(lines) == 1, lines[:20]
        assert (
            str(disk / "run") in lines[0] and "No space left" in lines[0] or "RESOURCE_EXHAUSTED" in lines[0]
        )
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_failed_checkpoint_write_is_one_line_naming_the_checkpoint(inputs, tmp_path, monkeypatch, capsys):
    import orbax.checkpoint as ocp

    def full_disk(self, *args, **kwargs):
        raise ValueError("RESOURCE_EXHAUSTED: Error writing local file: Failed to write 12456 bytes")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    out = tmp_path / "run"
    assert main(_pretrain_argv(inputs / "a.root", out, 2)) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{out}/checkpoints/1: cannot write the checkpoint" in lines[0], lines


def test_a_failed_metrics_write_is_one_line_naming_the_file(inputs, tmp_path, monkeypatch, capsys):
    real_open = Path.open

    def full_disk(self, mode="r", *args, **kwargs):
        if self.name == "metrics.jsonl" and mode == "a":
            raise OSError(28, "No space left on device")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full_disk)
    out = tmp_path / "run"
    assert main(_pretrain_argv(inputs / "a.root", out, 2)) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"codec-jax pretrain: error: {out}/metrics.jsonl: No space left on device"]


# --------------------------------------------------------------------------- damaged checkpoints
def test_a_flipped_byte_in_a_checkpoint_is_refused_and_resume_falls_back(inputs, tmp_path, capsys):
    data = inputs / "a.root"
    reference, out = tmp_path / "reference", tmp_path / "damaged"
    assert main(_pretrain_argv(data, reference, 3)) == 0
    assert main(_pretrain_argv(data, out, 3)) == 0
    checksums = out / "checkpoints" / "3" / "checksums" / "metadata"
    saved = json.loads(checksums.read_text())
    name = next(key for key in saved if key.startswith("state/params/"))
    saved[name] = "f" * 64  # as if a byte of that array had flipped on disk
    checksums.write_text(json.dumps(saved))
    capsys.readouterr()
    finetune = _engine_argv("finetune", data, tmp_path / "tuned", epochs=1, extra=("finetune.level=frozen",))
    assert main([*finetune, "--from", str(out)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "checkpoints/3 is corrupt" in lines[0] and name.split("/", 1)[1] in lines[0]
    with pytest.warns(UserWarning, match="checkpoints/3 is corrupt.*resuming from epoch 2"):
        assert main([*_pretrain_argv(data, out, 3), "--resume"]) == 0
    assert _state_checksums(out, 3) == _state_checksums(reference, 3)


# --------------------------------------------------------------------------- malformed inputs
def _malformed(tmp_path: Path, kind: str) -> Path:
    from tests.data.test_io import _rewrite_without, _with_particle
    from tests.helpers.samples import make_sample

    sample = make_sample(n=60, p=8, seed=5)
    if kind == "negative constituent pT":
        return _with_particle(tmp_path, sample, "part_pt", 7, -3.0)
    if kind == "negative constituent energy":
        return _with_particle(tmp_path, sample, "part_energy", 7, -1.0)
    if kind == "energy below |p|":
        return _with_particle(tmp_path, sample, "part_energy", 7, 1e-3)
    if kind == "negative jet pT":
        jet_pt = sample.pt.copy()
        jet_pt[11] = -5.0
        return _rewrite_without(tmp_path, sample, replace={"jet_pt": jet_pt})
    mask = sample.mask.copy()
    mask[[4, 9]] = False  # "jets without constituents"
    from codec_jax.jets import JET_FIELDS, JetSample

    hollow = JetSample.from_arrays(
        sample.parts * mask[..., None],
        mask,
        sample.feature_names,
        {f: getattr(sample, f) for f in JET_FIELDS},
    )
    return write_root(hollow, tmp_path / "hollow.root")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("negative constituent pT", "'part_pt' has a negative value"),
        ("negative constituent energy", "'part_energy' has a negative value"),
        ("energy below |p|", "below |p|"),
        ("negative jet pT", "'jet_pt' is negative"),
        ("jets without constituents", "jet 4 has no constituents"),
    ],
)
def test_an_unphysical_input_is_one_line_and_stays_unchanged(tmp_path, capsys, kind, message):
    path = _malformed(tmp_path, kind)
    before = _digest(path)
    assert main(_pretrain_argv(path, tmp_path / "run", 1)) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0], lines
    assert _digest(path) == before and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "training.epochz=3"], "epochz"),
        (["--set", "training.epochs=0"], "training.epochs=0 is out of range"),
        (["--set", "training.epochs=-1"], "training.epochs=-1 is out of range"),
        (["--set", "training.seed=-1"], "training.seed=-1 is out of range"),
    ],
)
def test_an_invalid_setting_is_one_line(inputs, tmp_path, capsys, argv, message):
    assert main([*_pretrain_argv(inputs / "a.root", tmp_path / "run", 1), *argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize("command", ["pair", "flatten"])
def test_a_negative_seed_is_one_line(inputs, tmp_path, capsys, command):
    a, b = str(inputs / "a.root"), str(inputs / "b.root")
    argv = {
        "pair": [
            "pair",
            "--nominal",
            a,
            "--alternate",
            b,
            "--cutoff-quantile",
            "0.2",
            "--out",
            str(tmp_path / "p.npz"),
        ],
        "flatten": ["flatten", "--signal", a, "--background", b, "--out", str(tmp_path / "flat")],
    }[command]
    assert main([*argv, "--seed", "-1"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "seed" in lines[0], lines
