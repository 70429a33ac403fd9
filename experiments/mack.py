"""Run the MACK study: the same runner as ``codec-jax run configs/mack.py`` (same options).

python experiments/mack.py --preset smoke --out runs/mack_smoke
python experiments/mack.py --out runs/mack --set seeds=0,1,2
"""

import sys
from pathlib import Path

from codec_jax.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mack.py"

if __name__ == "__main__":
    sys.exit(main(["run", str(CONFIG), *sys.argv[1:]]))
