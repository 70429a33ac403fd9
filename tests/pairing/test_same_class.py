"""Same-class positive pairs: the ``similar`` mass-rank partners (the ``any`` and ``different``
modes are covered by tests/studies/codec_tagging/test_study.py)."""

import numpy as np
import pytest

from codec_jax.errors import ConfigError
from codec_jax.pairing.same_class import PAIR_MASS_MODES, same_class_pairs


def _ranks(labels, mass):
    """Mass rank of every jet within its class (ties in row order), computed independently."""
    ranks = np.empty(len(labels), int)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = sorted(members, key=lambda row: (mass[row], row))
        for rank, row in enumerate(order):
            ranks[row] = rank
    return ranks


def test_similar_partners_are_same_class_jets_of_neighbouring_mass_rank():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 800)
    mass = np.round(rng.uniform(40, 200, 800), 1)  # some ties
    ranks = _ranks(labels, mass)
    window = 4
    pairs = same_class_pairs(1, labels, mass, pairs_per_jet=3, partner_mass="similar", similar_ranks=window)
    jets, partners = pairs.nominal_index, pairs.alternate_index
    assert np.array_equal(jets, np.repeat(np.arange(800), 3))
    assert np.all(labels[jets] == labels[partners]) and np.all(jets != partners)
    # Within the window of 2 * window + 1 ranks around the jet, shifted inwards at the ends.
    for label in (0, 1):
        n = np.sum(labels == label)
        rows = labels[jets] == label
        start = np.clip(ranks[jets[rows]] - window, 0, n - (2 * window + 1))
        assert np.all((ranks[partners[rows]] >= start) & (ranks[partners[rows]] <= start + 2 * window))
    # Every neighbour in the window is drawn (uniform over the window, not only the nearest).
    offsets = ranks[partners] - ranks[jets]
    middle = (ranks[jets] >= window) & (ranks[jets] < 300)
    assert set(offsets[middle]) == {-4, -3, -2, -1, 1, 2, 3, 4}
    assert pairs.settings["partner_mass"] == "similar" and pairs.settings["similar_ranks"] == window
    difference = np.median(np.abs(mass[jets] - mass[partners]))
    assert pairs.settings["median_abs_mass_difference"] == pytest.approx(difference)
    others = same_class_pairs(1, labels, mass, pairs_per_jet=3, partner_mass="any")
    assert difference < 0.05 * others.settings["median_abs_mass_difference"]
    again = same_class_pairs(1, labels, mass, pairs_per_jet=3, partner_mass="similar", similar_ranks=window)
    assert np.array_equal(again.alternate_index, partners)


def test_similar_partners_in_a_small_class_and_errors():
    labels = np.array([0, 0, 0, 1, 1])
    mass = np.array([50.0, 60.0, 70.0, 80.0, 90.0])
    pairs = same_class_pairs(0, labels, mass, pairs_per_jet=20, partner_mass="similar", similar_ranks=5)
    jets, partners = pairs.nominal_index, pairs.alternate_index
    assert np.all(labels[jets] == labels[partners]) and np.all(jets != partners)
    assert set(partners[jets == 0]) == {1, 2}  # the whole class is the window
    assert "similar" in PAIR_MASS_MODES
    with pytest.raises(ConfigError, match="needs the jet mass"):
        same_class_pairs(0, labels, partner_mass="similar")
    with pytest.raises(ConfigError, match="similar_ranks"):
        same_class_pairs(0, labels, mass, partner_mass="similar", similar_ranks=0)
