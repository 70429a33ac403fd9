"""Generation and pairing on any concurrent.futures.Executor (a process pool, a Dask cluster): the
same file / the same pairs as the local run, bit for bit."""

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import uproot

from codec_jax.cli import main
from codec_jax.data.generate import GenerationConfig, generate_to_file
from codec_jax.errors import ConfigError
from codec_jax.executors import dask_executor


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


@pytest.mark.generate
def test_a_process_pool_executor_gives_the_local_file(tmp_path):
    config = GenerationConfig(process="qcd", n_jets=12, seed=9, chunk_jets=4)
    generate_to_file(config, tmp_path / "local.root", progress=False)
    with ProcessPoolExecutor(2) as pool:
        generate_to_file(config, tmp_path / "pool.root", progress=False, executor=pool)
    _assert_same(tmp_path / "local.root", tmp_path / "pool.root")


@pytest.mark.generate
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


def _pair_inputs(tmp_path):
    from codec_jax.data.io import write_root
    from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample

    rng = np.random.default_rng(2)
    pt, xy = make_jets(rng, 80, 20)
    write_root(relative_sample(pt, xy), tmp_path / "nominal.root")
    write_root(relative_sample(*perturb_jets(rng, pt, xy)), tmp_path / "alternate.root")
    return ["--nominal", str(tmp_path / "nominal.root"), "--alternate", str(tmp_path / "alternate.root")]


@pytest.mark.parametrize("where", ["pool", "dask"])
def test_pairing_on_an_executor_gives_the_same_pairs(tmp_path, where):
    from codec_jax.data.io import read_root
    from codec_jax.pairing import PairingConfig, find_pairs, load_pairs

    pytest.importorskip("ot")
    inputs = _pair_inputs(tmp_path)
    argv = ["pair", *inputs, "--cutoff-quantile", "0.3", "--backend", "exact", "--candidates", "5"]
    assert main([*argv, "--out", str(tmp_path / "local.npz")]) == 0
    local = load_pairs(tmp_path / "local.npz")
    if where == "dask":
        pytest.importorskip("distributed")
        assert main([*argv, "--dask", "local:2", "--out", str(tmp_path / "dask.npz")]) == 0
        other = load_pairs(tmp_path / "dask.npz")
    else:
        nominal, alternate = read_root(inputs[1]), read_root(inputs[3])
        config = PairingConfig(candidates=5, cutoff_quantile=0.3, backend="exact", batch_size=64)
        with ProcessPoolExecutor(2) as pool:
            other = find_pairs(0, nominal, alternate, config, progress=False, executor=pool)
    np.testing.assert_array_equal(other.nominal_index, local.nominal_index)
    np.testing.assert_array_equal(other.alternate_index, local.alternate_index)
    np.testing.assert_array_equal(other.emd, local.emd)
