"""Energy Mover's Distance between jets (Komiske, Metodiev, Thaler, arXiv:1902.02346).

* :mod:`.sinkhorn` -- batched, jittable ott-jax Sinkhorn with a certified bracket of the exact
  value (GPU/TPU pairing, gradients in the particle coordinates);
* :mod:`.exact` -- the exact network-simplex solution (POT) on the CPU, the reference.

Both share one definition: ground cost ``(theta_ij / R)^beta`` in (eta, phi) relative to each
jet's axis, plus the energy difference ``|sum pT - sum pT'|`` through a dummy particle on the
lighter jet; ``norm=True`` normalises each jet's pT to one first.
"""

from codec_jax.emd.exact import exact_emd, exact_emd_pair
from codec_jax.emd.sinkhorn import (
    DEFAULT_EPSILON,
    DEFAULT_EPSILON_DECAY,
    DEFAULT_EPSILON_START,
    DEFAULT_ITERATIONS,
    EMDEstimate,
    pairwise_sinkhorn_emd,
    sinkhorn_emd,
    sinkhorn_emd_bounds,
    sinkhorn_emd_with_bounds,
)

__all__ = [
    "DEFAULT_EPSILON",
    "DEFAULT_EPSILON_DECAY",
    "DEFAULT_EPSILON_START",
    "DEFAULT_ITERATIONS",
    "EMDEstimate",
    "exact_emd",
    "exact_emd_pair",
    "pairwise_sinkhorn_emd",
    "sinkhorn_emd",
    "sinkhorn_emd_bounds",
    "sinkhorn_emd_with_bounds",
]
