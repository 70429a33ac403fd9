"""Compare finished MACK study directories (one changed setting each): ``codec-jax compare``.

python experiments/mack_compare.py --out runs/mack_compare \
    default=runs/mack "invariance sum=runs/mack_sum" "nearest pairs=runs/mack_nearest"

Writes OUT/comparison.md, OUT/comparison.json, OUT/variance_term_history.png and
OUT/auc_vs_robustness.png (see codec_jax/studies/mack/compare.py and docs/mack.md).
"""

import sys

from codec_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
