"""The ``codec-jax`` command line: thin argument parsing around library functions.

Each subcommand has a ``_add_<name>(subparsers)`` function that declares its arguments and a
``_run_<name>(args)`` handler that imports the library lazily (so ``codec-jax --help`` is fast) and
calls it. User errors (:class:`codec_jax.errors.CodecJaxError`, missing files) are printed as one
line and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codec_jax.errors import CodecJaxError

__all__ = ["main", "build_parser"]


# --------------------------------------------------------------------------- generate
def _add_generate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a jet sample with Pythia 8 + FastJet and write it to a ROOT file",
        description="Generate boosted-jet samples (Z' signal or QCD) with Pythia 8 at 13 TeV, cluster "
        "anti-kT R=0.8 jets with FastJet, compute substructure and write a ROOT file atomically.",
    )
    parser.set_defaults(handler=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    raise CodecJaxError("codec-jax generate is not available yet")


# --------------------------------------------------------------------------- demo
def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate a small sample and write a summary report (the `make demo` job)",
    )
    parser.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    raise CodecJaxError("codec-jax demo is not available yet")


# --------------------------------------------------------------------------- entry point
_SUBCOMMANDS = (_add_generate, _add_demo)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one subparser per subcommand)."""
    parser = argparse.ArgumentParser(
        prog="codec-jax",
        description="codec_jax: contrastive, mass-decorrelated and robust jet taggers in JAX.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (CodecJaxError, FileNotFoundError, FileExistsError, PermissionError, KeyboardInterrupt) as error:
        if args.debug:
            raise
        message = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        print(f"codec-jax {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
