"""Run the CoDec calibration study and print its summary (same as ``codec-jax run configs/codec_calibration.py``).

python experiments/codec_calibration.py --preset smoke --out runs/codec_calibration_smoke
python experiments/codec_calibration.py --out runs/codec_calibration --set seeds=0,1,2,3,4
"""

from pathlib import Path

from codec_jax.studies.mass_study import script_main

if __name__ == "__main__":
    script_main(Path(__file__).resolve().parent.parent / "configs" / "codec_calibration.py", __doc__)
