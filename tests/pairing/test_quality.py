"""Oracle pairs and pair quality on synthetic same-hard-event samples (row i of the nominal and the
alternate sample are partners: the alternate jet is the nominal one, slightly perturbed)."""

from __future__ import annotations

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets
from codec_jax.emd import CloudPair, EMDSettings, ParticleClouds, exact_emd
from codec_jax.errors import DataError
from codec_jax.jets import RELATIVE_FEATURES, JetSample
from codec_jax.pairing import PairingConfig, find_pairs
from codec_jax.pairing.quality import pair_differences, partner_recovery


def _sample(pt, xy, label, event):
    mask = pt > 0
    jet_pt = pt.sum(axis=1)
    parts = np.stack([pt / jet_pt[:, None], xy[..., 0], xy[..., 1]], axis=-1)
    jets = {"pt": jet_pt, "eta": np.zeros(len(pt)), "phi": np.zeros(len(pt)), "label": label}
    return JetSample.from_arrays(parts, mask, RELATIVE_FEATURES, jets, extra={"event": event})


@pytest.fixture(scope="module")
def same_events():
    rng = np.random.default_rng(4)
    pt, xy = make_jets(rng, 120, 20)
    alt_pt, alt_xy = perturb_jets(rng, pt, xy, scale=0.05, smear=0.05)
    label = (np.arange(120) % 4 == 0).astype(np.int32)  # a quarter is signal
    event = np.arange(120, dtype=np.int64) + 10_000
    return _sample(pt, xy, label, event), _sample(alt_pt, alt_xy, label, event)


def test_oracle_pairs_are_the_true_partners_with_their_exact_emd(same_events):
    nominal, alternate = same_events
    pairs = find_pairs(0, nominal, alternate, PairingConfig(strategy="oracle"), progress=False)
    background = np.flatnonzero(nominal.label == 0)
    np.testing.assert_array_equal(pairs.nominal_index, background)
    np.testing.assert_array_equal(pairs.alternate_index, background)
    assert pairs.settings["strategy"] == "oracle" and pairs.settings["cutoff"] is None
    a_pt = nominal.pt[:, None] * nominal.feature("pt_rel")
    b_pt = alternate.pt[:, None] * alternate.feature("pt_rel")
    xy_a = np.stack([nominal.feature("eta_rel"), nominal.feature("phi_rel")], axis=-1)
    xy_b = np.stack([alternate.feature("eta_rel"), alternate.feature("phi_rel")], axis=-1)
    expected = exact_emd(
        CloudPair(
            ParticleClouds(a_pt[background], xy_a[background]),
            ParticleClouds(b_pt[background], xy_b[background]),
        ),
        EMDSettings(R=1.0),
    )
    np.testing.assert_allclose(pairs.emd, expected, rtol=1e-5)


def test_oracle_pairs_refuse_independent_samples(same_events):
    nominal, alternate = same_events
    shuffled = alternate.replace(extra={"event": alternate.extra["event"][::-1].copy()})
    with pytest.raises(DataError, match="event"):
        find_pairs(0, nominal, shuffled, PairingConfig(strategy="oracle"), progress=False)
    with pytest.raises(DataError, match="equal length"):
        find_pairs(0, nominal, alternate[:50], PairingConfig(strategy="oracle"), progress=False)


def test_partner_recovery_finds_slightly_perturbed_partners(same_events):
    nominal, alternate = same_events
    result = partner_recovery(1, nominal, alternate, EMDSettings(R=1.0), candidates=5, n_jets=60, cutoff=20.0)
    # The partner is the same jet with 5% pT noise: almost always the nearest of 6 candidates.
    assert result["fraction_true_nearest"] > 0.9 > result["chance_level"]
    assert result["true_partner_emd_quantiles"]["50"] < result["random_candidate_emd_quantiles"]["50"]
    assert 0.0 <= result["purity_below_cutoff"] <= 1.0 and result["true_partner_below_cutoff"] > 0.5
    # Against a shuffled alternate (no true partners), the "partner" is nearest only by chance.
    order = np.random.default_rng(0).permutation(len(alternate))
    scrambled = alternate[order].replace(extra={"event": alternate.extra["event"].copy()})
    chance = partner_recovery(1, nominal, scrambled, EMDSettings(R=1.0), candidates=5, n_jets=90)
    assert chance["fraction_true_nearest"] < 0.45


def test_pair_differences_report_the_jet_pt_difference(same_events):
    nominal, alternate = same_events
    pairs = find_pairs(0, nominal, alternate, PairingConfig(strategy="oracle"), progress=False)
    result = pair_differences(pairs, nominal, alternate)
    expected = np.abs(alternate.pt - nominal.pt)[pairs.nominal_index] / nominal.pt[pairs.nominal_index]
    assert result["relative_pt_difference_quantiles"]["50"] == pytest.approx(np.median(expected))
    assert result["n_pairs"] == len(pairs)
