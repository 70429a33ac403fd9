"""Run the MACK study and print where its report is (same as ``codec-jax run configs/mack.py``).

python experiments/mack.py --preset smoke --out runs/mack_smoke
python experiments/mack.py --out runs/mack --set seeds=0,1,2 --set pairing.cutoff=30
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codec_jax.studies import apply_study_overrides, load_study_config, run_study

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mack.py"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(CONFIG), help="study config file (default: configs/mack.py)")
    parser.add_argument("--preset", default=None, help="smoke, full, or none for the default size")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", required=True, help="study directory")
    args = parser.parse_args()
    config = apply_study_overrides(load_study_config(args.config, args.preset), args.overrides)
    metrics = run_study(config, args.out)
    for model, entry in metrics["summary"].items():
        auc = entry["auc_nominal"]
        spread = "" if auc["std"] is None else f" +- {auc['std']:.3f}"
        print(f"{model:<24} AUC nominal {auc['mean']:.3f}{spread} over {auc['n']} seed(s)")
    print(f"report: {Path(args.out) / 'report.md'}")


if __name__ == "__main__":
    main()
