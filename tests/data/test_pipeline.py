"""Standardisation, inputs, pair views, splits and the batch iterator."""

import jax
import numpy as np
import pytest

from codec_jax import parallel
from codec_jax.data.pipeline import (
    Standardizer,
    iterate_batches,
    particle_inputs,
    pretrain_arrays,
    split_indices,
    supervised_arrays,
)
from codec_jax.errors import ConfigError, DataError
from tests.helpers.train_toys import toy_sample


@pytest.fixture(scope="module")
def sample():
    return toy_sample(0, n=40, particles=6)


def test_standardizer_fits_real_particles_and_round_trips(sample):
    x, mask = particle_inputs(sample, 8)
    assert x.shape == (40, 8, 3) and not mask[:, 6:].any()
    scaler = Standardizer.fit(x, mask, ("pt_rel", "eta_rel", "phi_rel"))
    real = x[mask].astype(np.float64)
    np.testing.assert_allclose(scaler.mean, real.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scaler.std, real.std(0), rtol=1e-5)
    y = scaler.apply(x, mask)
    np.testing.assert_allclose(y[mask].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y[mask].std(0), 1.0, rtol=1e-4)
    assert np.all(y[~mask] == 0.0)
    np.testing.assert_allclose(scaler.invert(y, mask), x, rtol=1e-5, atol=1e-6)
    # JSON round trip, and the same numbers inside jit
    again = Standardizer.from_json(scaler.to_json())
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_allclose(jax.jit(again.apply)(x, mask), y, rtol=1e-6, atol=1e-6)
    with pytest.raises(DataError, match="lacks the field 'std'"):
        Standardizer.from_json({"feature_names": ["a"], "mean": [0.0]})


def test_constant_feature_gets_unit_scale():
    x = np.ones((10, 2), np.float32)
    scaler = Standardizer.fit(x, None, ("a", "b"))
    np.testing.assert_array_equal(scaler.std, [1.0, 1.0])
    np.testing.assert_array_equal(scaler.apply(x), 0.0)


def test_particle_inputs_are_relative_features(sample):
    x, mask = particle_inputs(sample, 6)
    np.testing.assert_allclose(x, sample.parts, rtol=1e-6)
    np.testing.assert_array_equal(mask, sample.mask)


def test_supervised_arrays_and_bad_fields(sample):
    arrays = supervised_arrays(
        sample, inputs="particles", max_particles=6, jet_features=(), target="label", mass_field="msd"
    )
    np.testing.assert_array_equal(arrays["target"], sample.label.astype(np.float32))
    np.testing.assert_array_equal(arrays["mass"], sample.msd)
    jets = supervised_arrays(
        sample, inputs="jets", max_particles=6, jet_features=("pt", "msd"), target="mass", mass_field="msd"
    )
    assert jets["x"].shape == (40, 2) and "mask" not in jets
    with pytest.raises(ConfigError, match="data.mass_field='soft_mass'"):
        supervised_arrays(
            sample,
            inputs="particles",
            max_particles=6,
            jet_features=(),
            target="label",
            mass_field="soft_mass",
        )


def test_pair_views_index_nominal_and_alternate():
    nominal = {"x": np.arange(5.0)[:, None], "mask": np.ones((5, 1), bool)}
    alternate = {"x": 10 + np.arange(4.0)[:, None], "mask": np.ones((4, 1), bool)}
    views = pretrain_arrays(nominal, alternate, np.array([0, 0, 4]), np.array([3, 1, 2]))
    np.testing.assert_array_equal(views["x_a"][:, 0], [0, 0, 4])
    np.testing.assert_array_equal(views["x_b"][:, 0], [13, 11, 12])
    same = pretrain_arrays(nominal)
    np.testing.assert_array_equal(same["x_a"], same["x_b"])
    with pytest.raises(DataError, match="beyond the samples"):
        pretrain_arrays(nominal, alternate, np.array([5]), np.array([0]))


def test_split_is_seeded_disjoint_and_complete():
    train, validation = split_indices(jax.random.key(0), 50, 0.2)
    assert len(validation) == 10 and len(np.intersect1d(train, validation)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(50))
    again = split_indices(jax.random.key(0), 50, 0.2)
    np.testing.assert_array_equal(again[1], validation)


def test_batches_drop_the_last_partial_batch_and_shuffle_per_key():
    arrays = {"x": np.arange(37), "y": np.arange(37) * 2}
    batches = list(iterate_batches(arrays, 8, key=jax.random.key(1)))
    assert len(batches) == 4 and all(len(b["x"]) == 8 for b in batches)
    rows = np.concatenate([b["x"] for b in batches])
    assert len(np.unique(rows)) == 32  # no row twice within an epoch
    np.testing.assert_array_equal(np.concatenate([b["y"] for b in batches]), rows * 2)
    same = np.concatenate([b["x"] for b in iterate_batches(arrays, 8, key=jax.random.key(1))])
    other = np.concatenate([b["x"] for b in iterate_batches(arrays, 8, key=jax.random.key(2))])
    np.testing.assert_array_equal(same, rows)
    assert not np.array_equal(other, rows)
    ordered = np.concatenate([b["x"] for b in iterate_batches(arrays, 8)])
    np.testing.assert_array_equal(ordered, np.arange(32))
    with pytest.raises(ConfigError, match="larger than the sample"):
        list(iterate_batches(arrays, 64))


def test_batches_are_placed_on_the_mesh():
    mesh = parallel.make_mesh(8)
    (batch,) = list(iterate_batches({"x": np.ones((16, 4, 3), np.float32)}, 16, mesh=mesh))
    assert batch["x"].sharding == parallel.data_sharding(mesh)
    assert len(batch["x"].addressable_shards) == 8
