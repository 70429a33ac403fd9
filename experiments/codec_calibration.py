"""Run the CoDec soft-drop mass calibration study: the same runner as ``codec-jax run configs/codec_calibration.py`` (same options).

python experiments/codec_calibration.py --preset smoke --out runs/codec_calibration_smoke
python experiments/codec_calibration.py --out runs/codec_calibration --set seeds=0,1,2
"""

import sys
from pathlib import Path

from codec_jax.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "codec_calibration.py"

if __name__ == "__main__":
    sys.exit(main(["run", str(CONFIG), *sys.argv[1:]]))
