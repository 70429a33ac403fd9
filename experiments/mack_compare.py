"""Compare finished MACK study directories (one changed setting each) in a table and two plots.

python experiments/mack_compare.py --out runs/mack_compare \
    default=runs/mack "invariance sum=runs/mack_sum" "nearest pairs=runs/mack_nearest"

Writes OUT/comparison.md, OUT/comparison.json, OUT/variance_term_history.png and
OUT/auc_vs_robustness.png (see codec_jax/studies/mack_compare.py and docs/mack.md).
"""

from __future__ import annotations

import argparse
import sys

from codec_jax.errors import CodecJaxError
from codec_jax.studies.mack_compare import compare_mack_runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="+", metavar="LABEL=DIR", help="a label and a MACK study directory")
    parser.add_argument("--out", required=True, help="directory for the comparison")
    parser.add_argument("--pretraining", default="emd_pairs", help="pretraining whose models are compared")
    args = parser.parse_args()
    variants = {}
    for item in args.variants:
        label, separator, path = item.partition("=")
        if not separator or not label or not path:
            sys.exit(f"error: expected LABEL=DIR, got {item!r}")
        variants[label] = path
    models = (f"{args.pretraining}/frozen", f"{args.pretraining}/full", "supervised")
    try:
        compare_mack_runs(variants, args.out, models=models, pretraining=args.pretraining)
    except CodecJaxError as error:
        sys.exit(f"error: {error}")
    print(f"comparison: {args.out}/comparison.md")


if __name__ == "__main__":
    main()
