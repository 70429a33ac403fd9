"""Sharded pair search (``pair --shard i/N`` + ``pair --merge``): the merge equals the unsharded
search (pairs, order, candidate EMDs, settings), and bad shard sets are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample, wrap_phi
from codec_jax.pairing import PairingConfig, PairSet, find_pairs, load_pairs, save_pairs
from codec_jax.pairing.shards import (
    check_shard,
    find_pair_shard,
    load_pair_shard,
    merge_pair_shards,
    save_pair_shard,
    shard_slice,
)

pytest.importorskip("ot")


@pytest.fixture(scope="module")
def samples():
    """40 nominal jets (2 signal) and 36 alternate jets, 15 of them perturbed nominal jets."""
    rng = np.random.default_rng(11)
    pt, xy = make_jets(rng, 61, 20, min_particles=8)
    close_pt, close_xy = perturb_jets(rng, pt[:15], xy[:15], scale=0.1, smear=0.3)
    labels = np.zeros(40)
    labels[[3, 17]] = 1
    nominal = relative_sample(pt[:40], xy[:40], labels)
    alternate = relative_sample(np.concatenate([close_pt, pt[40:]]), np.concatenate([close_xy, xy[40:]]))
    return nominal, alternate


def _shard_files(samples, config, folder: Path, count=3, seed=7, name="part") -> list[Path]:
    nominal, alternate = samples
    return [
        save_pair_shard(
            find_pair_shard(seed, nominal, alternate, config, (i, count), progress=False),
            folder / f"{name}_{i}.npz",
        )
        for i in range(count)
    ]


def _assert_same(merged: PairSet, reference: PairSet, count: int) -> None:
    settings = dict(merged.settings)
    assert settings.pop("merged_shards") == count
    assert json.dumps(settings, sort_keys=True) == json.dumps(reference.settings, sort_keys=True)
    for name in ("nominal_index", "alternate_index", "emd", "candidate_emd"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(reference, name), err_msg=name)


CONFIGS = {
    "fixed cutoff": dict(cutoff=45.0, cutoff_quantile=None, batch_size=16),
    "quantile cutoff": dict(cutoff_quantile=0.2, batch_size=16),
    "ot_plan, quantile": dict(strategy="ot_plan", candidates=4, cutoff_quantile=0.5, batch_size=8),
    "prefiltered, fixed cutoff": dict(
        strategy="prefiltered", cutoff=45.0, cutoff_quantile=None, batch_size=8
    ),
    "pruned, fixed cutoff": dict(prune=True, cutoff=45.0, cutoff_quantile=None, batch_size=8),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_three_shards_merged_equal_the_unsharded_search(samples, tmp_path, name):
    config = PairingConfig(**{"candidates": 5, "backend": "exact", **CONFIGS[name]})
    reference = find_pairs(7, *samples, config, progress=False)
    assert len(reference) > 0
    files = _shard_files(samples, config, tmp_path)
    merged = merge_pair_shards(files[::-1])  # any order
    _assert_same(merged, reference, 3)
    # and through the pairs file
    save_pairs(merged, tmp_path / "merged.npz")
    _assert_same(load_pairs(tmp_path / "merged.npz"), reference, 3)


def test_sinkhorn_certified_shards_equal_the_unsharded_search(samples, tmp_path):
    config = PairingConfig(
        candidates=3, backend="sinkhorn", certified=True, cutoff=45.0, cutoff_quantile=None, batch_size=32
    )
    reference = find_pairs(7, *samples, config, progress=False)
    _assert_same(merge_pair_shards(_shard_files(samples, config, tmp_path)), reference, 3)


def test_more_shards_than_solver_batches_and_one_shard(samples, tmp_path):
    config = PairingConfig(candidates=2, backend="exact", cutoff_quantile=0.3, batch_size=64)
    reference = find_pairs(7, *samples, config, progress=False)
    files = _shard_files(samples, config, tmp_path, count=4)  # 76 candidates: 2 batches, 2 empty shards
    assert sorted(len(load_pair_shard(path).emd) for path in files) == [0, 0, 12, 64]
    _assert_same(merge_pair_shards(files), reference, 4)
    _assert_same(merge_pair_shards(_shard_files(samples, config, tmp_path, count=1)), reference, 1)


def test_shard_slices_are_contiguous_whole_batches():
    for n, batch, count in [(0, 4, 3), (10, 4, 3), (100, 7, 5), (1000, 64, 7), (5, 8, 4)]:
        slices = [shard_slice(n, batch, (i, count)) for i in range(count)]
        assert slices[0].start == 0 and slices[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
        assert all(s.start % batch == 0 or s.start == n for s in slices)


# --------------------------------------------------------------------------- refusals
@pytest.fixture()
def quantile_shards(samples, tmp_path):
    config = PairingConfig(candidates=3, backend="exact", cutoff_quantile=0.2, batch_size=16)
    return config, _shard_files(samples, config, tmp_path)


def test_a_missing_or_duplicated_shard_is_refused(quantile_shards):
    _, files = quantile_shards
    with pytest.raises(DataError, match=r"has 3 shards; missing \[1\]"):
        merge_pair_shards([files[0], files[2]])
    with pytest.raises(DataError, match=rf"{files[1]} and {files[1]} are both shard 1/3"):
        merge_pair_shards([files[0], files[1], files[1], files[2]])


def test_shards_of_other_settings_inputs_or_counts_are_refused(samples, quantile_shards, tmp_path):
    config, files = quantile_shards
    nominal, alternate = samples
    other_seed = save_pair_shard(
        find_pair_shard(8, *samples, config, (1, 3), progress=False), tmp_path / "s.npz"
    )
    with pytest.raises(DataError, match=rf"{other_seed} is not a shard of the same pairing job .*\['seed'\]"):
        merge_pair_shards([files[0], other_seed, files[2]])
    config_k4 = PairingConfig(candidates=4, backend="exact", cutoff_quantile=0.2, batch_size=16)
    other = save_pair_shard(
        find_pair_shard(7, *samples, config_k4, (1, 3), progress=False), tmp_path / "k.npz"
    )
    with pytest.raises(DataError, match=rf"{other} is not a shard .*settings differ: \['candidates'\]"):
        merge_pair_shards([files[0], other, files[2]])
    swapped = save_pair_shard(
        find_pair_shard(7, nominal, nominal, config, (1, 3), progress=False), tmp_path / "i.npz"
    )
    with pytest.raises(DataError, match=rf"{swapped} is not a shard .*input samples differ"):
        merge_pair_shards([files[0], swapped, files[2]])
    four = save_pair_shard(find_pair_shard(7, *samples, config, (1, 4), progress=False), tmp_path / "f.npz")
    with pytest.raises(DataError, match=r"it is shard 1/4, that one 0/3"):
        merge_pair_shards([files[0], four, files[2]])


def test_files_that_are_not_shards_are_refused(samples, quantile_shards, tmp_path):
    config, files = quantile_shards
    pairs = save_pairs(find_pairs(7, *samples, config, progress=False), tmp_path / "pairs.npz")
    with pytest.raises(DataError, match=rf"{pairs}: not a pair shard file"):
        merge_pair_shards([files[0], pairs, files[2]])
    with pytest.raises(DataError, match="pair shard file not found"):
        merge_pair_shards([tmp_path / "nope.npz"])
    (tmp_path / "text.npz").write_text("no zip")
    with pytest.raises(DataError, match="text.npz: not a pair shard file"):
        merge_pair_shards([tmp_path / "text.npz"])
    with np.load(files[1]) as data:  # an edited header: the digest no longer matches
        contents = {name: data[name] for name in data.files}
    header = json.loads(str(contents["shard_json"]))
    header["job"]["seed"] = 99
    contents["shard_json"] = np.array(json.dumps(header))
    np.savez(tmp_path / "edited.npz", **contents)
    with pytest.raises(DataError, match="edited.npz: its digest does not match"):
        merge_pair_shards([files[0], tmp_path / "edited.npz", files[2]])
    with pytest.raises(ConfigError, match="would be overwritten"):
        merge_pair_shards(files, out=files[0])


@pytest.mark.parametrize("shard", [(3, 3), (-1, 2), (0, 0), ("a", 2), (1,), "1/3"])
def test_bad_shards_are_refused(samples, shard):
    with pytest.raises(ConfigError, match="shard"):
        check_shard(shard)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(prune=True, cutoff_quantile=0.2), "cannot prune with a quantile cutoff"),
        (dict(strategy="prefiltered", cutoff_quantile=0.2), "cannot prune with a quantile cutoff"),
        (dict(backend="sinkhorn", certified=True, cutoff_quantile=0.2), "cannot certify against a quantile"),
        (dict(strategy="oracle"), "no candidate search to shard"),
    ],
)
def test_unshardable_searches_are_refused(samples, settings, message):
    with pytest.raises(ConfigError, match=message):
        find_pair_shard(0, *samples, PairingConfig(**settings), (0, 2), progress=False)


# --------------------------------------------------------------------------- command line
def _absolute(sample: JetSample, rng) -> JetSample:
    relative = sample.to_relative()
    real = relative.mask
    pt = np.where(real, relative.feature("pt_rel") * sample.pt[:, None], 0.0)
    jet_eta, jet_phi = rng.uniform(-1.5, 1.5, len(pt)), rng.uniform(-np.pi, np.pi, len(pt))
    eta = relative.feature("eta_rel") + jet_eta[:, None]
    phi = wrap_phi(relative.feature("phi_rel") + jet_phi[:, None])
    parts = np.stack([pt, eta, phi, pt * np.cosh(eta)], axis=-1) * real[..., None]
    jets = {"pt": pt.sum(axis=1), "eta": jet_eta, "phi": jet_phi, "label": sample.label}
    return JetSample.from_arrays(parts, real, ("pt", "eta", "phi", "energy"), jets)


@pytest.fixture(scope="module")
def root_files(samples, tmp_path_factory):
    pytest.importorskip("uproot")
    from codec_jax.data.io import write_root

    folder = tmp_path_factory.mktemp("pair_shards")
    rng = np.random.default_rng(3)
    for name, sample in zip(("nominal", "alternate"), samples):
        write_root(_absolute(sample, rng), folder / f"{name}.root")
    return folder / "nominal.root", folder / "alternate.root"


def _one_line(capsys, argv, *fragments):
    from codec_jax.cli import main

    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("codec-jax pair: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("cut", [["--cutoff", "45"], ["--cutoff-quantile", "0.2"]])
def test_cli_shards_and_merge_equal_the_unsharded_pair(root_files, tmp_path, cut):
    from codec_jax.cli import main

    nominal, alternate = root_files
    search = ["pair", "--nominal", str(nominal), "--alternate", str(alternate), "--candidates", "5",
              "--backend", "exact", "--seed", "3", *cut]  # fmt: skip
    assert main([*search, "--out", str(tmp_path / "pairs.npz")]) == 0
    for i in range(3):
        assert main([*search, "--shard", f"{i}/3", "--out", str(tmp_path / f"shards/part_{i}.npz")]) == 0
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [f"part_{i}.npz" for i in range(3)]
    assert (
        main(["pair", "--merge", str(tmp_path / "shards/part_*.npz"), "--out", str(tmp_path / "merged.npz")])
        == 0
    )
    reference = load_pairs(tmp_path / "pairs.npz")
    assert len(reference) > 0
    _assert_same(load_pairs(tmp_path / "merged.npz"), reference, 3)
    assert (tmp_path / "merged.png").is_file()


def test_cli_refusals_are_one_line(root_files, quantile_shards, tmp_path, capsys):
    nominal, alternate = root_files
    _, files = quantile_shards
    search = ["pair", "--nominal", str(nominal), "--alternate", str(alternate), "--cutoff", "30"]
    out = ["--out", str(tmp_path / "x.npz")]
    for bad in ("3/3", "1/0", "a/3", "1", "-1/2"):
        _one_line(capsys, [*search, f"--shard={bad}", *out], "shard", bad)
    _one_line(capsys, ["pair", "--merge", str(files[0]), str(files[2]), *out], "missing [1]")
    _one_line(capsys, ["pair", "--merge", *map(str, files), str(files[1]), *out], "both shard 1/3")
    _one_line(capsys, ["pair", "--merge", *map(str, files), "--seed", "2", "--cutoff", "3", *out],
              "--merge takes every setting from the shard files; drop --cutoff, --seed")  # fmt: skip
    _one_line(capsys, ["pair", "--merge", *map(str, files), "--out", str(files[0])], "would be overwritten")
    _one_line(capsys, ["pair", "--merge", str(tmp_path / "none_*.npz"), *out], "matches no file")
    _one_line(
        capsys, ["pair", "--alternate", str(alternate), "--cutoff", "1", *out], "--nominal and --alternate"
    )
    _one_line(
        capsys, ["pair", "--nominal", str(nominal), "--alternate", str(alternate), *out], "--cutoff-quantile"
    )
    _one_line(capsys, [*search, "--shard", "0/2", "--out", str(nominal)], "would be overwritten")
    assert not (tmp_path / "x.npz").exists()
