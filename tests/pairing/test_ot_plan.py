"""``ot_plan`` pairing: the least-total-EMD one-to-one matching in blocks, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codec_jax.data.synthetic import make_jets, perturb_jets, relative_sample
from codec_jax.emd import CloudPair, EMDSettings, exact_emd
from codec_jax.pairing import PairingConfig, find_pairs, jet_particles
from codec_jax.pairing.candidates import block_candidates, block_matching

pytest.importorskip("ot")

MACK_EMD = EMDSettings(R=1.0, beta=1.0, norm=False)


def _everything(**settings) -> PairingConfig:
    return PairingConfig(strategy="ot_plan", cutoff=1e9, cutoff_quantile=None, **settings)


def test_the_true_matching_is_recovered_from_shuffled_smeared_copies():
    rng = np.random.default_rng(5)
    pt, xy = make_jets(rng, 12, 25, min_particles=10)
    alt_pt, alt_xy = perturb_jets(rng, pt, xy, scale=0.02, smear=0.02)
    shuffle = rng.permutation(12)  # alternate row shuffle[i] is the copy of nominal row i
    inverse = np.argsort(shuffle)
    nominal, alternate = relative_sample(pt, xy), relative_sample(alt_pt[inverse], alt_xy[inverse])
    pairs = find_pairs(0, nominal, alternate, _everything(candidates=12), progress=False)
    assert len(pairs) == 12
    assert np.array_equal(shuffle[pairs.nominal_index], pairs.alternate_index)
    assert pairs.settings["n_candidates"] == 144 and pairs.settings["n_matched"] == 12


def test_each_block_matching_is_the_brute_force_optimum_and_beats_any_other_assignment():
    rng = np.random.default_rng(8)
    pt, xy = make_jets(rng, 23, 20, min_particles=8)
    alt_pt, alt_xy = make_jets(rng, 19, 20, min_particles=8)
    a, b = jet_particles(relative_sample(pt, xy)), jet_particles(relative_sample(alt_pt, alt_xy))
    width = max(a.width, b.width)
    a, b = a.pad_to(width), b.pad_to(width)
    ia, ib, block = block_candidates(np.random.default_rng(1), a.n_jets, b.n_jets, 5)
    emd = exact_emd(CloudPair(a.take(ia), b.take(ib)), MACK_EMD)
    chosen = block_matching(ia, ib, block, emd)
    assert np.array_equal(np.sort(ia[chosen]), np.arange(23))  # one partner per nominal jet
    for index in np.unique(block):
        members = np.flatnonzero(block == index)
        rows, cols = np.unique(ia[members]), np.unique(ib[members])
        cost = {(i, j): e for i, j, e in zip(ia[members], ib[members], emd[members], strict=True)}
        best = min(
            sum(cost[i, j] for i, j in zip(rows, perm, strict=False))
            for perm in itertools.permutations(cols, len(rows))
        )
        mine = chosen[np.isin(chosen, members)]
        assert len(set(ib[mine])) == len(mine)  # one-to-one within the block
        assert emd[mine].sum() == pytest.approx(best, rel=1e-9)
        identity = sum(cost[i, j] for i, j in zip(rows, cols, strict=False))  # another assignment
        assert emd[mine].sum() <= identity + 1e-9


def test_the_cutoff_applies_to_the_matched_pairs_and_the_study_accepts_the_strategy():
    rng = np.random.default_rng(3)
    pt, xy = make_jets(rng, 30, 20, min_particles=8)
    alt_pt, alt_xy = perturb_jets(rng, pt, xy, scale=0.1, smear=0.2)
    nominal, alternate = relative_sample(pt, xy), relative_sample(alt_pt, alt_xy)
    config = PairingConfig(strategy="ot_plan", candidates=6, cutoff_quantile=0.2)
    pairs = find_pairs(0, nominal, alternate, config, progress=False)
    matched_all = find_pairs(0, nominal, alternate, _everything(candidates=6), progress=False)
    assert len(matched_all) == 30 and 0 < len(pairs) < 30
    assert np.all(pairs.emd < pairs.settings["cutoff"])
    assert set(zip(pairs.nominal_index, pairs.alternate_index)) <= set(
        zip(matched_all.nominal_index, matched_all.alternate_index)
    )
