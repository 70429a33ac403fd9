"""Tests of codec_jax.augment: physics invariants, statistics, keys, padding, jit, configuration."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from scipy import stats

from codec_jax import augment
from codec_jax.errors import ConfigError

BATCH, SLOTS = 64, 12


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray]:
    """Padded jets ``[64, 12, 4]`` with features (pt_rel, eta_rel, phi_rel, charge); multiplicities
    1..12 (so some jets are full and have no empty slot)."""
    rng = np.random.default_rng(7)
    counts = rng.integers(1, SLOTS + 1, BATCH)
    counts[:3] = (1, SLOTS, SLOTS - 1)
    mask = np.arange(SLOTS)[None, :] < counts[:, None]
    pt = rng.exponential(1.0, (BATCH, SLOTS)) + 0.01
    pt = np.where(mask, pt, 0.0)
    pt /= pt.sum(axis=1, keepdims=True)
    parts = np.stack(
        [
            pt,
            rng.normal(0, 0.25, (BATCH, SLOTS)),
            rng.normal(0, 0.25, (BATCH, SLOTS)),
            rng.integers(-1, 2, (BATCH, SLOTS)),
        ],
        axis=-1,
    )
    parts = np.where(mask[..., None], parts, 0.0).astype(np.float32)
    return parts, mask


def four_momentum(parts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sum of massless four-momenta (E, px, py, pz) per jet, float64, ``[batch, 4]``."""
    pt, eta, phi = (np.where(mask, parts[..., i].astype(np.float64), 0.0) for i in range(3))
    vectors = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    return vectors.sum(axis=1)


def pairwise_distances(parts: np.ndarray, jet: int, mask: np.ndarray) -> np.ndarray:
    xy = parts[jet, mask[jet], 1:3].astype(np.float64)
    return np.linalg.norm(xy[:, None] - xy[None, :], axis=-1)


def fast_key(seed: int) -> jax.Array:
    """A key of the "rbg" PRNG, which compiles several times faster on CPU than the default
    threefry; the properties tested here do not depend on the generator (the composed test uses
    the default one)."""
    return jax.random.key(seed, impl="rbg")


def run(function, seed: int, parts, mask, **params):
    """Apply one augmentation under jit (one compilation instead of many eager op dispatches)."""
    out = jax.jit(functools.partial(function, **params))(fast_key(seed), parts, mask)
    return np.asarray(out[0]), np.asarray(out[1])


def assert_padding_zero(parts: np.ndarray, mask: np.ndarray) -> None:
    assert np.all(np.asarray(parts)[~np.asarray(mask)] == 0.0)


def test_rotation_keeps_pt_and_every_pairwise_distance(batch):
    parts, mask = batch
    out, out_mask = run(augment.rotate, 0, parts, mask)
    np.testing.assert_array_equal(out_mask, mask)
    np.testing.assert_array_equal(out[..., 0], parts[..., 0])  # pT untouched
    np.testing.assert_array_equal(out[..., 3], parts[..., 3])  # extra feature untouched
    for jet in range(BATCH):
        np.testing.assert_allclose(
            pairwise_distances(out, jet, mask), pairwise_distances(parts, jet, mask), atol=2e-6
        )
        # Distance to the jet axis is kept too (rotation about the origin).
        np.testing.assert_allclose(
            np.hypot(out[jet, :, 1], out[jet, :, 2]), np.hypot(parts[jet, :, 1], parts[jet, :, 2]), atol=2e-6
        )
    assert_padding_zero(out, out_mask)
    # The angle of the leading particle moved by an angle drawn from U(-pi, pi).
    before = np.arctan2(parts[:, 0, 2], parts[:, 0, 1])
    after = np.arctan2(out[:, 0, 2], out[:, 0, 1])
    angle = np.angle(np.exp(1j * (after - before)))
    assert stats.kstest(angle, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01
    assert np.abs(angle).max() > 1.0


@pytest.mark.parametrize("particle_probability", [1.0, 0.4])
def test_collinear_split_keeps_four_momentum_and_fills_only_empty_slots(batch, particle_probability):
    parts, mask = batch
    out, out_mask = run(augment.collinear_split, 1, parts, mask, particle_probability=particle_probability)
    np.testing.assert_allclose(out[..., 0].sum(1), parts[..., 0].sum(1), rtol=2e-6)
    np.testing.assert_allclose(four_momentum(out, out_mask), four_momentum(parts, mask), atol=3e-6)
    assert_padding_zero(out, out_mask)
    assert np.all(out_mask[mask])  # real particles stay real, in place
    np.testing.assert_array_equal(out[mask][:, 1:], parts[mask][:, 1:])  # with their direction
    new_slots = out_mask & ~mask
    n_real, n_new = mask.sum(1), new_slots.sum(1)
    assert np.all(n_new <= SLOTS - n_real)
    if particle_probability == 1.0:
        np.testing.assert_array_equal(n_new, np.minimum(n_real, SLOTS - n_real))
    assert n_new.sum() > 0
    for jet in range(BATCH):
        for slot in np.flatnonzero(new_slots[jet]):
            # The daughter shares eta, phi and extra features with exactly one split parent.
            parent = np.flatnonzero(mask[jet] & np.all(parts[jet, :, 1:] == out[jet, slot, 1:], axis=1))
            assert parent.size == 1
            parent = parent[0]
            assert 0 < out[jet, parent, 0] < parts[jet, parent, 0]
            np.testing.assert_allclose(
                out[jet, parent, 0] + out[jet, slot, 0], parts[jet, parent, 0], rtol=1e-6
            )


def test_smearing_width_scales_as_inverse_sqrt_pt():
    """sigma = s / sqrt(pT): particles of 4 GeV and 100 GeV must show widths 0.05 and 0.01."""
    jets, slots = 512, 8
    parts = np.zeros((jets, slots, 3), np.float32)
    parts[:, :4, 0] = 0.004  # x pt_scale 1000 GeV = 4 GeV
    parts[:, 4:, 0] = 0.1  # = 100 GeV
    mask = np.ones((jets, slots), bool)
    smear = augment.build_augmentation(["smear"], smear={"strength": 0.1, "pt_scale": 1000.0})
    out, _ = run(smear, 2, parts, mask)
    shift = out[..., 1:3] - parts[..., 1:3]
    sigma_soft, sigma_hard = shift[:, :4].std(), shift[:, 4:].std()
    # 4096 draws per group: the standard error of the std is about 1.1%.
    assert sigma_soft == pytest.approx(0.1 / np.sqrt(4.0), rel=0.05)
    assert sigma_hard == pytest.approx(0.1 / np.sqrt(100.0), rel=0.05)
    assert sigma_soft / sigma_hard == pytest.approx(5.0, rel=0.07)
    assert abs(shift.mean()) < 0.002
    # Gaussian: the standardised displacements follow N(0, 1).
    standardised = np.concatenate([shift[:, :4].ravel() / 0.05, shift[:, 4:].ravel() / 0.01])
    assert stats.kstest(standardised, "norm").pvalue > 0.01
    np.testing.assert_array_equal(out[..., 0], parts[..., 0])
    # jet_pt [batch] at call time is the same as a constant pt_scale of that value.
    per_jet = augment.build_augmentation(["smear"])
    out_jet_pt, _ = jax.jit(per_jet)(fast_key(2), parts, mask, jet_pt=np.full(jets, 1000.0))
    np.testing.assert_allclose(np.asarray(out_jet_pt), out, atol=1e-7)
    with pytest.raises(ConfigError, match="pt_scale"):
        per_jet(fast_key(2), parts, mask)


def test_translation_moves_each_jet_rigidly(batch):
    parts, mask = batch
    out, _ = run(augment.translate, 3, parts, mask, width=0.2)
    shift = np.where(mask[..., None], out[..., 1:3] - parts[..., 1:3], np.nan)
    per_jet = np.nanmean(shift, axis=1, keepdims=True)
    np.testing.assert_allclose(np.where(mask[..., None], shift - per_jet, 0.0), 0.0, atol=2e-6)
    assert np.all(np.abs(per_jet) <= 0.2 + 1e-6)
    assert np.std(per_jet) > 0.05
    np.testing.assert_array_equal(out[..., 0], parts[..., 0])
    assert_padding_zero(out, mask)


def test_drop_soft_removes_only_soft_particles_and_keeps_the_hardest(batch):
    parts, mask = batch
    out, out_mask = run(augment.drop_soft, 4, parts, mask, pt_fraction=0.05, particle_probability=0.5)
    dropped = mask & ~out_mask
    assert dropped.sum() > 0
    assert np.all(parts[..., 0][dropped] < 0.05)
    assert not np.any(out_mask & ~mask)
    np.testing.assert_array_equal(out[out_mask], parts[out_mask])
    assert_padding_zero(out, out_mask)
    # Everything is soft and always dropped: only each jet's hardest particle is left.
    out, out_mask = run(augment.drop_soft, 4, parts, mask, pt_fraction=2.0, particle_probability=1.0)
    np.testing.assert_array_equal(out_mask.sum(1), 1)
    np.testing.assert_array_equal(
        np.argmax(out_mask, axis=1), np.argmax(np.where(mask, parts[..., 0], -1), axis=1)
    )


def test_shift_aligns_mean_particle_pt(batch):
    parts, mask = batch
    source = augment.mean_particle_pt(parts, mask)
    assert source == pytest.approx(parts[..., 0][mask].mean(), rel=1e-6)
    out, _ = run(augment.shift_mean_pt, 5, parts, mask, target_mean_pt=0.05, source_mean_pt=source)
    np.testing.assert_allclose(out[..., 0], parts[..., 0] * (0.05 / source), rtol=1e-6)
    assert augment.mean_particle_pt(out, mask) == pytest.approx(0.05, rel=1e-5)
    # Per-jet mode: every jet's own mean particle pT becomes the target.
    out, _ = run(augment.shift_mean_pt, 5, parts, mask, target_mean_pt=0.05)
    per_jet_mean = out[..., 0].sum(1) / mask.sum(1)
    np.testing.assert_allclose(per_jet_mean, 0.05, rtol=1e-5)
    np.testing.assert_array_equal(out[..., 1:], parts[..., 1:])


def test_probability_is_per_jet(batch):
    parts, mask = batch
    unchanged, _ = run(augment.rotate, 6, parts, mask, probability=0.0)
    np.testing.assert_array_equal(unchanged, parts)
    tiled = np.tile(parts, (4, 1, 1)), np.tile(mask, (4, 1))
    half, _ = run(augment.rotate, 6, *tiled, probability=0.5)
    changed = np.any(half != tiled[0], axis=(1, 2))
    assert 0.38 < changed.mean() < 0.62  # 256 jets: 4 standard deviations


ALL_STEPS = ["rotate", "smear", "translate", "split", "drop", "shift"]
ALL_PARAMS = {
    "smear": {"pt_scale": 1000.0},
    "split": {"particle_probability": 0.3},
    "drop": {"pt_fraction": 0.05},
    "shift": {"target_mean_pt": 0.1, "probability": 0.5},
}


def test_composed_augmentation_is_keyed_jittable_and_keeps_padding(batch):
    parts, mask = batch
    fn = augment.build_augmentation(ALL_STEPS, **ALL_PARAMS)
    jitted = jax.jit(fn)
    first = jitted(jax.random.key(10), parts, mask)
    again = jitted(jax.random.key(10), parts, mask)
    other = jitted(jax.random.key(11), parts, mask)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))
    assert first[0].shape == parts.shape and first[0].dtype == np.float32
    assert first[1].shape == mask.shape and first[1].dtype == np.bool_
    assert_padding_zero(*first)
    assert_padding_zero(*other)
    assert jitted._cache_size() == 1  # one compilation for all keys
    # Empty list: the identity.
    same = augment.build_augmentation([])(jax.random.key(0), parts, mask)
    np.testing.assert_array_equal(np.asarray(same[0]), parts)


def test_configuration_errors_name_the_problem():
    with pytest.raises(ConfigError, match=r"'spin'.*valid names.*rotate"):
        augment.build_augmentation(["rotate", "spin"])
    with pytest.raises(ConfigError, match=r"unknown parameter.*'sigma'.*'smear'.*strength"):
        augment.build_augmentation(["smear"], smear={"sigma": 0.1})
    with pytest.raises(ConfigError, match=r"'translate'.*not in the list"):
        augment.build_augmentation(["rotate"], translate={"width": 0.1})
    with pytest.raises(ConfigError, match=r"'shift' needs.*target_mean_pt"):
        augment.build_augmentation(["shift"])
    with pytest.raises(ConfigError, match=r"'split.z_min' must lie in \[0.0, 0.5\], got 0.7"):
        augment.build_augmentation(["rotate", "split"], split={"z_min": 0.7})  # caught when built
    with pytest.raises(ConfigError, match="probability"):
        augment.rotate(
            jax.random.key(0), np.zeros((1, 2, 3), np.float32), np.ones((1, 2), bool), probability=1.5
        )


def test_collinear_split_survives_tied_random_priorities(batch, monkeypatch):
    """float32 uniforms collide (2^23 values): with coarse draws forcing many ties, every empty
    slot must still get the daughter of a distinct parent and the four-momentum must hold."""
    parts, mask = batch
    fine = augment._uniform_draws

    def coarse(*args, **kwargs):
        per_jet, per_particle = fine(*args, **kwargs)
        return per_jet, jax.numpy.floor(per_particle * 4) / 4

    monkeypatch.setattr(augment, "_uniform_draws", coarse)
    out, out_mask = run(augment.collinear_split, 12, parts, mask, particle_probability=1.0)
    np.testing.assert_array_equal(out_mask.sum(1), mask.sum(1) + np.minimum(mask.sum(1), SLOTS - mask.sum(1)))
    np.testing.assert_allclose(four_momentum(out, out_mask), four_momentum(parts, mask), atol=3e-6)
