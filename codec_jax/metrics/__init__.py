"""Evaluation metrics: tagging (ROC, AUC, rejection, mass sculpting), robustness (MACK's
fractional efficiency changes), representations (latent-mass correlation, participation ratio),
mass response (median and resolution in truth-mass bins), and the statistics layer of the
studies: sculpting as a JSD excess over its floor, errors from a paired bootstrap over test jets
combined with the training seeds (uncertainty), and claims with verdicts by a fixed rule.

Conventions (the same in every function):

* ``label`` 1 is signal, 0 is background; a higher score is more signal-like.
* A cut at ``threshold`` keeps the jets with ``score >= threshold``.
* Weights are optional everywhere (``None`` = unit weights); they must be finite and >= 0.
* The cut at efficiency ``x`` of a class is the *highest* threshold keeping at least a fraction
  ``x`` of that class (by weight). With continuous scores the achieved efficiency is ``x`` up to
  one jet; with tied scores the whole tie is kept, so the achieved efficiency can exceed ``x``.
* The Jensen-Shannon divergence uses the natural log (a divergence in [0, ln 2], not scipy's
  distance, which is its square root).

Inputs are NumPy arrays computed in float64; empty, mismatched or non-finite inputs raise
:class:`~codec_jax.errors.DataError` naming the argument. The public names of the submodules are
re-exported here (``from codec_jax import metrics; metrics.roc_auc(...)``).
"""

from codec_jax.metrics.claims import VERDICTS, Claim, ClaimRule, claims_markdown, evaluate_claim
from codec_jax.metrics.representation import (
    LatentMassCorrelation,
    latent_mass_correlation,
    participation_ratio,
)
from codec_jax.metrics.robustness import (
    ROC_GRID,
    EfficiencyChangeCurve,
    fractional_change_uncertainty,
    fractional_efficiency_change,
    fractional_efficiency_change_curve,
    matched_efficiency_change,
    metric_name,
    robustness_metrics,
)
from codec_jax.metrics.sculpting import JSDExcess, jsd_excess
from codec_jax.metrics.seed_bootstrap import SeedMeanBootstrap, seed_mean_bootstrap
from codec_jax.metrics.tagging import (
    BinnedEfficiency,
    InverseJSDFloor,
    background_rejection,
    efficiency,
    efficiency_vs_mass,
    inverse_jsd,
    inverse_jsd_floor,
    jsd,
    roc_auc,
    roc_curve,
    threshold_at_efficiency,
)
from codec_jax.metrics.uncertainty import (
    BootstrapResamples,
    Measurement,
    bootstrap_resamples,
    bootstrap_values,
    combined_difference_error,
    combined_error,
    difference_measurement,
    measurement,
)

__all__ = [
    "VERDICTS",
    "BinnedEfficiency",
    "BootstrapResamples",
    "Claim",
    "ClaimRule",
    "EfficiencyChangeCurve",
    "InverseJSDFloor",
    "JSDExcess",
    "LatentMassCorrelation",
    "Measurement",
    "ROC_GRID",
    "SeedMeanBootstrap",
    "background_rejection",
    "bootstrap_resamples",
    "bootstrap_values",
    "claims_markdown",
    "combined_difference_error",
    "combined_error",
    "difference_measurement",
    "efficiency",
    "efficiency_vs_mass",
    "evaluate_claim",
    "fractional_change_uncertainty",
    "fractional_efficiency_change",
    "fractional_efficiency_change_curve",
    "inverse_jsd",
    "inverse_jsd_floor",
    "jsd",
    "jsd_excess",
    "latent_mass_correlation",
    "matched_efficiency_change",
    "measurement",
    "metric_name",
    "participation_ratio",
    "robustness_metrics",
    "roc_auc",
    "roc_curve",
    "seed_mean_bootstrap",
    "threshold_at_efficiency",
]
