"""Dask overhead of generation: the same job on a 2-worker ``LocalCluster`` (``generate --dask
local:2``) against the in-process pool of 2 workers (``--workers 2``), timed in the same run; the
two files are checked to be identical. The cluster's start-up is timed separately (paid once per
session, not per job).

    python benchmarks/generation_dask.py [--jets 800] [--chunk 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec_jax.data.generate import GenerationConfig, generate_to_file  # noqa: E402
from codec_jax.data.io import read_root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=800)
    parser.add_argument("--chunk", type=int, default=100)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    config = GenerationConfig(process="qcd", n_jets=args.jets, seed=11, chunk_jets=args.chunk)
    print(f"qcd, {args.jets} jets in chunks of {args.chunk}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        generate_to_file(
            GenerationConfig(process="qcd", n_jets=20, seed=1, chunk_jets=10),
            folder / "w.root",
            workers=2,
            progress=False,
        )
        start = time.perf_counter()
        generate_to_file(config, folder / "pool.root", workers=2, progress=False)
        pool = time.perf_counter() - start
        start = time.perf_counter()
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            startup = time.perf_counter() - start
            executor = client.get_executor()
            generate_to_file(
                GenerationConfig(process="qcd", n_jets=20, seed=1, chunk_jets=10),
                folder / "w2.root",
                progress=False,
                executor=executor,
            )
            start = time.perf_counter()
            generate_to_file(config, folder / "dask.root", progress=False, executor=executor)
            dask = time.perf_counter() - start
        same = (read_root(folder / "pool.root").parts == read_root(folder / "dask.root").parts).all()
    print(f"process pool (2 workers): {pool:.1f} s, {args.jets / pool:.1f} jets/s")
    print(
        f"Dask LocalCluster (2 workers): {dask:.1f} s, {args.jets / dask:.1f} jets/s; overhead {dask / pool - 1:+.1%} (goal <= 5%); cluster start-up {startup:.1f} s"
    )
    print(f"identical files: {bool(same)}; load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
