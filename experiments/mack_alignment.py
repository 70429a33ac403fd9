"""How alike nominal and alternate QCD jets look to each pretrained encoder of a finished MACK
study: Sinkhorn divergence of their projections against the nominal-vs-nominal null
(codec_jax/studies/mack/alignment.py; docs/mack.md, "Distribution alignment").

python experiments/mack_alignment.py runs/mack --pretrainings aug_only emd_pairs ot_align --out runs/mack/alignment.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

from codec_jax.files import atomic_path
from codec_jax.studies.mack.alignment import embedding_alignment

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--pretrainings", nargs="+", default=["aug_only", "emd_pairs", "ot_align"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    seeds = json.loads((args.study / "config.json").read_text())["seeds"]
    results = embedding_alignment(args.study, args.pretrainings, seeds)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    for name, entry in results.items():
        excess = np.asarray(entry["excess"])
        print(
            f"{name:12s} nominal vs alternate {np.mean(entry['nominal_vs_alternate']):.4f}, "
            f"null {np.mean(entry['nominal_vs_nominal']):.4f}, excess {excess.mean():.4f} "
            f"+- {excess.std(ddof=1) / np.sqrt(len(excess)):.4f} (mean +- error over {len(excess)} seeds)"
        )
