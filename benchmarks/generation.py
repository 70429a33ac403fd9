"""Benchmark of sample generation: speed with 1 and N workers, where the time goes, ROOT I/O.

Prints a small table:

* jets/s with 1 worker and with N workers (wall clock), and their ratio (the parallel speed-up);
  also jets per CPU-second of the 1-worker run, which a busy machine disturbs less;
* the split of the single-worker time between Pythia initialisation, Pythia event generation,
  FastJet clustering + selection and substructure;
* ROOT read throughput (jets/s) and file size, extrapolated to 10k jets from the sample written;
* with ``--variants``: mean constituent multiplicity of each variant relative to nominal.

Usage::

    .venv/bin/python benchmarks/generation.py --jets 400 --workers 2 [--process qcd] [--variants 300]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from codec_jax.data.generate import GenerationConfig, generate
from codec_jax.data.io import read_root, write_root
from codec_jax.data.pythia_settings import VARIANTS


def _timed_generate(config: GenerationConfig, workers: int):
    start, cpu = time.perf_counter(), time.process_time()
    sample, results = generate(config, workers=workers)
    return sample, results, time.perf_counter() - start, time.process_time() - cpu


def _io(sample) -> tuple[float, float]:
    """(read jets/s, MB per 10k jets) for ``sample`` written to a temporary ROOT file."""
    with tempfile.TemporaryDirectory() as directory:
        path = write_root(sample, Path(directory) / "bench.root")
        size = path.stat().st_size
        read_root(path, max_particles=sample.max_particles)  # warm-up (imports, caches)
        repeats, start = 3, time.perf_counter()
        for _ in range(repeats):
            read_root(path, max_particles=sample.max_particles)
        seconds = (time.perf_counter() - start) / repeats
    return len(sample) / seconds, size / len(sample) * 10_000 / 1e6


def _variant_table(process: str, n_jets: int, seed: int) -> None:
    print(f"\nconstituent multiplicity by variant ({process}, {n_jets} jets each, same seed)")
    print(f"{'variant':<10} {'mean n':>8} {'+-':>6} {'vs nominal':>11} {'jets/cpu-s':>10}")
    reference = None
    for name in VARIANTS:
        config = GenerationConfig(process=process, n_jets=n_jets, seed=seed, variant=name, chunk_jets=n_jets)
        sample, _, _, cpu = _timed_generate(config, 1)
        mean = sample.n_particles.mean()
        error = sample.n_particles.std() / math.sqrt(len(sample))
        reference = mean if reference is None else reference
        print(f"{name:<10} {mean:8.1f} {error:6.1f} {mean / reference - 1:+10.1%} {len(sample) / cpu:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=400, help="jets per timing run (default 400)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="parallel workers (default: cores)"
    )
    parser.add_argument("--process", default="qcd", choices=("qcd", "zprime"))
    parser.add_argument(
        "--chunk-jets", type=int, default=None, help="jets per chunk (default: jets / workers)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--variants", type=int, default=0, help="also compare variants on this many jets each"
    )
    args = parser.parse_args()

    chunk_jets = args.chunk_jets or max(1, -(-args.jets // args.workers))
    config = GenerationConfig(process=args.process, n_jets=args.jets, seed=args.seed, chunk_jets=chunk_jets)
    sample, results, serial, serial_cpu = _timed_generate(config, 1)
    _, _, parallel, _ = _timed_generate(config, args.workers)
    split = {key: sum(r.timings[key] for r in results) for key in results[0].timings}
    accounted = sum(split.values())

    print(f"generation: {args.process}, {args.jets} jets in chunks of {chunk_jets}, {os.cpu_count()} cores")
    print(f"{'run':<28} {'seconds':>8} {'jets/s':>8}")
    print(f"{'1 worker':<28} {serial:8.1f} {args.jets / serial:8.1f}")
    print(f"{f'{args.workers} workers':<28} {parallel:8.1f} {args.jets / parallel:8.1f}")
    print(f"{'1 worker, CPU time':<28} {serial_cpu:8.1f} {args.jets / serial_cpu:8.1f}")
    print(f"{'speed-up (N / 1 worker)':<28} {serial / parallel:8.2f}")
    print(f"\ntime split, 1 worker ({accounted:.1f} s accounted of {serial:.1f} s)")
    for key, seconds in split.items():
        print(f"  {key:<14} {seconds:7.2f} s {seconds / accounted:6.1%}")
    events = sum(r.n_events for r in results)
    print(f"  selection efficiency {args.jets / events:.1%} ({events} events)")

    read_rate, megabytes = _io(sample)
    print(f"\nROOT read (read_root, padded to {sample.max_particles}): {read_rate:,.0f} jets/s")
    print(f"file size: {megabytes:.1f} MB per 10k jets (extrapolated from {len(sample)} jets)")
    print(f"mean constituents per jet: {np.mean(sample.n_particles):.1f}")
    if args.variants:
        _variant_table(args.process, args.variants, args.seed)


if __name__ == "__main__":
    main()
