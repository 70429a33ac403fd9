"""Exact EMD pairs/s: codec_jax's batched path versus energyflow's ``wasserstein``, same run.

On the same random pairs of synthetic jets (R = 0.8, beta = 1, norm = False; 30 and 100 particle
slots, each jet filling half to all of them) it times, best of ``--repeat``:

* old: the previous implementation, kept here as the reference (NumPy set-up + ``ot.emd2`` per pair);
* POT path, 1 worker and 2 workers (threads): ``exact_emd`` with ``exact._SOLVER = "pot"``
  (vectorised NumPy set-up of each chunk, then POT's compiled ``emd_c`` per pair);
* new, 1 worker and 2 workers (threads): ``exact_emd`` as shipped (the numba transportation
  simplex of ``codec_jax.emd.transport_simplex`` on whole blocks, cost matrices filled inside,
  without the GIL; the POT path when numba is missing);
* energyflow: ``wasserstein.EMD`` (C++), one thread, in its own environment ``.venv-energyflow``
  (energyflow pins numpy < 2), created on first use, run as a subprocess on the same pairs saved
  to a temporary .npz; the column is skipped, saying why, when that is not possible.

It prints pairs/s, the ratios new/energyflow, 2-worker/1-worker, new/POT path and new/old, the
largest differences to energyflow and to the POT path, and the load average before and after.

    python benchmarks/exact_emd.py                  # 3,000 pairs, 30 and 100 particles
    python benchmarks/exact_emd.py --pairs 500 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec_jax.data.synthetic import make_jets  # noqa: E402
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, exact_emd  # noqa: E402
from codec_jax.emd import exact as exact_module  # noqa: E402

EF_VENV = ROOT / ".venv-energyflow"
EF_SCRIPT = """
import json, sys, time
import numpy as np
import wasserstein
data, repeat = np.load(sys.argv[1]), int(sys.argv[2])
emd = wasserstein.EMD(R=0.8, beta=1.0, norm=False)
events = []
for side in ("a", "b"):
    pt, xy = data[side + "_pt"].astype(np.float64), data[side + "_xy"].astype(np.float64)
    events.append([(p[p > 0], x[p > 0]) for p, x in zip(pt, xy)])
best = float("inf")
for _ in range(repeat):
    start = time.perf_counter()
    out = np.array([emd(a[0], a[1], b[0], b[1]) for a, b in zip(*events)])
    best = min(best, time.perf_counter() - start)
np.save(sys.argv[3], out)
print(json.dumps({"seconds": best}))
"""


def old_exact_emd(pair: CloudPair, R: float = 0.8, beta: float = 1.0) -> np.ndarray:
    """The previous per-pair loop (norm=False): NumPy set-up and ``ot.emd2`` for each pair."""
    import ot

    out = np.empty(pair.n_pairs)
    for i in range(pair.n_pairs):
        (a_pt, a_xy), (b_pt, b_xy) = pair.take(i)
        keep_a, keep_b = a_pt > 0, b_pt > 0
        a_w, b_w = np.asarray(a_pt, np.float64)[keep_a], np.asarray(b_pt, np.float64)[keep_b]
        a_sum, b_sum = a_w.sum(), b_w.sum()
        scale = max(a_sum, b_sum)
        a_w, b_w = a_w / scale, b_w / scale
        a_dummy, b_dummy = (scale - a_sum) / scale, (scale - b_sum) / scale
        delta = np.asarray(a_xy, np.float64)[keep_a][:, None, :] - np.asarray(b_xy, np.float64)[keep_b][None]
        d_phi = np.mod(delta[..., 1] + np.pi, 2.0 * np.pi) - np.pi
        cost = ((delta[..., 0] ** 2 + d_phi**2) / (R * R)) ** (0.5 * beta)
        cost = np.pad(cost, ((0, 1), (0, 1)), constant_values=1.0)
        cost[-1, -1] = 0.0
        a, b = np.append(a_w, a_dummy), np.append(b_w, b_dummy)
        rows, cols = a > 0, b > 0
        a, b = a[rows], b[cols]
        b *= a.sum() / b.sum()
        out[i] = scale * ot.emd2(a, b, np.ascontiguousarray(cost[np.ix_(rows, cols)]), numItermax=1_000_000)
    return out


def energyflow_python() -> tuple[Path | None, str]:
    """The interpreter of .venv-energyflow, created if missing; ``(None, why)`` when impossible."""
    python = EF_VENV / "bin" / "python"
    try:
        if not python.exists():
            print(f"creating {EF_VENV} (python3.11 -m venv; pip install energyflow wasserstein) ...")
            subprocess.run(["python3.11", "-m", "venv", str(EF_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "energyflow", "wasserstein"], check=True
            )
        subprocess.run([str(python), "-c", "import wasserstein"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"energyflow column skipped: cannot set up {EF_VENV} ({error})"
    return python, ""


def run_energyflow(python: Path, pair: CloudPair, repeat: int) -> tuple[float, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "pairs.npz", Path(tmp) / "emd.npy"
        np.savez(inputs, a_pt=pair.a.pt, a_xy=pair.a.xy, b_pt=pair.b.pt, b_xy=pair.b.xy)
        result = subprocess.run(
            [str(python), "-c", EF_SCRIPT, str(inputs), str(repeat), str(outputs)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        return json.loads(result.stdout.strip().splitlines()[-1])["seconds"], np.load(outputs)


def pot_path(pair: CloudPair, settings: EMDSettings, workers: int) -> np.ndarray:
    """``exact_emd`` with POT's ``emd_c`` per pair instead of the compiled solver."""
    solver, exact_module._SOLVER = exact_module._SOLVER, "pot"
    try:
        return exact_emd(pair, settings, workers=workers)
    finally:
        exact_module._SOLVER = solver


def timed(function, repeat: int) -> tuple[float, np.ndarray]:
    best, value = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--particles", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings (old: 1)")
    args = parser.parse_args()
    settings = EMDSettings(R=0.8, beta=1.0, norm=False)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPU cores")
    ef_python, why = energyflow_python()
    if why:
        print(why)
    warm = CloudPair(*[ParticleClouds(*make_jets(np.random.default_rng(0), 4, 10))] * 2)
    exact_emd(warm), old_exact_emd(warm), pot_path(warm, settings, 1)  # import POT, load numba's cache
    rows = []
    for particles in args.particles:
        rng = np.random.default_rng(particles)
        jets = ParticleClouds(*make_jets(rng, 2 * args.pairs, particles))
        pair = CloudPair(jets.take(slice(args.pairs)), jets.take(slice(args.pairs, None)))
        n = args.pairs
        figures = {}
        figures["old"], old = timed(lambda pair=pair: old_exact_emd(pair), 1)
        figures["pot_1"], pot = timed(lambda pair=pair: pot_path(pair, settings, 1), args.repeat)
        figures["pot_2"], pot_2 = timed(lambda pair=pair: pot_path(pair, settings, 2), args.repeat)
        assert np.array_equal(pot, pot_2), "POT path: 2 workers differ from 1"
        figures["new_1"], new = timed(lambda pair=pair: exact_emd(pair, settings, workers=1), args.repeat)
        figures["new_2"], new_2 = timed(lambda pair=pair: exact_emd(pair, settings, workers=2), args.repeat)
        assert np.array_equal(new, new_2), "2 workers differ from 1"
        diff_ef = None
        if ef_python is not None:
            try:
                figures["ef"], ef = run_energyflow(ef_python, pair, args.repeat)
                diff_ef = float(np.max(np.abs(ef - new)))
            except (OSError, subprocess.CalledProcessError, ValueError) as error:
                print(f"energyflow column skipped at {particles} particles: {error}")
        rate = {key: n / seconds for key, seconds in figures.items()}
        rows.append(
            (particles, rate, diff_ef, float(np.max(np.abs(old - new))), float(np.max(np.abs(pot - new))))
        )
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    header = (
        "particles | old pairs/s | POT path 1w | POT path 2w | new 1 worker | new 2 workers"
        " | energyflow 1 thread | new/energyflow | 2w/1w | new/POT path | new/old | max|new-ef|"
        " | max|new-old| | max|new-POT path|"
    )
    print(header)
    print("-" * len(header))
    for particles, rate, diff_ef, diff_old, diff_pot in rows:
        ef = rate.get("ef")
        vs_ef = f"{rate['new_1'] / ef:.2f}x" if ef else "-"
        print(
            f"{particles:9d} | {rate['old']:11,.0f} | {rate['pot_1']:11,.0f} | {rate['pot_2']:11,.0f} | "
            f"{rate['new_1']:12,.0f} | {rate['new_2']:13,.0f} | "
            f"{f'{ef:,.0f}' if ef else 'skipped':>19} | "
            f"{vs_ef:>14} | {rate['new_2'] / rate['new_1']:.2f}x | "
            f"{rate['new_1'] / rate['pot_1']:11.2f}x | "
            f"{rate['new_1'] / rate['old']:.1f}x | {f'{diff_ef:.1e}' if diff_ef is not None else '-':>11} | "
            f"{diff_old:12.1e} | {diff_pot:.1e}"
        )
    print(f"{args.pairs} pairs per size, R=0.8, beta=1, norm=False; EMDs in GeV (jets of 400-800 GeV)")


if __name__ == "__main__":
    main()
