"""The ``codec-jax`` command line: thin argument parsing around library functions.

Each subcommand has a ``_add_<name>(subparsers)`` function that declares its arguments and a
``_run_<name>(args)`` handler that imports the library lazily (so ``codec-jax --help`` is fast) and
calls it. User errors (:class:`codec_jax.errors.CodecJaxError`, and ``OSError`` as a last line of
defence: a path that cannot be read or written) are printed as one line and exit with status 2;
``--debug`` (before or after the subcommand) shows the traceback instead. The reference of every
subcommand is docs/cli.md (a test keeps it in step with this parser).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from codec_jax import termination
from codec_jax.errors import CodecJaxError
from codec_jax.faults import kill_point

__all__ = ["main", "build_parser"]


# --------------------------------------------------------------------------- shared options
def _add_config_options(parser: argparse.ArgumentParser, example: str) -> None:
    """``--preset`` and the repeatable ``--set KEY=VALUE`` (stored as ``args.overrides``)."""
    parser.add_argument("--preset", default=None, help="preset passed to get_config (e.g. smoke)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config field, e.g. {example} (repeatable; see docs/config.md)",
    )


def _add_range(parser: argparse.ArgumentParser, flag: str, default: tuple | None, help: str) -> None:
    """A ``--flag LO HI`` pair of floats (``None`` when not given and no default)."""
    parser.add_argument(flag, nargs=2, type=float, default=default, metavar=("LO", "HI"), help=help)


def _range(value: Sequence[float] | None) -> tuple[float, float] | None:
    return tuple(value) if value else None


# --------------------------------------------------------------------------- generate
def _add_generate(subparsers: argparse._SubParsersAction) -> None:
    from codec_jax.data.pythia_settings import VARIANTS

    parser = subparsers.add_parser(
        "generate",
        help="generate a jet sample with Pythia 8 + FastJet and write it to a ROOT file",
        description="Generate boosted-jet samples (Z' signal or QCD) with Pythia 8 at 13 TeV, cluster "
        "anti-kT R=0.8 jets with FastJet, compute substructure and write a ROOT file atomically. "
        "Finished chunks are kept in OUT.chunks/ until the file is written; rerunning the same command "
        "after a crash reuses them.",
    )
    parser.add_argument("--process", required=True, choices=("zprime", "qcd"), help="Z' signal or QCD")
    parser.add_argument(
        "--variant",
        default="nominal",
        choices=tuple(VARIANTS),
        help="shower/hadronisation variant (default: nominal)",
    )
    parser.add_argument(
        "--width-mode",
        default="narrow",
        choices=("narrow", "wide"),
        help="Z' only: narrow peak at --mass, or a wide 30-320 GeV spectrum (default: narrow)",
    )
    parser.add_argument("--mass", type=float, default=None, help="narrow Z' mass in GeV (default: 100)")
    parser.add_argument(
        "--recoil", default="parton", choices=("parton", "photon"), help="recoil object (default: parton)"
    )
    parser.add_argument("--pt-min", type=float, default=400.0, help="jet pT threshold, GeV (default: 400)")
    parser.add_argument("--pthat-min", type=float, default=450.0, help="Pythia pTHatMin, GeV (default: 450)")
    parser.add_argument("--max-particles", type=int, default=100, help="constituents per jet (default: 100)")
    parser.add_argument("--jets", type=int, required=True, help="jets to write (all shards together)")
    parser.add_argument("--chunk-jets", type=int, default=500, help="jets per seeded chunk (default: 500)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="run the chunks on a Dask cluster: a scheduler address, or local:N for N local workers",
    )
    parser.add_argument("--seed", type=int, default=1, help="job seed in 1..900000000 (default: 1)")
    parser.add_argument("--shard", default="0/1", help="run shard i of N (0-based, e.g. 2/10; default: 0/1)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, help="output ROOT file")
    parser.add_argument(
        "--same-events-alternate",
        default=None,
        choices=tuple(VARIANTS),
        metavar="VARIANT",
        help="also shower the same hard events with this variant: --out gets the nominal jets, "
        "--alternate-out their row-by-row partners (--jets matched pairs)",
    )
    parser.add_argument("--alternate-out", default=None, help="output ROOT file of the same-event partners")
    parser.set_defaults(handler=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from codec_jax.data.generate import GenerationConfig, generate_to_file, parse_shard
    from codec_jax.data.same_events import generate_same_events_to_files
    from codec_jax.errors import ConfigError

    config = GenerationConfig(
        process=args.process,
        n_jets=args.jets,
        seed=args.seed,
        variant=args.variant,
        width_mode=args.width_mode,
        mass=args.mass,
        recoil=args.recoil,
        pt_min=args.pt_min,
        pthat_min=args.pthat_min,
        max_particles=args.max_particles,
        chunk_jets=args.chunk_jets,
    )
    if (args.same_events_alternate is None) != (args.alternate_out is None):
        raise ConfigError("--same-events-alternate and --alternate-out go together")
    if args.alternate_out is not None and Path(args.alternate_out).resolve() == Path(args.out).resolve():
        raise ConfigError(
            f"--alternate-out {args.alternate_out} is --out: one sample would be overwritten by the other"
        )
    if args.dask is not None and args.same_events_alternate is not None:
        raise ConfigError("--dask is not available with --same-events-alternate yet")
    if args.same_events_alternate is not None:
        paths = generate_same_events_to_files(
            config,
            args.same_events_alternate,
            args.out,
            args.alternate_out,
            workers=args.workers,
            shard=parse_shard(args.shard),
            progress=not args.no_progress,
        )
        print(f"wrote {paths[0]} and {paths[1]} (row i of both: one hard event)")
        return
    from codec_jax.executors import dask_executor

    with dask_executor(args.dask) as executor:
        path = generate_to_file(
            config,
            args.out,
            workers=args.workers,
            shard=parse_shard(args.shard),
            progress=not args.no_progress,
            executor=executor,
        )
    print(f"wrote {path}")


# --------------------------------------------------------------------------- demo
def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="compact MACK and CoDec studies on freshly generated jets, one report (`make demo`)",
        description="Run the MACK robustness study (configs/mack.py) and the CoDec decorrelation study "
        "(configs/codec_tagging.py) at their 'demo' size into OUT/mack and OUT/codec_tagging, and "
        "write OUT/report.md. Generated samples are cached and finished trainings reused, so a "
        "second run is fast.",
    )
    parser.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    parser.add_argument(
        "--preset",
        default="demo",
        choices=("demo", "smoke"),
        help="study preset: demo, or smoke for a quick pipeline check (default: demo)",
    )
    parser.add_argument("--cache", default=None, metavar="DIR", help="sample cache (default: OUT/cache)")
    parser.add_argument("--workers", type=int, default=2, help="generation processes (default: 2)")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from codec_jax.demo import run_demo

    run_demo(args.out, preset=args.preset, cache_dir=args.cache, workers=args.workers)


# --------------------------------------------------------------------------- flatten
def _add_flatten(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "flatten",
        help="build flat-mass signal and QCD training sets (CoDec) from two ROOT files",
        description="Fit the signal mass shape, resample signal and QCD to the same flat target in "
        "mass (1d) or (mass, pT) (2d), put residual differences into the 'weight' branch, and write "
        "DIR/signal.root, DIR/background.root, DIR/flatten.json and plots.",
    )
    parser.add_argument("--signal", required=True, help="signal ROOT file (wide-width Z')")
    parser.add_argument("--background", required=True, help="background ROOT file (QCD)")
    parser.add_argument("--mode", choices=("1d", "2d"), default="1d", help="flatten in mass or (mass, pT)")
    _add_range(parser, "--mass-range", (40.0, 300.0), "flattening mass window [GeV] (default: 40 300)")
    _add_range(parser, "--pt-range", None, "flattening pT window [GeV]; required for 2d")
    parser.add_argument("--mass-bins", type=int, default=26, help="flattening cells along mass")
    parser.add_argument("--pt-bins", type=int, default=4, help="flattening cells along pT (2d)")
    parser.add_argument(
        "--mass-variable", choices=("msd", "truth"), default="msd", help="signal mass to flatten"
    )
    parser.add_argument(
        "--fit",
        choices=("crystalball", "double_crystalball", "histogram"),
        default="double_crystalball",
        help="signal mass-shape model (default: double_crystalball, which also fits the high-mass "
        "tail of the generator's wide Z'; a one-sided Crystal Ball does not)",
    )
    parser.add_argument("--jets-per-cell", type=int, help="target jets per cell (default: smallest cell)")
    parser.add_argument(
        "--min-jets-per-cell", type=int, default=20, help="fail when a cell holds fewer jets (default: 20)"
    )
    parser.add_argument("--seed", type=int, default=0, help="resampling seed (default: 0)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(handler=_run_flatten)


def _run_flatten(args: argparse.Namespace) -> None:
    from codec_jax.data.flat import flatten, write_flat_outputs
    from codec_jax.data.io import read_root
    from codec_jax.files import refuse_overwriting_inputs

    refuse_overwriting_inputs([args.signal, args.background], directories=[args.out])
    signal = read_root(args.signal)
    background = read_root(args.background)
    flat = flatten(
        args.seed,
        signal,
        background,
        mass_range=_range(args.mass_range),
        mode=args.mode,
        pt_range=_range(args.pt_range),
        mass_bins=args.mass_bins,
        pt_bins=args.pt_bins,
        mass_variable=args.mass_variable,
        fit=args.fit,
        jets_per_cell=args.jets_per_cell,
        min_jets_per_cell=args.min_jets_per_cell,
    )
    paths = write_flat_outputs(flat, signal, background, args.out)
    print(
        f"{len(flat.signal)} signal and {len(flat.background)} background jets, {flat.jets_per_cell} per cell"
    )
    print("wrote " + ", ".join(str(path) for path in paths.values()))


# --------------------------------------------------------------------------- ddt
def _add_ddt(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ddt",
        help="build the N2 DDT map X_q(rho, pT) from a QCD ROOT file and save it as JSON",
        description="Measure the q-th percentile of N2 in QCD in bins of rho = ln(msd^2/pT^2) and pT, "
        "smooth it and save it; N2_DDT = N2 - X_q(rho, pT).",
    )
    parser.add_argument("--background", required=True, help="QCD ROOT file")
    parser.add_argument("--quantile", type=float, default=0.26, help="QCD percentile (default 0.26)")
    _add_range(parser, "--rho-range", (-7.0, -1.0), "rho window (default: -7 -1)")
    parser.add_argument("--rho-bins", type=int, default=24, help="bins along rho (default: 24)")
    _add_range(parser, "--pt-range", None, "pT window [GeV] (default: the data's range)")
    parser.add_argument("--pt-bins", type=int, default=6, help="bins along pT (default: 6)")
    parser.add_argument("--smoothing", type=float, default=1.0, help="smoothing width in bins (0: none)")
    parser.add_argument("--plot", help="also write a PNG of the map here")
    parser.add_argument("--out", required=True, help="output map file (JSON)")
    parser.set_defaults(handler=_run_ddt)


def _run_ddt(args: argparse.Namespace) -> None:
    from codec_jax.baselines.ddt import build_ddt_map
    from codec_jax.data.io import read_root
    from codec_jax.files import refuse_overwriting_inputs

    refuse_overwriting_inputs([args.background], files=[args.out, args.plot])
    ddt_map = build_ddt_map(
        read_root(args.background),
        quantile=args.quantile,
        rho_range=_range(args.rho_range),
        rho_bins=args.rho_bins,
        pt_range=_range(args.pt_range),
        pt_bins=args.pt_bins,
        smoothing=args.smoothing,
    )
    print(f"wrote {ddt_map.save(args.out)}")
    if args.plot:
        from codec_jax.baselines.plots import plot_ddt_map

        print(f"wrote {plot_ddt_map(ddt_map, args.plot)}")


# --------------------------------------------------------------------------- pretrain / finetune
def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by pretrain and finetune."""
    parser.add_argument("--config", required=True, help="config file (configs/*.py defining get_config)")
    _add_config_options(parser, "--set training.epochs=3")
    parser.add_argument(
        "--out", required=True, help="run directory (config.json, metrics.jsonl, checkpoints/)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    _add_distributed_arguments(parser)


def _add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Multi-host flags (pretrain, finetune, run): every process runs the same command with its own
    --process-id; process 0 alone writes the output directory (docs/scaling.md)."""
    group = parser.add_argument_group("multi-host training (jax.distributed)")
    group.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize (cluster auto-detected: Slurm, Open MPI, TPU pods)",
    )
    group.add_argument("--coordinator", default=None, help="coordinator address HOST:PORT (process 0's host)")
    group.add_argument("--num-processes", type=int, default=None, help="number of processes")
    group.add_argument("--process-id", type=int, default=None, help="index of this process, 0 .. N-1")
    group.add_argument(
        "--heartbeat-timeout",
        type=int,
        default=100,
        help="seconds after which the others abort when a process has died (default 100)",
    )


def _start_distributed(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` when the multi-host flags ask for it (before any JAX work)."""
    from codec_jax import parallel

    if args.distributed or args.coordinator:
        parallel.initialize_distributed(
            args.coordinator, args.num_processes, args.process_id, heartbeat_timeout=args.heartbeat_timeout
        )


def _load_run_config(args: argparse.Namespace):
    from codec_jax import config as config_lib

    _start_distributed(args)
    return config_lib.apply_overrides(config_lib.load_config(args.config, args.preset), args.overrides)


def _print_result(args: argparse.Namespace, result) -> None:
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{key}={value:.4g}" for key, value in last.items() if key.endswith("/loss"))
    stop = " (early stopping)" if result.stopped_early else ""
    print(
        f"codec-jax {args.command}: {len(result.history)} epoch(s){stop}; {summary}; best epoch {result.best_epoch}"
    )
    print(f"run directory: {args.out}")


def _add_pretrain(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="contrastive pretraining (VICReg / Barlow Twins / NT-Xent) of an encoder",
        description="Train encoder + projector without labels on two views per jet (nominal/alternate "
        "pairs or augmentations) and write a run directory with config.json, metrics.jsonl and "
        "Orbax checkpoints.",
    )
    _add_run_arguments(parser)
    parser.set_defaults(handler=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> None:
    from codec_jax.train import pretrain

    _print_result(args, pretrain(_load_run_config(args), args.out, resume=args.resume))


def _add_finetune(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="train a tagger/regression head on a pretrained encoder (or from scratch)",
        description="Supervised training of encoder + head. With --from, the encoder is restored from a "
        "pretraining run and trained according to finetune.level (frozen, epochs:N, full); without "
        "it, a supervised baseline is trained from scratch.",
    )
    _add_run_arguments(parser)
    parser.add_argument("--from", dest="pretrained", default=None, help="pretraining run directory")
    parser.set_defaults(handler=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> None:
    from codec_jax.train import finetune

    result = finetune(_load_run_config(args), args.out, pretrained=args.pretrained, resume=args.resume)
    _print_result(args, result)


# --------------------------------------------------------------------------- pair
def _add_pair(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pair",
        help="find positive (nominal, alternate) jet pairs with EMD below a cutoff (MACK)",
        description="Search candidate pairs between a nominal and an alternate sample, compute their EMD "
        "(exact on CPU, Sinkhorn on GPU/TPU, or certified: Sinkhorn bounds + exact for undecided pairs) "
        "and keep those below the cutoff. Writes the pairs (.npz) and a PNG of the EMD distribution. "
        "With --shard i/N: solve the i-th of N slices of the candidates and write a pair shard file; "
        "--merge SHARDS... then writes the pairs of the unsharded search.",
    )
    parser.add_argument(
        "--nominal", help="nominal sample (ROOT, or JetNet .h5/.hdf5); required unless --merge"
    )
    parser.add_argument(
        "--alternate", help="alternate sample (ROOT, or JetNet .h5/.hdf5); required unless --merge"
    )
    parser.add_argument(
        "--strategy",
        choices=("random", "nearest", "prefiltered", "ot_plan"),
        default="random",
        help="candidate search: random (MACK), nearest (similar total pT), prefiltered (same pT/width "
        "bin, lower bound >= C skipped) or ot_plan (least-total-EMD one-to-one matching in blocks of "
        "--candidates jets) (default: random)",
    )
    parser.add_argument("--candidates", type=int, default=11, help="candidates per nominal jet (default 11)")
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument(
        "--cutoff", type=float, help="EMD cutoff C [GeV] (this or --cutoff-quantile, unless --merge)"
    )
    cut.add_argument("--cutoff-quantile", type=float, help="C as this quantile of the candidate EMDs")
    parser.add_argument("--certified", action="store_true", help="exact decisions: bounds + exact solver")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="skip solving candidates that the EMD lower bound decides (same pairs)",
    )
    parser.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="solve the exact EMDs on a Dask cluster: a scheduler address, or local:N for N local workers",
    )
    parser.add_argument("--include-signal", action="store_true", help="also pair signal jets (label 1)")
    parser.add_argument(
        "--backend",
        choices=("auto", "exact", "sinkhorn"),
        default="auto",
        help="EMD solver; auto: exact on CPU, Sinkhorn on GPU/TPU (default: auto)",
    )
    parser.add_argument("--max-particles", type=int, default=None, help="keep the leading P particles")
    parser.add_argument("--radius", type=float, default=1.0, help="EMD R (default 1.0, as MACK)")
    parser.add_argument("--beta", type=float, default=1.0, help="EMD angular exponent (default 1)")
    parser.add_argument("--norm", action="store_true", help="normalise each jet's pT to 1")
    parser.add_argument("--seed", type=int, default=0, help="seed of the candidate draws")
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="solve shard i of N (0-based, e.g. 2/10) of the candidate EMDs and write a pair shard file "
        "to --out (no cutoff applied yet; combine all N with --merge)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="SHARD",
        help="merge the N pair shard files of one sharded search (any order; quoted globs are expanded) "
        "into the pairs file of the unsharded search; takes no other search option",
    )
    parser.add_argument(
        "--out", required=True, help="output pairs file (.npz; the plot goes next to it), or the shard file"
    )
    search_options = {
        action.dest: (action.option_strings[0], action.default)
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "merge", "out")
    }
    parser.set_defaults(handler=_run_pair, pair_search_options=search_options)


def _run_pair_merge(args: argparse.Namespace) -> None:
    """``pair --merge SHARDS... --out PAIRS``: the unsharded search's pairs file (and plot)."""
    from pathlib import Path

    from codec_jax.errors import ConfigError
    from codec_jax.files import expand_paths, refuse_overwriting_inputs
    from codec_jax.pairing import save_pairs
    from codec_jax.pairing.plots import plot_pair_emd
    from codec_jax.pairing.shards import merge_pair_shards

    given = [
        flag for dest, (flag, default) in args.pair_search_options.items() if getattr(args, dest) != default
    ]
    if given:
        raise ConfigError(f"--merge takes every setting from the shard files; drop {', '.join(given)}")
    shards = expand_paths(args.merge, what="--merge")
    refuse_overwriting_inputs(shards, files=[args.out, Path(args.out).with_suffix(".png")])
    pairs = merge_pair_shards(shards, out=args.out)
    settings = pairs.settings
    print(
        f"{len(pairs)} pairs from {settings['n_evaluated']} evaluated candidates in "
        f"{settings['merged_shards']} shards, cutoff {settings['cutoff']:.4g}"
    )
    out = save_pairs(pairs, args.out)
    print(f"wrote {out} and {plot_pair_emd(pairs, out.with_suffix('.png'))}")


def _run_pair(args: argparse.Namespace) -> None:
    from pathlib import Path

    from codec_jax.data.io import read_jetnet, read_root
    from codec_jax.emd import EMDSettings
    from codec_jax.errors import ConfigError
    from codec_jax.files import refuse_overwriting_inputs
    from codec_jax.pairing import PairingConfig, find_pairs, save_pairs
    from codec_jax.pairing.plots import plot_pair_emd

    if args.merge is not None:
        return _run_pair_merge(args)
    if args.nominal is None or args.alternate is None:
        raise ConfigError("--nominal and --alternate are required (unless --merge)")
    if args.cutoff is None and args.cutoff_quantile is None:
        raise ConfigError("one of --cutoff and --cutoff-quantile is required (unless --merge)")
    plot = None if args.shard is not None else Path(args.out).with_suffix(".png")
    refuse_overwriting_inputs([args.nominal, args.alternate], files=[args.out, plot])

    def read(path: str):
        if Path(path).suffix in (".h5", ".hdf5"):
            return read_jetnet(path)
        return read_root(path, max_particles=args.max_particles)

    config = PairingConfig(
        strategy=args.strategy,
        candidates=args.candidates,
        cutoff=args.cutoff,
        cutoff_quantile=args.cutoff_quantile,
        certified=args.certified,
        prune=args.prune,
        include_signal=args.include_signal,
        backend=args.backend,
        emd=EMDSettings(R=args.radius, beta=args.beta, norm=args.norm),
        max_particles=args.max_particles,
    )
    from codec_jax.executors import dask_executor

    shard = None
    if args.shard is not None:
        from codec_jax.data.generation_plan import parse_shard
        from codec_jax.pairing.shards import find_pair_shard, save_pair_shard

        shard = parse_shard(args.shard)
    nominal, alternate = read(args.nominal), read(args.alternate)
    with dask_executor(args.dask) as executor:
        if shard is None:
            pairs = find_pairs(args.seed, nominal, alternate, config, executor=executor)
        else:
            inputs = {"nominal": args.nominal, "alternate": args.alternate}
            part = find_pair_shard(
                args.seed, nominal, alternate, config, shard, executor=executor, inputs=inputs
            )
    if shard is not None:
        header = part.header
        print(
            f"shard {header['shard']}: solved candidates {header['start']}-{header['stop']} of "
            f"{header['n_evaluated']}, backend {header['record']['backend']}"
        )
        kill_point("pair:searched")
        print(f"wrote {save_pair_shard(part, args.out)}")
        return None
    settings = pairs.settings
    print(
        f"{len(pairs)} pairs from {settings['n_evaluated']} evaluated candidates "
        f"({settings['n_nominal']} nominal x {settings['n_alternate']} alternate jets), "
        f"cutoff {settings['cutoff']:.4g}, backend {settings['backend']}"
    )
    kill_point("pair:searched")
    out = save_pairs(pairs, args.out)
    print(f"wrote {out} and {plot_pair_emd(pairs, out.with_suffix('.png'))}")


# --------------------------------------------------------------------------- run (studies)
def _add_run(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a whole study (configs/mack.py, configs/codec_*.py) and write its report",
        description="Run the study described by CONFIG (a configs/*.py file whose get_config returns a "
        "study config; its 'study' field picks the study: mack, codec_tagging, codec_regression or "
        "codec_calibration): generate or reuse the samples, "
        "train every model over the seeds, and write DIR/metrics.json, DIR/report.md, DIR/config.json "
        "and the PNG plots. Rerunning with the same config and --out reuses finished runs.",
    )
    parser.add_argument("config", help="study config file, e.g. configs/mack.py")
    _add_config_options(parser, "--set seeds=0,1 --set pretrain.training.epochs=3")
    parser.add_argument("--out", required=True, help="study directory")
    parser.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="train the study's independent runs on a Dask cluster (a scheduler address, or local:N); "
        "--out must be on a filesystem the workers share",
    )
    _add_distributed_arguments(parser)
    parser.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace) -> None:
    from codec_jax.errors import ConfigError
    from codec_jax.executors import dask_executor
    from codec_jax.studies import apply_study_overrides, load_study_config, run_study, study_digest

    if args.dask is not None and (args.distributed or args.coordinator):
        raise ConfigError("--dask and the multi-host flags exclude each other: pick one way to scale a study")
    _start_distributed(args)
    config = apply_study_overrides(load_study_config(args.config, args.preset), args.overrides)
    with dask_executor(args.dask) as executor:
        metrics = run_study(config, args.out, executor=executor)
    if metrics is None:  # a multi-host process other than 0: process 0 wrote and prints the report
        return
    print("\n".join(study_digest(config, metrics)))
    print(f"report: {args.out}/report.md (metrics.json, plots and config.json next to it)")


# --------------------------------------------------------------------------- compare (MACK variants)
def _add_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="put finished MACK study directories side by side (table, JSON, two plots)",
        description="Compare finished MACK study directories (one changed setting each): writes "
        "OUT/comparison.md, OUT/comparison.json, OUT/variance_term_history.png and "
        "OUT/auc_vs_robustness.png.",
    )
    parser.add_argument("variants", nargs="+", metavar="LABEL=DIR", help="a label and a MACK study directory")
    parser.add_argument(
        "--pretraining",
        default="emd_pairs",
        help="pretraining whose models are compared (default: emd_pairs)",
    )
    parser.add_argument("--out", required=True, help="directory for the comparison")
    parser.set_defaults(handler=_run_compare)


def _run_compare(args: argparse.Namespace) -> None:
    from codec_jax.errors import ConfigError
    from codec_jax.studies.mack.compare import compare_mack_runs

    variants = {}
    for item in args.variants:
        label, separator, path = item.partition("=")
        if not separator or not label or not path:
            raise ConfigError(f"expected LABEL=DIR, got {item!r}")
        variants[label] = path
    models = (f"{args.pretraining}/frozen", f"{args.pretraining}/full", "supervised")
    compare_mack_runs(variants, args.out, models=models, pretraining=args.pretraining)
    print(f"comparison: {args.out}/comparison.md")


# --------------------------------------------------------------------------- predict
def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="apply a trained run to ROOT files and write its per-jet scores to a ROOT file",
        description="Score every jet of the input ROOT files (codec_jax schema) with a trained run, "
        "reading CHUNK jets at a time with the run's own input preparation. Writes TTree 'scores' "
        "(score, probability for BCE taggers, latent_<i> with --latent, file_index, entry and the "
        "observer branches), one entry per input jet in input order, atomically.",
    )
    parser.add_argument(
        "run", help="trained run directory (fine-tuned or supervised; pretraining with --latent)"
    )
    parser.add_argument(
        "--data", nargs="+", required=True, metavar="FILE", help="input ROOT files or quoted glob patterns"
    )
    parser.add_argument("--out", required=True, help="output ROOT file")
    parser.add_argument(
        "--observers",
        default="",
        metavar="BRANCHES",
        help="comma-separated input branches to copy, e.g. jet_pt,jet_msd,label",
    )
    parser.add_argument("--latent", action="store_true", help="also write the encoder's representation")
    parser.add_argument("--chunk", type=int, default=50_000, help="jets read at a time (default: 50000)")
    parser.add_argument("--tree", default="jets", help="input TTree (default: jets)")
    parser.add_argument(
        "--onnx", default=None, metavar="FILE", help="score with this ONNX export of RUN through ONNX Runtime"
    )
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> None:
    from codec_jax.inference import predict_files

    observers = tuple(name.strip() for name in args.observers.split(",") if name.strip())
    summary = predict_files(
        args.run,
        args.data,
        args.out,
        observers=observers,
        latent=args.latent,
        chunk_size=args.chunk,
        tree=args.tree,
        onnx=args.onnx,
    )
    rate = summary.n_jets / max(summary.seconds, 1e-9)
    print(
        f"wrote {summary.out}: {summary.n_jets} jets from {len(summary.files)} file(s), branches "
        f"{', '.join(summary.branches)} ({summary.seconds:.1f} s, {rate:.0f} jets/s)"
    )


def _add_merge(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="merge the shard files of one generate job into the unsharded file",
        description="Merge the N files of `generate --shard i/N` (all shards of one job) into the file "
        "the unsharded job writes: chunks interleaved by index, one chunk in memory at a time, the "
        "unsharded job's metadata. Written atomically.",
    )
    parser.add_argument(
        "shards", nargs="+", help="the shard ROOT files (any order; quoted globs are expanded)"
    )
    parser.add_argument("--out", required=True, help="output ROOT file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_run_merge)


def _run_merge(args: argparse.Namespace) -> None:
    from codec_jax.data.merge import merge_shards
    from codec_jax.files import expand_paths

    out = merge_shards(expand_paths(args.shards, what="shards"), args.out, progress=not args.no_progress)
    print(f"wrote {out}")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained run's network to ONNX (for ONNX Runtime in experiment software)",
        description="Convert the network of a trained run, with its input standardisation, to ONNX "
        "(inputs particles [batch, P, 3] and mask [batch, P], float32; output score [batch], or "
        "latent [batch, d] for a pretraining run) and write a sidecar JSON describing the inputs. "
        "Runs jax2onnx in the export environment (make export-env, or CODEC_JAX_EXPORT_PYTHON).",
    )
    parser.add_argument("run", help="trained run directory")
    parser.add_argument("--out", required=True, help="output .onnx file (the sidecar: same name, .json)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default: 18)")
    parser.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from codec_jax.inference.export import export_onnx

    onnx_path, sidecar = export_onnx(args.run, args.out, opset=args.opset)
    print(f"wrote {onnx_path} and {sidecar}")


# --------------------------------------------------------------------------- entry point
_SUBCOMMANDS = (
    _add_generate,
    _add_demo,
    _add_flatten,
    _add_ddt,
    _add_pretrain,
    _add_finetune,
    _add_pair,
    _add_run,
    _add_compare,
    _add_predict,
    _add_export,
    _add_merge,
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one subparser per subcommand)."""
    parser = argparse.ArgumentParser(
        prog="codec-jax",
        description="codec_jax: contrastive, mass-decorrelated and robust jet taggers in JAX.",
        epilog="Errors a user can fix exit with status 2 and one line; --debug shows the traceback.",
    )
    debug_help = "show the full traceback on errors"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    for subparser in subparsers.choices.values():  # --debug is accepted after the command too
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _sigterm_handler(main_pid: int):
    """SIGTERM in the process that installed the handler: a stop request that a running training
    loop answers at its next step (:mod:`codec_jax.termination`), or :class:`~codec_jax.termination.
    Terminated` raised at once; a forked worker (which inherits handlers) dies of SIGTERM as usual,
    so pools can still terminate their workers."""

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main_pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if not termination.request_stop():  # no training loop running: stop right here
            raise termination.Terminated()

    return handler


def _error_line(error: BaseException) -> str:
    """The one-line message printed for a user error."""
    if isinstance(error, termination.Terminated):
        return "terminated (SIGTERM); rerun with --resume to continue from the last checkpoint"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, OSError):
        from codec_jax.files import describe_os_error

        return describe_os_error(error)
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM is handled like Ctrl-C: the exception unwinds through the same clean-up (atomic
    # writes removed, the last finished checkpoint kept) and ends in one line (main thread only).
    termination.reset()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_handler(os.getpid())) if in_main_thread else None
    try:
        args.handler(args)
    except (CodecJaxError, OSError, KeyboardInterrupt) as error:
        if args.debug:
            raise
        print(f"codec-jax {args.command}: error: {_error_line(error)}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
