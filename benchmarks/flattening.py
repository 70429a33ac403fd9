"""Flattening throughput: binned versus unbinned Crystal Ball likelihood, and the full 1D/2D
flattening and DDT map on large synthetic samples, all measured in the same run.

The headline is the speed-up of the binned likelihood (used above ``max_unbinned`` jets) over the
unbinned one on the same jets, with the difference of the fitted parameters in units of their
uncertainties (it should be far below 0.1). CPU times (``time.process_time``) are printed so the
numbers are less sensitive to other load on the machine.

    python benchmarks/flattening.py                 # 300k signal, 1M QCD
    python benchmarks/flattening.py --signal 100000 --background 300000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec_jax.baselines.ddt import build_ddt_map  # noqa: E402
from codec_jax.data.flat import flatten  # noqa: E402
from codec_jax.data.massfit import fit_crystal_ball  # noqa: E402
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample  # noqa: E402


def synthetic(rng: np.random.Generator, n: int, *, signal: bool) -> JetSample:
    """Wide Crystal Ball signal (msd = 0.97 x truth, 4% smearing) or m^-2.5 QCD; N2 linear in rho."""
    if signal:
        truth = scipy.stats.crystalball(beta=1.0, m=3.0, loc=170.0, scale=60.0).rvs(
            size=2 * n, random_state=rng
        )
        truth = truth[truth > 10.0][:n]
        msd = truth * rng.normal(0.97, 0.04, n)
    else:
        msd = (25.0**-1.5 - rng.uniform(size=n) * (25.0**-1.5 - 400.0**-1.5)) ** (-1.0 / 1.5)
        truth = np.zeros(n)
    pt = 400.0 + rng.exponential(200.0, n)
    n2 = 0.2 + 0.03 * (2 * np.log(msd / pt) + 4.0) + rng.gamma(4.0, 0.02, n)
    parts = np.zeros((n, 1, 4), np.float32)
    jets = {
        "pt": pt,
        "msd": msd,
        "mass": msd,
        "truth_mass": truth,
        "n2": n2,
        "label": np.full(n, int(signal)),
    }
    return JetSample.from_arrays(parts, np.ones((n, 1), bool), ABSOLUTE_FEATURES, jets)


def cpu_seconds(function, *args, **kwargs):
    start = time.process_time()
    value = function(*args, **kwargs)
    return time.process_time() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", type=int, default=300_000)
    parser.add_argument("--background", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    signal = synthetic(rng, args.signal, signal=True)
    background = synthetic(rng, args.background, signal=False)

    masses = signal.truth_mass
    unbinned_s, unbinned = cpu_seconds(fit_crystal_ball, masses, fit_range=(40, 300), max_unbinned=10**12)
    binned_s, binned = cpu_seconds(fit_crystal_ball, masses, fit_range=(40, 300), max_unbinned=0)
    shift = np.max(np.abs(binned.values - unbinned.values) / unbinned.errors)
    print(f"Crystal Ball fit of {len(masses)} jets: unbinned {unbinned_s:.2f} s, binned {binned_s:.2f} s CPU")
    print(
        f"  speed-up binned / unbinned: {unbinned_s / binned_s:.1f}x; max parameter shift {shift:.1e} sigma"
    )

    flat_1d_s, flat_1d = cpu_seconds(
        flatten, 0, signal, background, mass_range=(40, 300), mode="1d", fit="crystalball"
    )
    print(
        f"1D flattening ({len(signal)} + {len(background)} jets, 26 cells): {flat_1d_s:.2f} s CPU, "
        f"{flat_1d.jets_per_cell} jets per cell"
    )
    flat_2d_s, flat_2d = cpu_seconds(
        flatten,
        0,
        signal,
        background,
        mass_range=(40, 300),
        mode="2d",
        pt_range=(400, 1000),
        mass_bins=13,
        fit="crystalball",
    )
    print(
        f"2D flattening (13 x 4 cells): {flat_2d_s:.2f} s CPU, {flat_2d.jets_per_cell} jets per cell "
        f"({flat_2d_s / flat_1d_s:.2f}x the 1D time)"
    )
    ddt_s, _ = cpu_seconds(build_ddt_map, background, rho_range=(-7, -0.5), pt_range=(400, 1200))
    print(
        f"DDT map (24 x 6 bins) from {len(background)} QCD jets: {ddt_s:.2f} s CPU ({ddt_s / flat_1d_s:.2f}x 1D)"
    )


if __name__ == "__main__":
    main()
