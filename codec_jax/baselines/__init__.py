"""Classic baselines the learned taggers are compared with.

* :mod:`.ddt` -- designed decorrelated taggers: the N2 percentile map X_q(rho, pT) and N2_DDT;
* :mod:`.mass_calibration` -- a binned (m_SD, pT) response map correcting the soft-drop mass;
* :mod:`.plots` -- the DDT map figure.
"""

from codec_jax.baselines.ddt import DDTMap, build_ddt_map, jet_rho
from codec_jax.baselines.mass_calibration import MSD_FLOOR, BinnedCalibration

__all__ = ["DDTMap", "build_ddt_map", "jet_rho", "MSD_FLOOR", "BinnedCalibration"]
