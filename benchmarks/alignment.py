"""Cost of the Sinkhorn-divergence alignment term against the VICReg loss it is added to.

For each batch size it times (after a compile call) the jitted value-and-gradient of
``sinkhorn_alignment`` and of ``vicreg`` on the same random embeddings ``[batch, dim]``, and reads
XLA's temporary-memory estimate of each compiled function. The headline is the ratio
alignment / VICReg time at each batch size (measured in the same run); the absolute step time of
a pretraining with the Interaction Network is in benchmarks/train_step.py.

    python benchmarks/alignment.py
    python benchmarks/alignment.py --batches 128 512 2048 --dim 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from codec_jax.losses import sinkhorn_alignment, vicreg  # noqa: E402


def _timed(function, *args, repeats: int) -> float:
    """Median seconds of ``function(*args)`` (compiled by a first call)."""
    jax.block_until_ready(function(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _temporary_megabytes(function, *args) -> float:
    analysis = function.lower(*args).compile().memory_analysis()
    return float(getattr(analysis, "temp_size_in_bytes", float("nan"))) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].device_kind}, load average {os.getloadavg()[0]:.1f}")

    def alignment_value(x, y):
        return sinkhorn_alignment(x, y)[0]

    def vicreg_value(x, y):
        return vicreg(x, y, invariance="mean")[0]

    align = jax.jit(jax.value_and_grad(alignment_value, argnums=(0, 1)))
    reference = jax.jit(jax.value_and_grad(vicreg_value, argnums=(0, 1)))
    print(
        "| batch | alignment value+grad | VICReg value+grad | ratio | alignment temp memory | VICReg temp memory |"
    )
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in args.batches:
        x = rng.normal(size=(batch, args.dim)).astype(np.float32)
        y = (rng.normal(size=(batch, args.dim)) * 1.2 + 0.3).astype(np.float32)
        t_align = _timed(align, x, y, repeats=args.repeats)
        t_vicreg = _timed(reference, x, y, repeats=args.repeats)
        m_align = _temporary_megabytes(align, x, y)
        m_vicreg = _temporary_megabytes(reference, x, y)
        print(
            f"| {batch} | {1e3 * t_align:.1f} ms | {1e3 * t_vicreg:.2f} ms | {t_align / t_vicreg:.0f}x "
            f"| {m_align:.1f} MB | {m_vicreg:.1f} MB |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
