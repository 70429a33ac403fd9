"""Run the CoDec regression study and print its summary (same as ``codec-jax run configs/codec_regression.py``).

python experiments/codec_regression.py --preset smoke --out runs/codec_regression_smoke
python experiments/codec_regression.py --out runs/codec_regression --set seeds=0,1,2,3,4
"""

from pathlib import Path

from codec_jax.studies.mass_study import script_main

if __name__ == "__main__":
    script_main(Path(__file__).resolve().parent.parent / "configs" / "codec_regression.py", __doc__)
