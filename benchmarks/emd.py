"""EMD throughput: batched ott-jax Sinkhorn versus the exact CPU solver on all cores, same run.

For each (particles, batch) it times ``sinkhorn_emd_with_bounds`` (after a compile call) and
``exact_emd`` (POT network simplex, one thread per core; also one thread, to show the scaling) on
the same random pairs of synthetic jets, then prints the accuracy of Sinkhorn against exact
(median and 95th percentile of the relative error, on random pairs and on near-duplicates, the
positives of a pair search) and the fraction of pairs the certified bounds decide at a cutoff
C = median EMD. The headline is the ratio of Sinkhorn to exact pairs/s. Last, the cost of a
gradient in the pT weights (``weight_gradients=True``) against a coordinate-only gradient.

    python benchmarks/emd.py                       # default sizes for the device
    python benchmarks/emd.py --batches 256 --particles 30 --accuracy-pairs 200
    python benchmarks/emd.py --generated 100       # accuracy on Pythia jets too (slow)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from codec_jax.data.synthetic import make_jets, perturb_jets  # noqa: E402
from codec_jax.emd import (  # noqa: E402
    CloudPair,
    EMDSettings,
    ParticleClouds,
    exact_emd,
    sinkhorn_emd,
    sinkhorn_emd_with_bounds,
)


def _timed(function, *args, repeat: int = 1, **kwargs):
    best, value = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        value = jax.block_until_ready(value)
        best = min(best, time.perf_counter() - start)
    return best, value


def _errors(estimate: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    rel = (np.asarray(estimate, np.float64) - exact) / exact
    return float(np.median(rel) * 100), float(np.percentile(np.abs(rel), 95) * 100)


def _decided(result, cutoff: float) -> float:
    lower, upper = np.asarray(result.lower), np.asarray(result.upper)
    return float(np.mean((upper < cutoff) | (lower >= cutoff)) * 100)


def throughput(particles: int, batch: int, rng: np.random.Generator, norm: bool) -> dict:
    jets = ParticleClouds(*make_jets(rng, 2 * batch, particles))
    pairs = CloudPair(jets.take(slice(batch)), jets.take(slice(batch, None)))
    settings = EMDSettings(norm=norm)
    sinkhorn_emd_with_bounds(pairs, settings).emd.block_until_ready()  # compile
    exact_emd(pairs.take(slice(64)), settings)  # warm up POT and the thread pool
    t_sinkhorn, result = _timed(sinkhorn_emd_with_bounds, pairs, settings)
    exact_emd(pairs.take(slice(256)), settings, executor="processes")  # start the pool
    t_exact, exact = _timed(exact_emd, pairs, settings)
    t_processes, _ = _timed(exact_emd, pairs, settings, executor="processes")
    serial_rows = slice(0, min(batch, 1024))
    t_serial, _ = _timed(exact_emd, pairs.take(serial_rows), settings, workers=1)
    median, p95 = _errors(result.emd, exact)
    return {
        "sinkhorn": batch / t_sinkhorn,
        "exact": batch / t_exact,
        "exact_processes": batch / t_processes,
        "exact_1thread": (serial_rows.stop - serial_rows.start) / t_serial,
        "median": median,
        "p95": p95,
        "decided": _decided(result, float(np.median(exact))),
    }


def accuracy(pairs: CloudPair, norm: bool) -> tuple[float, float, float]:
    result = sinkhorn_emd_with_bounds(pairs, EMDSettings(norm=norm))
    exact = exact_emd(pairs, EMDSettings(norm=norm))
    return (*_errors(result.emd, exact), _decided(result, float(np.median(exact))))


def generated_pairs(n_jets: int, particles: int) -> CloudPair:
    from codec_jax.data.generate import generate_sample
    from codec_jax.pairing import jet_particles

    sample = generate_sample("qcd", n_jets=2 * n_jets, seed=5, workers=os.cpu_count() or 1)
    jets = jet_particles(sample, max_particles=particles).pad_to(particles)
    return CloudPair(jets.take(slice(n_jets)), jets.take(slice(n_jets, None)))


def gradient_cost(particles: int, batch: int, rng: np.random.Generator, norm: bool) -> dict:
    """Seconds per gradient of the summed EMDs: coordinates only, and coordinates + pT weights."""
    pt, xy = make_jets(rng, 2 * batch, particles)
    target = ParticleClouds(pt[batch:], xy[batch:])
    settings = EMDSettings(R=1.0, norm=norm)
    times = {}
    for label, weights in (("coordinates", False), ("weights", True)):

        def total(a_pt, a_xy, weights=weights):
            pair = CloudPair(ParticleClouds(a_pt, a_xy), target)
            return sinkhorn_emd(pair, settings, weight_gradients=weights).sum()

        grad = jax.jit(jax.grad(total, argnums=(0, 1)))
        _timed(grad, jnp.asarray(pt[:batch]), jnp.asarray(xy[:batch]))  # compile
        times[label], _ = _timed(grad, jnp.asarray(pt[:batch]), jnp.asarray(xy[:batch]), repeat=3)
    return times


def main() -> None:
    on_cpu = jax.default_backend() == "cpu"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024] if on_cpu else [1024, 8192])
    parser.add_argument("--particles", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--accuracy-pairs", type=int, default=256, help="pairs for the near-duplicate errors")
    parser.add_argument("--generated", type=int, default=0, help="also measure on this many Pythia jet pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    device = jax.devices()[0].device_kind
    print(f"device: {jax.default_backend()} ({device}), {os.cpu_count()} CPU cores for the exact solver")
    print("Sinkhorn: epsilon 5e-4 (annealed from 0.1), 400 iterations, float32; exact: POT network simplex")
    print()
    header = (
        f"{'P':>4} {'batch':>6} {'norm':>5} | {'Sinkhorn/s':>10} {'exact thr/s':>11} {'exact proc/s':>12} "
        f"{'exact 1/s':>9} {'ratio':>6} | {'median%':>8} {'p95%':>6} {'decided%':>8}"
    )
    print(header)
    print("-" * len(header))
    for particles in args.particles:
        for batch in args.batches:
            for norm in (False, True):
                r = throughput(particles, batch, rng, norm)
                best_exact = max(r["exact"], r["exact_processes"])
                print(
                    f"{particles:>4} {batch:>6} {norm!s:>5} | {r['sinkhorn']:>10.0f} {r['exact']:>11.0f} "
                    f"{r['exact_processes']:>12.0f} {r['exact_1thread']:>9.0f} {r['sinkhorn'] / best_exact:>6.2f} | "
                    f"{r['median']:>+8.3f} {r['p95']:>6.3f} {r['decided']:>8.1f}",
                    flush=True,
                )
    print("ratio = Sinkhorn pairs/s / best exact pairs/s (threads or processes, all cores)")
    print()
    print("near-duplicate pairs (alternate = nominal with 5% pT scale and 0.1/sqrt(pT) smearing):")
    for particles in args.particles:
        pt, xy = make_jets(rng, args.accuracy_pairs, particles)
        close = CloudPair(ParticleClouds(pt, xy), ParticleClouds(*perturb_jets(rng, pt, xy)))
        for norm in (False, True):
            median, p95, decided = accuracy(close, norm)
            print(
                f"  P={particles:>3} norm={norm!s:>5}: median {median:+.3f}%  p95 {p95:.3f}%  decided {decided:.1f}%"
            )
    print()
    print("gradient of the summed EMDs (jit, best of 3): coordinates only vs coordinates + pT weights")
    for particles in args.particles:
        for norm in (False, True):
            t = gradient_cost(particles, args.batches[0], rng, norm)
            print(
                f"  P={particles:>3} batch={args.batches[0]} norm={norm!s:>5}: coordinates {t['coordinates']:.3f} s, "
                f"+ weights {t['weights']:.3f} s, ratio {t['weights'] / t['coordinates']:.2f}"
                + (" (2,000 iterations for normalised weights)" if norm else ""),
                flush=True,
            )
    if args.generated:
        print()
        print(f"random pairs of Pythia QCD jets ({args.generated} pairs):")
        for particles in args.particles:
            pairs = generated_pairs(args.generated, particles)
            for norm in (False, True):
                median, p95, decided = accuracy(pairs, norm)
                print(
                    f"  P={particles:>3} norm={norm!s:>5}: median {median:+.3f}%  p95 {p95:.3f}%  decided {decided:.1f}%"
                )


if __name__ == "__main__":
    main()
