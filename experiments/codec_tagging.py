"""Run the CoDec tagging study: the same runner as ``codec-jax run configs/codec_tagging.py`` (same options).

python experiments/codec_tagging.py --preset smoke --out runs/codec_tagging_smoke
python experiments/codec_tagging.py --out runs/codec_tagging --set seeds=0,1,2
"""

import sys
from pathlib import Path

from codec_jax.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "codec_tagging.py"

if __name__ == "__main__":
    sys.exit(main(["run", str(CONFIG), *sys.argv[1:]]))
