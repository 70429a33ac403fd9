"""Generation on any concurrent.futures.Executor (a process pool, a Dask cluster): the same file
as the local run with the same seed, bit for bit."""

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import uproot

from codec_jax.cli import main
from codec_jax.data.generate import GenerationConfig, generate_to_file
from codec_jax.errors import ConfigError
from codec_jax.executors import dask_executor

pytestmark = pytest.mark.generate


def _branches(path):
    with uproot.open(path) as file:
        return file["jets"].arrays(library="np"), str(file["metadata"])


def _assert_same(a, b):
    (left, left_meta), (right, right_meta) = _branches(a), _branches(b)
    assert left.keys() == right.keys() and left_meta == right_meta
    for name in left:
        if left[name].dtype == object:
            assert all(np.array_equal(x, y) for x, y in zip(left[name], right[name], strict=True)), name
        else:
            np.testing.assert_array_equal(left[name], right[name], err_msg=name)


def test_a_process_pool_executor_gives_the_local_file(tmp_path):
    config = GenerationConfig(process="qcd", n_jets=12, seed=9, chunk_jets=4)
    generate_to_file(config, tmp_path / "local.root", progress=False)
    with ProcessPoolExecutor(2) as pool:
        generate_to_file(config, tmp_path / "pool.root", progress=False, executor=pool)
    _assert_same(tmp_path / "local.root", tmp_path / "pool.root")


def test_generate_on_a_two_worker_dask_cluster_gives_the_local_file(tmp_path):
    pytest.importorskip("distributed")
    argv = [
        "generate",
        "--process",
        "qcd",
        "--jets",
        "12",
        "--chunk-jets",
        "4",
        "--seed",
        "9",
        "--no-progress",
    ]
    assert main([*argv, "--out", str(tmp_path / "local.root")]) == 0
    assert main([*argv, "--dask", "local:2", "--out", str(tmp_path / "dask.root")]) == 0
    _assert_same(tmp_path / "local.root", tmp_path / "dask.root")


def test_a_bad_dask_address_is_one_error():
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match="local:N with N >= 1"), dask_executor("local:zero"):
        pass
