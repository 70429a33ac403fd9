"""Run the CoDec tagging study and print its summary (same as ``codec-jax run configs/codec_tagging.py``).

python experiments/codec_tagging.py --preset smoke --out runs/codec_tagging_smoke
python experiments/codec_tagging.py --out runs/codec_tagging --set seeds=0,1,2 --set positives=augment
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codec_jax.studies import apply_study_overrides, load_study_config, run_study

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "codec_tagging.py"


def _cell(stat: dict, digits: int) -> str:
    if stat["mean"] is None:
        return "n/a"
    spread = "" if stat["std"] is None else f" +- {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", default=str(CONFIG), help="study config file (default: configs/codec_tagging.py)"
    )
    parser.add_argument("--preset", default=None, help="smoke, full, or none for the default size")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", required=True, help="study directory")
    args = parser.parse_args()
    config = apply_study_overrides(load_study_config(args.config, args.preset), args.overrides)
    metrics = run_study(config, args.out)
    point = metrics["working_points"][0]
    percent = round(100 * point)
    print(f"{'model':<20} {'AUC':>15} {f'R{percent}':>15} {f'1/JSD{percent}':>17}")
    for model, entry in metrics["summary"].items():
        print(
            f"{model:<20} {_cell(entry['auc'], 3):>15} {_cell(entry[f'r{percent}'], 1):>15} "
            f"{_cell(entry[f'inv_jsd{percent}'], 1):>17}"
        )
    floor = metrics["inv_jsd_floor"]
    print(f"1/JSD{percent} floor (random cut): {floor['mean']:.1f} +- {floor['std']:.1f}")
    print(f"report: {Path(args.out) / 'report.md'}")


if __name__ == "__main__":
    main()
