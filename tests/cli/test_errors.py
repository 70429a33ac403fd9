"""Every error a user can cause on the command line prints one line naming the culprit and exits 2.

Covers a wrong path, a missing branch, a bad config key (unknown section/field, malformed value,
missing ``=``, unknown preset, a study key) and an incompatible checkpoint for ``fine-tune --from``
(a missing or non-run directory, no checkpoint, an encoder that differs, a damaged checkpoint),
on each subcommand that reads such input; and that ``--debug`` shows the traceback instead.
"""

import json
import shutil
import subprocess
import sys

import awkward as ak
import numpy as np
import pytest
import uproot

from codec_jax.cli import main
from codec_jax.data.io import JET_BRANCHES, PARTICLE_BRANCHES, write_root
from codec_jax.errors import CheckpointError, ConfigError, DataError
from tests.helpers.train_toys import TINY, toy_sample


def _sets(*overrides):
    return [arg for override in overrides for arg in ("--set", override)]


#: A tiny Deep Sets model and one short epoch: every run here fails or finishes in seconds.
TINY_RUN = _sets(*TINY, "training.epochs=1")
PRETRAIN = ["pretrain", "--config", "configs/example_pretrain.py", "--preset", "smoke", *TINY_RUN]
FINETUNE = ["finetune", "--config", "configs/example_finetune.py", "--preset", "smoke", *TINY_RUN]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """good.root (160 toy jets), missing_msd.root (no jet_msd branch), text.root (not ROOT), and
    a_file (a plain file where a directory is needed)."""
    root = tmp_path_factory.mktemp("cli_errors")
    write_root(toy_sample(0, n=160, particles=8), root / "good.root")
    n = 5
    branches = {name: ak.Array([[10.0, 5.0]] * n) for name in PARTICLE_BRANCHES.values()}
    for field, name in JET_BRANCHES.items():
        if name != "jet_msd":
            dtype = np.int32 if field in ("n_particles", "label") else np.float32
            branches[name] = np.ones(n, dtype)
    with uproot.recreate(root / "missing_msd.root") as file:
        file["jets"] = branches
    (root / "text.root").write_text("not a ROOT file\n")
    (root / "a_file").write_text("x\n")
    return root


@pytest.fixture(scope="module")
def pretrained(data):
    """A one-epoch pretraining run of a tiny Deep Sets encoder."""
    out = data / "pretrain"
    overrides = _sets(f"data.train={data / 'good.root'}", "data.background_only=false")
    assert main([*PRETRAIN, *overrides, "--out", str(out)]) == 0
    return out


def _error_line(capsys, argv, *names):
    """Run the CLI, check status 2 and one error line (no traceback) naming each of ``names``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"codec-jax {argv[0]}: error: ")
    for name in names:
        assert str(name) in lines[0]
    return lines[0]


# --------------------------------------------------------------------------- wrong paths, branches
@pytest.mark.parametrize(
    ("command", "file", "names"),
    [
        ("flatten", "nope.root", ["nope.root", "no such file"]),
        ("flatten", "missing_msd.root", ["missing_msd.root", "jet_msd"]),
        ("ddt", "missing_msd.root", ["missing_msd.root", "jet_msd"]),
        ("ddt", "text.root", ["text.root", "not a readable ROOT file"]),
        ("pair", "nope.h5", ["nope.h5", "no such file"]),
        ("pair", "text.root", ["text.root", "not a readable ROOT file"]),
        ("pair", ".", ["is a directory"]),
        ("pretrain", "missing_msd.root", ["missing_msd.root", "jet_msd"]),
        ("finetune", "nope.root", ["nope.root", "no such file"]),
    ],
)
def test_bad_input_file_names_the_file_and_branch(data, capsys, command, file, names):
    path, good = data / file, data / "good.root"
    argv = {
        "flatten": ["flatten", "--signal", str(path), "--background", str(good), "--out", str(data / "f")],
        "ddt": ["ddt", "--background", str(path), "--out", str(data / "ddt.json")],
        "pair": ["pair", "--nominal", str(good), "--alternate", str(path), "--cutoff", "1", "--out", "p.npz"],
        "pretrain": [*PRETRAIN, *_sets(f"data.train={path}"), "--out", str(data / "r")],
        # from scratch (level full), so that no --from is needed
        "finetune": [
            *FINETUNE,
            *_sets(f"data.train={path}", "finetune.level=full"),
            "--out",
            str(data / "r"),
        ],
    }[command]
    _error_line(capsys, argv, *names)


def test_output_below_a_file_names_the_file(data, capsys):
    blocker = data / "a_file"
    argv = ["ddt", "--background", str(data / "good.root"), "--rho-bins", "2", "--pt-bins", "1"]
    _error_line(capsys, [*argv, "--out", str(blocker / "ddt.json")], blocker / "ddt.json", "is a file")
    # an OSError from code that does not check (here: the study directory) is caught by the CLI
    argv = ["run", "configs/mack.py", "--preset", "smoke", "--out", str(blocker / "study")]
    _error_line(capsys, argv, blocker / "study", f"{blocker} is a file, not a directory")


# --------------------------------------------------------------------------- config keys
@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--preset", "huge"], ["no preset 'huge'"]),
        (["--set", "training.epochz=3"], ["'training.epochz'", "epochs"]),
        (["--set", "trainer.epochs=3"], ["'trainer'", "training"]),
        (["--set", "training.epochs=three"], ["'training.epochs'", "int", "'three'"]),
        (["--set", "model.projector_dims=8,x"], ["'model.projector_dims[1]'"]),
        (["--set", "training.progress=maybe"], ["'training.progress'", "bool"]),
        (["--set", "model.encoder_kwargs.x={bad"], ["'model.encoder_kwargs.x'", "not valid JSON"]),
        (["--set", "training.epochs"], ["'training.epochs'", "section.field=value"]),
        (["--set", "epochs=3"], ["'epochs'", "section.field"]),
    ],
)
def test_bad_config_key_or_value_names_it(capsys, tmp_path, extra, names):
    _error_line(capsys, [*PRETRAIN, "--out", str(tmp_path / "r"), *extra], *names)


def test_bad_config_file_names_it(capsys, tmp_path):
    out = str(tmp_path / "r")
    _error_line(capsys, ["finetune", "--config", "configs/nope.py", "--out", out], "configs/nope.py")
    not_python = tmp_path / "config.txt"
    not_python.write_text("get_config = 1\n")
    _error_line(capsys, ["pretrain", "--config", str(not_python), "--out", out], not_python, "not a Python")
    broken = tmp_path / "broken.py"
    broken.write_text("def get_config(preset=None):\n    return {}['model']\n")
    _error_line(capsys, ["pretrain", "--config", str(broken), "--out", out], broken, "KeyError")


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--preset", "huge"], ["configs/mack.py", "no preset 'huge'"]),
        (["--set", "seedz=1"], ["'seedz'", "seeds"]),
        (["--set", "seeds=a,b"], ["'seeds[0]'", "expects an int"]),
        (["--set", "samples.n_jets=lots"], ["'samples.n_jets'", "'lots'"]),
        (["--set", "pretrain.training.epochz=1"], ["'pretrain.training.epochz'", "epochs"]),
    ],
)
def test_bad_study_key_names_it(capsys, tmp_path, extra, names):
    _error_line(capsys, ["run", "configs/mack.py", "--out", str(tmp_path / "s"), *extra], *names)


# --------------------------------------------------------------------------- checkpoints
def _finetune_argv(data, pretrained_dir):
    out = pretrained_dir.parent / f"ft_{pretrained_dir.name}"
    return [
        *FINETUNE,
        *_sets(f"data.train={data / 'good.root'}"),
        "--from",
        str(pretrained_dir),
        "--out",
        str(out),
    ]


def _copy_run(pretrained, name):
    copy = pretrained.parent / name
    shutil.copytree(pretrained, copy)
    return copy


def test_finetune_from_a_missing_or_non_run_directory(data, capsys):
    _error_line(capsys, _finetune_argv(data, data / "no_run"), data / "no_run", "does not exist")
    not_run = data / "not_a_run"
    not_run.mkdir()
    _error_line(capsys, _finetune_argv(data, not_run), not_run, "not a run directory")
    empty = data / "empty_run"
    (empty / "checkpoints").mkdir(parents=True)
    _error_line(capsys, _finetune_argv(data, empty), empty / "checkpoints", "no checkpoint found")


def test_finetune_from_a_run_whose_encoder_differs(data, pretrained, capsys):
    other = _copy_run(pretrained, "other_encoder")
    # the checkpoint's config (from which fine-tuning takes the encoder) says 12 outputs,
    # its parameters have 8: the restore must fail naming the parameter and both shapes
    (config_file,) = [p for p in other.glob("checkpoints/*/config/*") if p.name != "commit_success.txt"]
    saved = json.loads(config_file.read_text())
    saved["model"]["encoder_kwargs"]["output_dim"] = 12
    config_file.write_text(json.dumps(saved))
    # an edited config no longer matches its checksum; without checksums (a checkpoint written
    # before they existed) the shape check is what stops the restore
    _error_line(capsys, _finetune_argv(data, other), "is corrupt: config does not match the checksum")
    (checksums,) = other.glob("checkpoints/*/checksums")
    shutil.rmtree(checksums)
    _error_line(capsys, _finetune_argv(data, other), "encoder/output", "(8,)", "(12,)")


def test_finetune_from_a_damaged_checkpoint(data, pretrained, capsys):
    damaged = _copy_run(pretrained, "damaged")
    (state,) = damaged.glob("checkpoints/*/state")
    shutil.rmtree(state)
    _error_line(capsys, _finetune_argv(data, damaged), damaged / "checkpoints", "incomplete")


# --------------------------------------------------------------------------- --debug
def test_debug_raises_the_error_itself(data, tmp_path):
    argv = [*PRETRAIN, "--out", str(tmp_path / "r")]
    with pytest.raises(ConfigError, match="training.epochz"):
        main(["--debug", *argv, "--set", "training.epochz=3"])
    with pytest.raises(DataError, match="jet_msd"):  # --debug after the subcommand works too
        main([*argv, *_sets(f"data.train={data / 'missing_msd.root'}"), "--debug"])
    with pytest.raises(CheckpointError, match="not a run directory"):
        main(["--debug", *_finetune_argv(data, data / "a_file")])
    with pytest.raises(NotADirectoryError):  # an OSError: the CLI's last line of defence
        main(["--debug", "run", "configs/mack.py", "--preset", "smoke", "--out", str(data / "a_file" / "s")])


def test_a_real_process_prints_one_line_or_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "codec_jax.cli", "pretrain", "--config", str(tmp_path / "nope.py")]
    argv += ["--out", str(tmp_path / "r")]
    runs = [subprocess.Popen(a, stderr=subprocess.PIPE, text=True) for a in (argv, [*argv, "--debug"])]
    (plain, plain_err), (debug, debug_err) = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    assert plain == 2
    assert plain_err.strip().splitlines() == [
        f"codec-jax pretrain: error: config file {tmp_path / 'nope.py'} does not exist"
    ]
    assert debug != 0
    assert "Traceback" in debug_err and "ConfigError" in debug_err
