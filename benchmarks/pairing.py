"""Pairing strategies on the MACK samples: time and pair quality of ``ot_plan`` against ``random``
and ``nearest`` at the same budget, measured in the same run.

Reads the nominal and alternate QCD training files of a finished MACK study directory (default
``runs/mack``: 3,600 + 3,600 jets; 1,000 synthetic jets and perturbed copies when it does not
exist) and, with ``--same-events DIR`` (a study run with ``--preset
oracle``), the same-hard-event files, whose row ``i`` is one hard event in both samples.

Prints, per strategy: seconds, pairs below the cutoff (20% quantile of each strategy's own
candidate EMDs) and the median / 95% quantile of the pair EMDs; the time of ``ot_plan`` relative to
``random``; and ``random`` with ``prune=True`` (candidates decided by the EMD lower bound are not
solved; the same pairs): its speed-up and the fraction decided without a solve; and ``random``
with the exact solver as it was before issue #18 (per-pair ``ot.emd2``, no pruning), the
reference of #18's "5x faster" goal, timed in the same run. With same-hard-event files: in blocks of ``k`` true pairs (nominal jets and their
shuffled partners), how often the least-total-EMD matching and the row-wise nearest EMD pick the
true partner (chance ``1/k``). Usage::

    python benchmarks/pairing.py [--study runs/mack] [--same-events runs/mack_oracle] [--k 11]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from codec_jax.data.io import read_root
from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample
from codec_jax.emd import CloudPair, EMDSettings, exact_emd
from codec_jax.jets import JetSample
from codec_jax.pairing import PairingConfig, find_pairs, jet_particles
from codec_jax.pairing.candidates import block_matching

MACK_EMD = EMDSettings(R=1.0, beta=1.0, norm=False)


def _synthetic(n_jets: int) -> tuple[JetSample, JetSample]:
    """Synthetic nominal jets and perturbed copies (when no study directory exists)."""
    rng = np.random.default_rng(0)
    pt, xy = make_jets(rng, n_jets, 30)
    alt_pt, alt_xy = perturb_jets(rng, pt, xy, scale=0.1, smear=0.2)
    alternate = relative_sample(alt_pt, alt_xy)
    return relative_sample(pt, xy), alternate[np.random.default_rng(1).permutation(n_jets)]


def strategies(study: Path, k: int) -> None:
    if (study / "data" / "qcd_nominal_train.root").is_file():
        nominal = read_root(study / "data" / "qcd_nominal_train.root")
        alternate = read_root(study / "data" / "qcd_alternate_train.root")
        source = str(study)
    else:
        nominal, alternate = _synthetic(1000)
        source = f"synthetic jets ({study} holds no finished MACK study)"
    print(f"{source}: {len(nominal)} nominal x {len(alternate)} alternate QCD jets, k = {k}")
    warm = CloudPair(jet_particles(nominal[:4]), jet_particles(alternate[:4]))  # compile or load the solver
    exact_emd(warm, MACK_EMD)
    seconds = {}
    for strategy in ("random", "nearest", "ot_plan"):
        start = time.perf_counter()
        pairs = find_pairs(
            0, nominal, alternate, PairingConfig(strategy=strategy, candidates=k), progress=False
        )
        seconds[strategy] = time.perf_counter() - start
        emd = pairs.emd
        print(
            f"  {strategy:8s} {seconds[strategy]:6.1f} s; C = {pairs.settings['cutoff']:.1f} GeV; "
            f"{len(pairs)} pairs; pair EMD median {np.median(emd):.1f} GeV, 95% {np.percentile(emd, 95):.1f} GeV"
        )
    print(f"  ot_plan / random time: {seconds['ot_plan'] / seconds['random']:.2f}")
    start = time.perf_counter()
    pruned = find_pairs(0, nominal, alternate, PairingConfig(candidates=k, prune=True), progress=False)
    seconds["pruned"] = time.perf_counter() - start
    skipped = pruned.settings["n_skipped_by_bound"] / pruned.settings["n_candidates"]
    print(
        f"  random + prune {seconds['pruned']:6.1f} s ({seconds['random'] / seconds['pruned']:.2f}x faster); "
        f"{skipped:.1%} of {pruned.settings['n_candidates']} candidates decided by the lower bound; "
        f"C = {pruned.settings['cutoff']:.1f} GeV, {len(pruned)} pairs (the same as without pruning)"
    )
    before, seconds["before"] = _random_before_issue_18(nominal, alternate, k)
    same = np.array_equal(before.nominal_index, pruned.nominal_index) and np.array_equal(
        before.alternate_index, pruned.alternate_index
    )
    print(
        f"  before #18 (per-pair ot.emd2, no pruning) {seconds['before']:6.1f} s: random + prune is "
        f"{seconds['before'] / seconds['pruned']:.2f}x faster, random {seconds['before'] / seconds['random']:.2f}x; "
        f"same pairs: {same}"
    )


def _random_before_issue_18(nominal: JetSample, alternate: JetSample, k: int):
    """``random`` pairing with the exact solver as it was before issue #18 -- the per-pair
    ``ot.emd2`` loop kept in benchmarks/exact_emd.py -- and no pruning; returns (pairs, seconds)."""
    from unittest import mock

    from exact_emd import old_exact_emd  # benchmarks/ is on sys.path when this script runs

    import codec_jax.emd.exact as exact

    def old_chunk(pair: CloudPair, settings: EMDSettings) -> np.ndarray:
        assert not settings.norm
        return old_exact_emd(pair, settings.R, settings.beta)

    with mock.patch.object(exact, "_solve_chunk", old_chunk):
        start = time.perf_counter()
        pairs = find_pairs(0, nominal, alternate, PairingConfig(candidates=k), progress=False)
        return pairs, time.perf_counter() - start


def recovery(same_events: Path, k: int, seed: int = 0) -> None:
    nominal = jet_particles(read_root(same_events / "data" / "qcd_nominal_train.root"))
    alternate = jet_particles(read_root(same_events / "data" / "qcd_alternate_train.root"))
    width = max(nominal.width, alternate.width)
    nominal, alternate = nominal.pad_to(width), alternate.pad_to(width)
    n = min(nominal.n_jets, alternate.n_jets) // k * k
    rng = np.random.default_rng(seed)
    rows = rng.permutation(n)
    ia, ib, block = [], [], []
    for index, start in enumerate(range(0, n, k)):
        members = rows[start : start + k]  # k true pairs: nominal j <-> alternate j
        ia.append(np.repeat(members, k))
        ib.append(np.tile(members, k))
        block.append(np.full(k * k, index))
    ia, ib, block = np.concatenate(ia), np.concatenate(ib), np.concatenate(block)
    emd = exact_emd(CloudPair(nominal.take(ia), alternate.take(ib)), MACK_EMD)
    chosen = block_matching(ia, ib, block, emd)
    matched = float(np.mean(ia[chosen] == ib[chosen]))
    grid = emd.reshape(-1, k, k)  # [block, nominal, alternate] in the order of the members
    nearest = float(np.mean(np.argmin(grid, axis=2) == np.arange(k)[None, :]))
    print(
        f"{same_events}: {n} same-event QCD pairs in blocks of {k}: the true partner is chosen by the "
        f"least-total-EMD matching for {matched:.1%}, by the nearest EMD for {nearest:.1%} (chance {1 / k:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=Path("runs/mack"), help="a finished MACK study")
    parser.add_argument(
        "--same-events", type=Path, default=None, help="a MACK study run with --preset oracle"
    )
    parser.add_argument("--k", type=int, default=11, help="candidates per nominal jet / block size")
    args = parser.parse_args()
    strategies(args.study, args.k)
    if args.same_events is not None:
        recovery(args.same_events, args.k)


if __name__ == "__main__":
    main()
