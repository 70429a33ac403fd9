"""Mesh, shardings, batch placement and gather on 8 fake CPU devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax import parallel
from codec_jax.errors import ConfigError


def test_mesh_over_all_or_some_devices():
    assert parallel.make_mesh().devices.size == 8
    mesh = parallel.make_mesh(4)
    assert mesh.devices.size == 4 and mesh.axis_names == ("data",)
    with pytest.raises(ConfigError, match="sees 8 device"):
        parallel.make_mesh(9)


def test_batch_must_divide_the_devices():
    mesh = parallel.make_mesh(8)
    parallel.check_batch_size(16, mesh)
    with pytest.raises(
        ConfigError,
        match="training.batch_size=12 must be a positive multiple of the number of devices \\(8\\)",
    ):
        parallel.check_batch_size(12, mesh)


def test_process_slices_tile_the_global_batch():
    slices = [parallel.process_slice(32, index, 4) for index in range(4)]
    rows = np.concatenate([np.arange(32)[s] for s in slices])
    np.testing.assert_array_equal(rows, np.arange(32))
    with pytest.raises(ConfigError):
        parallel.process_slice(30, 0, 4)


def test_put_batch_shards_rows_over_devices():
    mesh = parallel.make_mesh(8)
    x = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    batch = parallel.put_batch({"x": x}, mesh, 16)
    assert batch["x"].sharding == parallel.data_sharding(mesh)
    shards = sorted(batch["x"].addressable_shards, key=lambda s: s.index[0].start)
    assert [s.data.shape for s in shards] == [(2, 3)] * 8
    np.testing.assert_array_equal(np.concatenate([np.asarray(s.data) for s in shards]), x)


def test_gather_makes_a_replicated_layout_and_keeps_values():
    mesh = parallel.make_mesh(8)
    x = parallel.put_batch({"x": np.arange(32, dtype=np.float32).reshape(16, 2)}, mesh, 16)["x"]

    def covariance(z):
        z = parallel.gather(z)
        centred = z - z.mean(0)
        return centred.T @ centred / (z.shape[0] - 1), z

    with jax.set_mesh(mesh):
        cov, gathered = jax.jit(covariance)(x)
    assert gathered.sharding.is_fully_replicated
    np.testing.assert_allclose(cov, np.cov(np.asarray(x).T), rtol=1e-6)
    # without a mesh context gather is the identity
    y = jnp.ones(3)
    assert parallel.gather(y) is y


def test_replicate_copies_so_donation_cannot_delete_the_input():
    mesh = parallel.make_mesh(8)
    params = {"w": jnp.arange(4.0)}
    replicated = parallel.replicate(params, mesh)
    assert replicated["w"].sharding.is_fully_replicated
    jax.jit(lambda p: jax.tree.map(lambda v: v + 1, p), donate_argnums=0)(replicated)
    assert not params["w"].is_deleted()
