"""Merge throughput (jets/s) of ``codec-jax merge`` against reading the same shard files alone,
and its peak memory against the number of shards (measured in the same run).

Writes synthetic shard files of one job (30 particles, chunks of ``--chunk`` jets), merges them,
and reports jets/s of the merge, jets/s of reading the shards chunk by chunk (the floor), and the
traced peak memory for 1/4 and all of the shards (it should not grow with the shards).

    python benchmarks/merge.py [--jets 200000] [--shards 8] [--chunk 5000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from codec_jax.data.generation_plan import GenerationConfig, plan_chunks  # noqa: E402
from codec_jax.data.io import read_root, write_root  # noqa: E402
from codec_jax.data.merge import merge_shards  # noqa: E402
from codec_jax.data.synthetic import make_jets, relative_sample  # noqa: E402
from codec_jax.jets import concatenate  # noqa: E402


def write_job(folder: Path, n_jets: int, chunk: int, shards: int) -> list[Path]:
    config = GenerationConfig(process="qcd", n_jets=n_jets, chunk_jets=chunk, seed=3, max_particles=30)
    paths = []
    for index in range(shards):
        chunks = plan_chunks(config, (index, shards))
        samples = []
        for c in chunks:
            pt, xy = make_jets(np.random.default_rng(c.seed), c.n_jets, 30)
            samples.append(relative_sample(pt, xy))
        metadata = {
            "config": dataclasses.asdict(config),
            "shard": f"{index}/{shards}",
            "chunk_seeds": {str(c.index): c.seed for c in chunks},
            "n_events": sum(c.n_jets for c in chunks),
        }
        paths.append(
            write_root(concatenate(samples).replace(metadata=metadata), folder / f"shard{index}.root")
        )
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=5_000)
    args = parser.parse_args()
    print(f"load average before {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_job(folder, args.jets, args.chunk, args.shards)
        start = time.perf_counter()
        for path in paths:
            read_root(path, max_particles=30)
        reading = time.perf_counter() - start
        start = time.perf_counter()
        merge_shards(paths, folder / "merged.root", progress=False)
        merging = time.perf_counter() - start
        print(
            f"{args.shards} shards, {args.jets} jets: reading {args.jets / reading:,.0f} jets/s, "
            f"merge {args.jets / merging:,.0f} jets/s ({reading / merging:.2f}x reading)"
        )
        peaks = {}
        for shards in (max(1, args.shards // 4), args.shards):
            sub = folder / f"peak{shards}"
            sub.mkdir()
            jets = args.jets * shards // args.shards
            job = write_job(sub, jets, args.chunk, shards)
            tracemalloc.start()
            merge_shards(job, sub / "merged.root", progress=False)
            peaks[shards] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            print(f"peak traced memory, {shards} shards ({jets} jets): {peaks[shards]:.1f} MB")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
