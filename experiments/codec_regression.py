"""Run the CoDec mass-regression study: the same runner as ``codec-jax run configs/codec_regression.py`` (same options).

python experiments/codec_regression.py --preset smoke --out runs/codec_regression_smoke
python experiments/codec_regression.py --out runs/codec_regression --set seeds=0,1,2
"""

import sys
from pathlib import Path

from codec_jax.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "codec_regression.py"

if __name__ == "__main__":
    sys.exit(main(["run", str(CONFIG), *sys.argv[1:]]))
