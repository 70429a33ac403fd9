"""codec-jax merge: the shards of one generation job merged into the unsharded file, branch by
branch; memory independent of the number of shards; clear errors for shards of other jobs."""

import dataclasses
import json
import tracemalloc

import numpy as np
import pytest
import uproot

from codec_jax.cli import main
from codec_jax.data.generation_plan import GenerationConfig, plan_chunks
from codec_jax.data.io import read_root, write_root
from codec_jax.data.merge import merge_shards
from codec_jax.errors import DataError
from codec_jax.jets import concatenate
from tests.helpers.samples import make_sample


def _job(folder, n_jets, chunk_jets, n_shards, particles=8):
    """Synthetic shard files of a job (each chunk's jets seeded by its chunk seed) and the
    unsharded file, with metadata as ``generate`` writes it."""
    config = GenerationConfig(
        process="qcd", n_jets=n_jets, chunk_jets=chunk_jets, seed=7, max_particles=particles
    )

    def chunk_sample(chunk):
        return make_sample(n=chunk.n_jets, p=particles, seed=chunk.seed).replace(metadata={})

    def metadata(shard, chunks):
        n_events = 3 * sum(c.n_jets for c in chunks)
        return {
            "config": dataclasses.asdict(config),
            "shard": f"{shard[0]}/{shard[1]}",
            "chunk_seeds": {str(c.index): c.seed for c in chunks},
            "n_events": n_events,
            "selection_efficiency": sum(c.n_jets for c in chunks) / n_events,
            "generator": "synthetic",
        }

    shards = []
    for index in range(n_shards):
        chunks = plan_chunks(config, (index, n_shards))
        sample = concatenate([chunk_sample(c) for c in chunks])
        shards.append(
            write_root(
                sample.replace(metadata=metadata((index, n_shards), chunks)), folder / f"shard{index}.root"
            )
        )
    chunks = plan_chunks(config)
    whole = concatenate([chunk_sample(c) for c in chunks]).replace(metadata=metadata((0, 1), chunks))
    return shards, write_root(whole, folder / "unsharded.root")


def _branches(path):
    with uproot.open(path) as file:
        return file["jets"].arrays(library="np"), json.loads(str(file["metadata"]))


def test_three_shards_merge_into_the_unsharded_file(tmp_path):
    shards, unsharded = _job(tmp_path, n_jets=23, chunk_jets=4, n_shards=3)
    out = tmp_path / "merged.root"
    assert main(["merge", *map(str, reversed(shards)), "--out", str(out), "--no-progress"]) == 0
    merged, merged_meta = _branches(out)
    expected, expected_meta = _branches(unsharded)
    assert merged.keys() == expected.keys()
    for name in expected:
        if expected[name].dtype == object:  # jagged constituents
            assert all(np.array_equal(a, b) for a, b in zip(merged[name], expected[name], strict=True)), name
        else:
            np.testing.assert_array_equal(merged[name], expected[name], err_msg=name)
    assert merged_meta == expected_meta


def test_merging_memory_does_not_grow_with_the_number_of_shards(tmp_path):
    """The same 24,000 jets in 3 or in 12 shards: the same peak (one block in memory)."""
    peaks = {}
    for n_shards in (3, 12):
        folder = tmp_path / f"s{n_shards}"
        folder.mkdir()
        shards, _ = _job(folder, n_jets=24_000, chunk_jets=2000, n_shards=n_shards, particles=30)
        tracemalloc.start()
        merge_shards(shards, folder / "merged.root", progress=False, buffer_jets=2000)
        peaks[n_shards] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[12] < 1.2 * peaks[3], peaks


def test_shards_of_different_jobs_or_missing_shards_are_refused(tmp_path):
    shards, unsharded = _job(tmp_path, n_jets=12, chunk_jets=4, n_shards=3)
    with pytest.raises(DataError, match=r"missing \[2\]"):
        merge_shards(shards[:2], tmp_path / "m.root", progress=False)
    with pytest.raises(DataError, match="both shard 0/3"):
        merge_shards([shards[0], shards[0], shards[1]], tmp_path / "m.root", progress=False)
    other = tmp_path / "other"
    other.mkdir()
    foreign, _ = _job(other, n_jets=16, chunk_jets=4, n_shards=3)
    with pytest.raises(DataError, match=r"not a shard of the same job .*\['config'\]"):
        merge_shards([shards[0], foreign[1], shards[2]], tmp_path / "m.root", progress=False)
    assert not (tmp_path / "m.root").exists()


@pytest.mark.generate
def test_generated_shards_merge_into_the_generated_unsharded_file(tmp_path):
    argv = [
        "generate",
        "--process",
        "qcd",
        "--jets",
        "10",
        "--chunk-jets",
        "3",
        "--seed",
        "5",
        "--no-progress",
    ]
    assert main([*argv, "--out", str(tmp_path / "whole.root")]) == 0
    for index in range(3):
        assert main([*argv, "--shard", f"{index}/3", "--out", str(tmp_path / f"part{index}.root")]) == 0
    assert (
        main(["merge", str(tmp_path / "part*.root"), "--out", str(tmp_path / "merged.root"), "--no-progress"])
        == 0
    )
    merged, merged_meta = _branches(tmp_path / "merged.root")
    whole, whole_meta = _branches(tmp_path / "whole.root")
    for name in whole:
        if whole[name].dtype == object:
            assert all(np.array_equal(a, b) for a, b in zip(merged[name], whole[name], strict=True)), name
        else:
            np.testing.assert_array_equal(merged[name], whole[name], err_msg=name)
    assert merged_meta == whole_meta


def test_training_files_may_be_glob_patterns_of_shards(tmp_path):
    from codec_jax.data.io import load_sample

    shards, unsharded = _job(tmp_path, n_jets=12, chunk_jets=4, n_shards=3)
    every = load_sample([str(tmp_path / "shard*.root")], max_particles=8)
    listed = load_sample([str(path) for path in shards], max_particles=8)
    np.testing.assert_array_equal(every.parts, listed.parts)
    assert len(every) == len(read_root(unsharded))
    with pytest.raises(DataError, match=r"data.train '.*nothing_\*.root' matches no file"):
        load_sample([str(tmp_path / "nothing_*.root")], max_particles=8)
