"""The recipes of docs/scaling.md, run as far as one machine allows.

Each recipe is the code block after a ``<!-- recipe: NAME -->`` marker. Batch scripts run with
``bash`` and the array index set by hand (small job sizes through the variables the scripts read);
the HTCondor submit file's macros are expanded and each process's ``arguments`` run; the
dask-jobqueue code runs on a ``LocalCluster`` and its ``SLURMCluster`` writes a job script; the
multi-node training commands are parsed by the real command-line parser (they run in
tests/train/test_multihost.py with two processes on localhost).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from codec_jax.cli import build_parser
from codec_jax.data.io import write_root
from codec_jax.pairing import load_pairs
from tests.helpers.train_toys import toy_sample

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "scaling.md").read_text()
SMALL_JOB = {"N": "3", "JETS": "30", "CHUNK_JETS": "10"}


def recipe(name: str) -> str:
    """The code block after ``<!-- recipe: name -->``."""
    match = re.search(rf"<!-- recipe: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", DOC, flags=re.DOTALL)
    assert match, f"docs/scaling.md has no recipe {name!r}"
    return match.group(1)


def _env(**variables: str) -> dict[str, str]:
    """This environment with the venv's ``codec-jax`` first on PATH, plus ``variables``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(variables)
    return env


def _bash(script: str, folder: Path, **variables: str) -> None:
    path = folder / "script.sh"
    path.write_text(script)
    result = subprocess.run(
        ["bash", str(path)], cwd=folder, env=_env(**variables), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _branches(path: Path) -> dict[str, list]:
    """Every branch of the file's tree as (nested) Python lists."""
    with uproot.open(path) as file:
        tree = file[file.keys(cycle=False)[0]]
        arrays = tree.arrays()
        return {name: arrays[name].to_list() for name in arrays.fields}


def _assert_same_file(a: Path, b: Path) -> None:
    left, right = _branches(a), _branches(b)
    assert left.keys() == right.keys() and len(next(iter(left.values()))) == 30
    for name in left:
        assert left[name] == right[name], name


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory) -> Path:
    """The job of the generation recipes run as one process."""
    out = tmp_path_factory.mktemp("unsharded") / "qcd.root"
    argv = ["generate", "--process", "qcd", "--variant", "nominal", "--jets", "30", "--chunk-jets", "10"]
    command = [
        sys.executable,
        "-m",
        "codec_jax.cli",
        *argv,
        "--seed",
        "7",
        "--no-progress",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.generate
@pytest.mark.slow
def test_slurm_array_and_merge_give_the_unsharded_file(unsharded, tmp_path):
    for task in range(3):
        _bash(recipe("slurm-generate"), tmp_path, SLURM_ARRAY_TASK_ID=str(task), **SMALL_JOB)
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.root")) == [f"qcd_{i}.root" for i in range(3)]
    _bash(recipe("slurm-merge"), tmp_path)
    _assert_same_file(tmp_path / "qcd_nominal.root", unsharded)


def _condor_processes(submit: str, overrides: dict[str, str]) -> list[list[str]]:
    """The command of every process of a submit file (its macros expanded, ``overrides`` first)."""
    macros = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", submit, flags=re.MULTILINE))
    macros.update(overrides)
    count = re.search(r"^queue\s+(.*)$", submit, flags=re.MULTILINE).group(1)

    def expand(text: str, process: int) -> str:
        return re.sub(
            r"\$\((\w+)\)", lambda m: str(process) if m.group(1) == "Process" else macros[m.group(1)], text
        )

    processes = int(expand(count, 0))
    assert macros["executable"] == "/usr/bin/env"
    return [shlex.split(expand(macros["arguments"], process)) for process in range(processes)]


@pytest.mark.generate
@pytest.mark.slow
def test_htcondor_submit_file_runs_the_same_job(unsharded, tmp_path):
    commands = _condor_processes(recipe("htcondor-generate"), SMALL_JOB)
    assert len(commands) == 3 and all(command[0] == "codec-jax" for command in commands)
    (tmp_path / "shards").mkdir()
    for command in commands:
        result = subprocess.run(
            command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr[-3000:]
    _bash(recipe("slurm-merge"), tmp_path)  # the merge.sub of the page runs the same command
    _assert_same_file(tmp_path / "qcd_nominal.root", unsharded)


def test_sharded_pairing_recipe_gives_the_unsharded_pairs(tmp_path):
    write_root(toy_sample(0, n=120, particles=8), tmp_path / "qcd_nominal.root")
    write_root(toy_sample(1, n=120, particles=8), tmp_path / "qcd_fsr_high.root")
    for task in range(3):
        _bash(recipe("slurm-pair"), tmp_path, SLURM_ARRAY_TASK_ID=str(task), N="3")
    _bash(recipe("slurm-pair-merge"), tmp_path)
    command = recipe("slurm-pair").split("codec-jax pair ", 1)[1].replace("\\\n", " ")
    argv = shlex.split(re.sub(r"--shard \S+ --out \S+", "--out pairs_unsharded.npz", command))
    result = subprocess.run(
        ["codec-jax", "pair", *argv], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    merged, reference = load_pairs(tmp_path / "pairs.npz"), load_pairs(tmp_path / "pairs_unsharded.npz")
    assert len(reference) > 0
    np.testing.assert_array_equal(merged.nominal_index, reference.nominal_index)
    np.testing.assert_array_equal(merged.alternate_index, reference.alternate_index)
    np.testing.assert_array_equal(merged.emd, reference.emd)


@pytest.mark.generate
@pytest.mark.slow
def test_dask_jobqueue_recipe_runs_on_a_local_cluster(codec_smoke_cache, tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask_jobqueue")
    from codec_jax.data.generate import GenerationConfig
    from codec_jax.studies import apply_study_overrides, load_study_config

    namespace: dict = {"__name__": "recipe"}
    exec(compile(recipe("dask-jobqueue"), "docs/scaling.md", "exec"), namespace)
    study = apply_study_overrides(
        load_study_config(REPO / "configs" / "codec_regression.py", "smoke"),
        [f"samples.cache_dir={codec_smoke_cache}"],
    )
    generation = GenerationConfig(process="qcd", n_jets=20, seed=7, chunk_jets=10)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        metrics = namespace["scale_out"](cluster, generation, study, str(tmp_path))
    assert len(_branches(tmp_path / "qcd.root")["jet_pt"]) == 20
    assert (tmp_path / "study" / "metrics.json").is_file() and metrics["runs"]
    cluster = namespace["slurm_cluster"](jobs=0)  # no sbatch here: only the job script is checked
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH" in script and "--qos=normal" in script and "distributed.cli.dask_worker" in script


def test_multinode_commands_parse():
    """The srun line and the explicit-coordinator line are valid commands of our parser."""
    parser = build_parser()
    srun = recipe("slurm-multinode").split("srun codec-jax ", 1)[1].replace("\\\n", " ")
    args = parser.parse_args(shlex.split(srun))
    assert args.command == "pretrain" and args.distributed and args.coordinator is None
    blocks = re.findall(r"```bash\n(.*?)```", DOC, flags=re.DOTALL)
    explicit = next(block for block in blocks if "--coordinator host0:1234" in block)
    line = explicit.replace("\\\n", " ").split("codec-jax pretrain ", 1)[1]
    line = line.replace("--num-processes N", "--num-processes 2").replace("--process-id I", "--process-id 1")
    args = parser.parse_args(["pretrain", *shlex.split(line)])
    assert (args.coordinator, args.num_processes, args.process_id) == ("host0:1234", 2, 1)
