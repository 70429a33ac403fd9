"""What the library adds to Pythia + FastJet: the library's generator against a bare loop with the
same settings, timed per stage in the same run (#18, "generation overhead").

The bare loop (no codec_jax code in its timed part) reads the same Pythia settings
(``GenerationConfig.settings``), generates events with ``nextBatch`` and clusters the visible
final-state particles with FastJet's anti-kT (same R), keeping the leading jet of each event above
the same pT and |eta| cuts, until it has as many jets. The library run is
``generate_chunk`` (the same seed; what ``codec-jax generate`` runs per chunk) plus writing the
ROOT file. Printed: seconds per stage of both, the ratios library / bare for the shared stages
(Pythia, clustering + selection), the library's own stages (substructure: soft drop, N2, tau21;
writing), and the total overhead over the bare loop with and without the substructure, which the
bare loop does not compute.

    python benchmarks/generation_overhead.py [--jets 400] [--process qcd]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402

from codec_jax.data.generate import GenerationConfig, generate_chunk  # noqa: E402
from codec_jax.data.generation_plan import plan_chunks  # noqa: E402
from codec_jax.data.io import write_root  # noqa: E402


def bare_loop(config: GenerationConfig, seed: int, n_events: int, batch: int = 200) -> dict[str, float]:
    """Seconds of Pythia init, generating ``n_events`` events (the number the library needed) and
    clustering + selecting their leading jets, with no codec_jax code; ``"jets"``: jets selected."""
    import fastjet
    import pythia8mc

    timings = {"pythia_init": 0.0, "pythia": 0.0, "fastjet": 0.0}
    start = time.perf_counter()
    pythia = pythia8mc.Pythia("", False)
    for line in config.settings(seed):
        pythia.readString(line)
    pythia.init()
    timings["pythia_init"] = time.perf_counter() - start
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, config.jet_radius)
    selected, done = 0, 0
    while done < n_events:
        start = time.perf_counter()
        events = pythia.nextBatch(min(batch, n_events - done))
        done += len(events)
        timings["pythia"] += time.perf_counter() - start
        start = time.perf_counter()
        prt = events.prt
        neutrino = (abs(prt.id) == 12) | (abs(prt.id) == 14) | (abs(prt.id) == 16)
        final = prt[(prt.status > 0) & ~neutrino]
        vectors = ak.zip(
            {"px": final.p.px, "py": final.p.py, "pz": final.p.pz, "E": final.p.e}, with_name="Momentum4D"
        )
        jets = fastjet.ClusterSequence(vectors, definition).inclusive_jets(min_pt=config.pt_min)
        leading = ak.firsts(jets[ak.argsort(np.hypot(jets.px, jets.py), ascending=False)])
        pt = np.hypot(ak.to_numpy(ak.fill_none(leading.px, 0.0)), ak.to_numpy(ak.fill_none(leading.py, 0.0)))
        pz = ak.to_numpy(ak.fill_none(leading.pz, 0.0))
        eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
        selected += int(np.sum((pt > config.pt_min) & (np.abs(eta) < config.eta_max)))
        timings["fastjet"] += time.perf_counter() - start
    return {**timings, "jets": selected}


def library(config: GenerationConfig) -> dict[str, float]:
    chunk = plan_chunks(config)[0]
    start = time.perf_counter()
    result = generate_chunk(config, chunk)
    total = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_root(result.sample, Path(folder) / "sample.root")
        writing = time.perf_counter() - start
    return {**result.timings, "writing": writing, "total": total + writing, "events": result.n_events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=400)
    parser.add_argument("--process", default="qcd", choices=("qcd", "zprime"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = GenerationConfig(process=args.process, n_jets=args.jets, seed=args.seed, chunk_jets=args.jets)
    seed = plan_chunks(config)[0].seed
    print(f"{args.process}, {args.jets} jets, one process; load average {os.getloadavg()[0]:.1f}")
    warm = GenerationConfig(process=args.process, n_jets=20, seed=args.seed + 1, chunk_jets=20)
    bare_loop(warm, plan_chunks(warm)[0].seed, library(warm)["events"])  # warm-up: imports, first calls
    lib = library(config)
    bare = bare_loop(config, seed, lib["events"])
    print(
        f"  the same {lib['events']} events: the library kept {args.jets} jets, the bare loop {bare.pop('jets')}"
    )
    bare_total = sum(bare.values())
    for stage in ("pythia_init", "pythia", "fastjet"):
        print(
            f"  {stage:12s} bare {bare[stage]:6.2f} s   library {lib[stage]:6.2f} s   ratio {lib[stage] / max(bare[stage], 1e-9):.2f}"
        )
    print(
        f"  substructure (library only) {lib['substructure']:6.2f} s; writing the ROOT file {lib['writing']:6.2f} s"
    )
    without = lib["total"] - lib["substructure"]
    print(
        f"  total: bare {bare_total:.2f} s, library {lib['total']:.2f} s ({lib['total'] / bare_total:.2f}x); "
        f"without the substructure {without:.2f} s ({without / bare_total:.2f}x: the library adds {without / bare_total - 1:+.1%})"
    )
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
