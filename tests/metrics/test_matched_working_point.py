"""Tests of robustness at a matched working point (codec_jax.metrics.robustness): delta
eps_QCD / eps_QCD at a fixed nominal QCD efficiency, against closed forms for Gaussian toys, and
its place in robustness_metrics next to the unchanged keys."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from codec_jax import metrics


def gaussian_sets(shift: float, scale: float, n: int = 50_000, seed: int = 0):
    """Nominal: QCD ~ N(0, 1), Z' ~ N(1.5, 1); alternate: QCD ~ N(shift, scale), Z' unchanged."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n, int), np.ones(n // 5, int)]
    nominal = np.where(labels == 1, rng.normal(1.5, 1.0, labels.size), rng.normal(0.0, 1.0, labels.size))
    alternate = np.where(
        labels == 1, rng.normal(1.5, 1.0, labels.size), rng.normal(shift, scale, labels.size)
    )
    return nominal, labels, alternate, labels.copy()


def test_identical_sets_give_zero():
    nominal, labels, _, _ = gaussian_sets(0.0, 1.0, n=2000)
    for label in (0, 1):
        for efficiency in (0.1, 0.3, 0.77):
            change = metrics.matched_efficiency_change(
                nominal, labels, nominal.copy(), labels, label=label, efficiency=efficiency
            )
            assert change == 0.0


@pytest.mark.parametrize(("shift", "scale"), [(0.2, 1.0), (0.0, 1.2), (-0.15, 0.9)])
@pytest.mark.parametrize("efficiency", [0.1, 0.3])
def test_shifted_background_gives_the_closed_form_change(shift, scale, efficiency):
    nominal, labels, alternate, alt_labels = gaussian_sets(shift, scale)
    threshold = stats.norm.isf(efficiency)  # keeps `efficiency` of the nominal N(0, 1) QCD
    expected = stats.norm.sf((threshold - shift) / scale) / efficiency - 1
    change = metrics.matched_efficiency_change(nominal, labels, alternate, alt_labels, efficiency=efficiency)
    error = metrics.fractional_change_uncertainty(
        nominal, labels, alternate, alt_labels, fixed_label=0, efficiency=efficiency, measured_label=0
    )
    assert abs(expected) > 5 * error  # the toy resolves the change
    assert change == pytest.approx(expected, abs=3 * error)
    # The other class's metric at the same threshold is a different number (Z' does not move).
    other = metrics.fractional_efficiency_change(
        nominal, labels, alternate, alt_labels, fixed="background", efficiency=efficiency
    )
    assert abs(other) < 3 * metrics.fractional_change_uncertainty(
        nominal, labels, alternate, alt_labels, fixed_label=0, efficiency=efficiency
    )


def test_the_binomial_error_of_the_matched_change_matches_the_bootstrap():
    nominal, labels, alternate, alt_labels = gaussian_sets(0.2, 1.0, n=4000, seed=3)
    resamples = metrics.bootstrap_resamples({"nominal": labels, "alternate": alt_labels}, 400, seed=1)
    values = metrics.bootstrap_values(
        lambda idx: metrics.matched_efficiency_change(
            nominal[idx["nominal"]], labels, alternate[idx["alternate"]], alt_labels, efficiency=0.1
        ),
        resamples,
    )
    binomial = metrics.fractional_change_uncertainty(
        nominal, labels, alternate, alt_labels, fixed_label=0, efficiency=0.1, measured_label=0
    )
    assert values.std(ddof=1) == pytest.approx(binomial, rel=0.15)


def test_robustness_metrics_add_matched_points_without_changing_existing_keys():
    nominal, labels, alternate, alt_labels = gaussian_sets(0.2, 1.1, n=3000, seed=5)
    assert metrics.metric_name("qcd", 0.1, fixed="qcd") == "frac_change_qcd_at_qcd_eff_0.1"
    assert metrics.metric_name("qcd", 0.5) == "frac_change_qcd_at_zprime_eff_0.5"
    assert metrics.metric_name("zprime", 0.3) == "frac_change_zprime_at_qcd_eff_0.3"
    with pytest.raises(ValueError, match="fixed"):
        metrics.metric_name("qcd", 0.1, fixed="signal")
    without = metrics.robustness_metrics(nominal, labels, alternate, alt_labels, matched_points=())
    result = metrics.robustness_metrics(nominal, labels, alternate, alt_labels)
    added = set(result) - set(without)
    assert added == {
        "frac_change_qcd_at_qcd_eff_0.1",
        "frac_change_qcd_at_qcd_eff_0.1_stat",
        "frac_change_qcd_at_qcd_eff_0.3",
        "frac_change_qcd_at_qcd_eff_0.3_stat",
    }
    assert {key: result[key] for key in without} == without
    for point in (0.1, 0.3):
        key = metrics.metric_name("qcd", point, fixed="qcd")
        assert result[key] == metrics.matched_efficiency_change(
            nominal, labels, alternate, alt_labels, efficiency=point
        )
        assert result[key + "_stat"] == metrics.fractional_change_uncertainty(
            nominal, labels, alternate, alt_labels, fixed_label=0, efficiency=point, measured_label=0
        )
        assert result[key] > 3 * result[key + "_stat"]
