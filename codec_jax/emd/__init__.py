"""Energy Mover's Distance between jets (Komiske, Metodiev, Thaler, arXiv:1902.02346).

* :mod:`.sinkhorn` -- batched, jittable ott-jax Sinkhorn with a certified bracket of the exact
  value (GPU/TPU pairing, gradients in the particle coordinates);
* :mod:`.exact` -- the exact network-simplex solution (POT) on the CPU, the reference;
* :mod:`.bounds` -- a cheap guaranteed lower bound (no solve), for skipping candidates;
* :mod:`.inputs` -- what they all take: :class:`CloudPair` (two :class:`ParticleClouds`, padded
  ``pt [batch, P]`` and ``xy [batch, P, 2]``) and :class:`EMDSettings` ``(R, beta, norm)``.

All share one definition: ground cost ``(theta_ij / R)^beta`` in (eta, phi) relative to each
jet's axis, plus the energy difference ``|sum pT - sum pT'|`` through a dummy particle on the
lighter jet; ``norm=True`` normalises each jet's pT to one first. Every function has the form
``f(pair, settings=None, *, solver options)``::

    pair = CloudPair(ParticleClouds(a_pt, a_xy), ParticleClouds(b_pt, b_xy))
    emd = sinkhorn_emd(pair, EMDSettings(R=1.0, beta=1.0, norm=False))
"""

from codec_jax.emd.bounds import emd_lower_bound
from codec_jax.emd.exact import exact_emd, exact_emd_pair
from codec_jax.emd.inputs import CloudPair, EMDSettings, ParticleClouds
from codec_jax.emd.sinkhorn import (
    DEFAULT_EPSILON,
    DEFAULT_EPSILON_DECAY,
    DEFAULT_EPSILON_START,
    DEFAULT_ITERATIONS,
    EMDEstimate,
    pairwise_sinkhorn_emd,
    sinkhorn_emd,
    sinkhorn_emd_bounds,
    sinkhorn_emd_refined,
    sinkhorn_emd_with_bounds,
)

__all__ = [
    "CloudPair",
    "DEFAULT_EPSILON",
    "DEFAULT_EPSILON_DECAY",
    "DEFAULT_EPSILON_START",
    "DEFAULT_ITERATIONS",
    "EMDEstimate",
    "EMDSettings",
    "ParticleClouds",
    "emd_lower_bound",
    "exact_emd",
    "exact_emd_pair",
    "pairwise_sinkhorn_emd",
    "sinkhorn_emd",
    "sinkhorn_emd_bounds",
    "sinkhorn_emd_refined",
    "sinkhorn_emd_with_bounds",
]
