"""Networks: shapes and parameter subtrees, set symmetries, masking, and NumPy references."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax.errors import ConfigError
from codec_jax.models import (
    build_model,
    encoder_names,
    knn_indices,
    masked_mean,
    masked_sum,
    register_encoder,
)

BATCH, PARTICLES, FEATURES = 4, 9, 3
N_REAL = np.array([9, 5, 2, 7])
PARTICLE_ENCODERS = {
    "deepsets": {"particle_dims": (16, 16), "jet_dims": (16,), "output_dim": 8},
    "interaction": {},  # the MACK defaults, as the fast-vs-naive test checks them
    "edgeconv": {"num_neighbors": 3, "block_dims": ((16, 16), (16,)), "jet_dims": (16,), "output_dim": 8},
    "transformer": {"embed_dim": 16, "num_heads": 2, "num_layers": 2, "mlp_dim": 32, "output_dim": 8},
    "part": {
        "embed_dim": 16,
        "num_heads": 2,
        "num_layers": 2,
        "mlp_dim": 32,
        "pair_dims": (8,),
        "output_dim": 8,
    },
}


def _jets(seed: int, n_slots: int = PARTICLES) -> tuple[np.ndarray, np.ndarray]:
    """Random particles ``[BATCH, n_slots, 3]`` (pt_rel, eta_rel, phi_rel) with zero padding."""
    rng = np.random.default_rng(seed)
    x = np.stack(
        [
            rng.exponential(0.1, (BATCH, n_slots)),
            rng.normal(0, 0.4, (BATCH, n_slots)),
            rng.normal(0, 0.4, (BATCH, n_slots)),
        ],
        axis=-1,
    ).astype(np.float32)
    mask = np.arange(n_slots)[None, :] < N_REAL[:, None]
    return np.where(mask[..., None], x, 0.0).astype(np.float32), mask


X, MASK = _jets(0)


def _random_params(model, seed: int) -> dict:
    """Parameters with the shapes ``model.init`` gives, drawn with NumPy: kernels N(0, 1/fan_in),
    biases N(0, 0.3^2) (non-zero, so a leaking padded particle shows), norm scales near 1.
    (Much cheaper than compiling Flax's keyed initialisers for every model.)"""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), X, MASK)["params"]

    def draw(path, leaf):
        name = jax.tree_util.keystr(path[-1:])
        if "kernel" in name:
            fan_in = int(np.prod(leaf.shape[:-1]))
            return (rng.normal(size=leaf.shape) / np.sqrt(fan_in)).astype(np.float32)
        if "scale" in name:
            return (1.0 + 0.1 * rng.normal(size=leaf.shape)).astype(np.float32)
        return (0.3 * rng.normal(size=leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module")
def models():
    """name -> (model, params), built once per module."""
    return {
        name: (model := build_model(name, encoder_kwargs=kwargs), _random_params(model, index))
        for index, (name, kwargs) in enumerate(PARTICLE_ENCODERS.items())
    }


_JITTED_EMBED = {}


def _embed(model, params, x, mask):
    """``model.apply(..., method="embed")`` jitted once per model (and per input shape)."""
    if id(model) not in _JITTED_EMBED:
        _JITTED_EMBED[id(model)] = jax.jit(lambda p, x, m: model.apply({"params": p}, x, m, method="embed"))
    return np.asarray(_JITTED_EMBED[id(model)](params, x, mask))


# ----------------------------------------------------------------------------- shapes and contract
def test_build_model_shapes_and_parameter_subtrees(models):
    for name, (model, params) in models.items():
        assert set(params) == {"encoder", "projector", "head"}, name
        d_repr = PARTICLE_ENCODERS[name].get("output_dim", 64)
        outputs = jax.jit(model.apply)({"params": params}, X, MASK)
        assert set(outputs) == {"representation", "projection", "output"}
        assert outputs["representation"].shape == (BATCH, d_repr)
        assert outputs["projection"].shape == (BATCH, 64)
        assert outputs["output"].shape == (BATCH, 1)
        # the methods the engine calls are the same functions as the __call__ outputs
        np.testing.assert_array_equal(_embed(model, params, X, MASK), outputs["representation"])
    model, params = models["deepsets"]
    project = jax.eval_shape(lambda p: model.apply({"params": p}, X, MASK, method="project"), params)
    classify = jax.eval_shape(lambda p: model.apply({"params": p}, X, MASK, method="classify"), params)
    assert project.shape == (BATCH, 64) and classify.shape == (BATCH, 1)
    # the classifier head is 64-32-1 on the representation
    head = models["interaction"][1]["head"]
    assert head["hidden"]["layer_0"]["kernel"].shape == (64, 64)
    assert head["hidden"]["layer_1"]["kernel"].shape == (64, 32)
    assert head["output"]["kernel"].shape == (32, 1)


def test_jet_feature_mlp_without_projector_or_head():
    model = build_model("mlp", encoder_kwargs={"output_dim": 4}, projector_dims=None, head_dims=None)
    features = np.random.default_rng(1).normal(size=(5, 25)).astype(np.float32)
    params = model.init(jax.random.key(0), features, None)["params"]
    assert set(params) == {"encoder"}
    assert model.apply({"params": params}, features, None, method="embed").shape == (5, 4)
    with pytest.raises(ConfigError, match="no projector"):
        model.apply({"params": params}, features, None, method="project")
    with pytest.raises(ConfigError, match="no head"):
        model.apply({"params": params}, features, None, method="classify")


def test_build_model_rejects_bad_configuration():
    assert {"mlp", "deepsets", "pfn", "interaction", "edgeconv", "transformer", "part"} <= set(
        encoder_names()
    )
    with pytest.raises(ConfigError, match="unknown encoder 'gnn'"):
        build_model("gnn")
    with pytest.raises(ConfigError, match="edge_width"):
        build_model("interaction", encoder_kwargs={"edge_width": 3})
    with pytest.raises(ConfigError, match="n_outputs"):
        build_model("deepsets", n_outputs=0)


# ----------------------------------------------------------------------------- symmetries
@pytest.mark.parametrize("name", sorted(PARTICLE_ENCODERS))
def test_particle_permutation_invariance(models, name):
    model, params = models[name]
    rng = np.random.default_rng(2)
    order = np.stack([rng.permutation(PARTICLES) for _ in range(BATCH)])  # padded slots move too
    x_perm = np.take_along_axis(X, order[..., None], axis=1)
    mask_perm = np.take_along_axis(MASK, order, axis=1)
    reference = _embed(model, params, X, MASK)
    np.testing.assert_allclose(_embed(model, params, x_perm, mask_perm), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(PARTICLE_ENCODERS))
def test_padding_values_and_extra_padded_slots_do_not_matter(models, name):
    model, params = models[name]
    reference = _embed(model, params, X, MASK)
    garbage = np.random.default_rng(3).normal(0, 1e4, X.shape).astype(np.float32)
    x_garbage = np.where(MASK[..., None], X, garbage)
    np.testing.assert_array_equal(_embed(model, params, x_garbage, MASK), reference)
    # Five more padded slots: the same jets, so the same representation. This fails if padded
    # particles act as senders (interaction), neighbours (edgeconv) or keys (transformer, part).
    x_wide = np.concatenate([X, np.zeros((BATCH, 5, FEATURES), np.float32)], axis=1)
    mask_wide = np.concatenate([MASK, np.zeros((BATCH, 5), bool)], axis=1)
    np.testing.assert_allclose(_embed(model, params, x_wide, mask_wide), reference, rtol=1e-5, atol=1e-6)


def test_representation_depends_on_real_particles(models):
    """Guards the invariance tests against a constant output: moving one real particle matters."""
    for name, (model, params) in models.items():
        shifted = X.copy()
        shifted[:, 0, 1] += 0.3
        assert np.max(np.abs(_embed(model, params, shifted, MASK) - _embed(model, params, X, MASK))) > 1e-4, (
            name
        )


# ----------------------------------------------------------------------------- NumPy references
def _numpy_mlp(layers: dict, h: np.ndarray, activate_final: bool = True) -> np.ndarray:
    for index in range(len(layers)):
        layer = layers[f"layer_{index}"]
        h = h @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
        if activate_final or index < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def _numpy_dense(layer: dict, h: np.ndarray) -> np.ndarray:
    return h @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)


def _naive_interaction_network(params: dict, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The straightforward IN: concatenated pair tensors ``[B, P, P, 2F]`` built by broadcasting."""
    x = np.where(mask[..., None], x, 0.0).astype(np.float64)
    batch, particles, features = x.shape
    receivers = np.broadcast_to(x[:, :, None, :], (batch, particles, particles, features))
    senders = np.broadcast_to(x[:, None, :, :], (batch, particles, particles, features))
    edge_network = params["edge_network"]
    edges = np.maximum(
        _numpy_dense(edge_network["edge_input"], np.concatenate([receivers, senders], -1)), 0.0
    )
    edges = _numpy_mlp(edge_network["edge_mlp"], edges)
    real_pairs = mask[:, :, None] & mask[:, None, :] & ~np.eye(particles, dtype=bool)
    messages = np.einsum("bijc,bij->bic", edges, real_pairs.astype(np.float64))
    nodes = _numpy_mlp(params["node_mlp"], np.concatenate([x, messages], -1))
    pooled = np.einsum("bic,bi->bc", nodes, mask.astype(np.float64))
    return _numpy_dense(params["output"], _numpy_mlp(params["jet_mlp"], pooled))


def test_fast_interaction_network_equals_naive_broadcast_version(models):
    model, params = models["interaction"]
    encoder = params["encoder"]
    assert encoder["edge_network"]["edge_input"]["kernel"].shape == (2 * FEATURES, 64)  # edge 64-32-32
    assert encoder["node_mlp"]["layer_0"]["kernel"].shape == (FEATURES + 32, 64)  # node 64-32-32
    assert encoder["jet_mlp"]["layer_0"]["kernel"].shape == (32, 128)  # jet 128-128-64 -> 64
    assert encoder["output"]["kernel"].shape == (64, 64)
    np.testing.assert_allclose(
        _embed(model, params, X, MASK), _naive_interaction_network(encoder, X, MASK), rtol=2e-5, atol=2e-5
    )


def test_chunked_interaction_network_is_the_same_function(models):
    """pair_chunk_size=3 on a batch of 4: two chunks, the last one padded with empty jets."""
    model, params = models["interaction"]
    chunked = build_model("interaction", encoder_kwargs={"pair_chunk_size": 3})
    shapes = jax.eval_shape(chunked.init, jax.random.key(0), X, MASK)["params"]
    assert jax.tree.structure(shapes) == jax.tree.structure(params)
    np.testing.assert_allclose(
        _embed(chunked, params, X, MASK),
        _naive_interaction_network(params["encoder"], X, MASK),
        rtol=2e-5,
        atol=2e-5,
    )


def _with_edge_input_kernel(params: dict, kernel) -> dict:
    """A copy of the model params with the PairDense (first edge layer) kernel replaced."""
    edge_network = params["encoder"]["edge_network"]
    edge_input = {**edge_network["edge_input"], "kernel": kernel}
    encoder = {**params["encoder"], "edge_network": {**edge_network, "edge_input": edge_input}}
    return {**params, "encoder": encoder}


def test_interaction_network_gradient_matches_finite_differences(models):
    """Directional derivative along a random direction of the PairDense kernel vs central differences
    of the float64 NumPy reference."""
    model, params = models["interaction"]
    kernel = params["encoder"]["edge_network"]["edge_input"]["kernel"]
    direction = np.random.default_rng(4).normal(size=kernel.shape)
    direction = direction / np.linalg.norm(direction)

    def objective(k):
        z = model.apply({"params": _with_edge_input_kernel(params, k)}, X, MASK, method="embed")
        return jnp.sum(jnp.tanh(z))

    analytic = float(jnp.vdot(jax.jit(jax.grad(objective))(kernel), direction.astype(np.float32)))

    def numpy_objective(step):
        shifted = _with_edge_input_kernel(params, np.asarray(kernel, np.float64) + step * direction)
        return np.sum(np.tanh(_naive_interaction_network(shifted["encoder"], X, MASK)))

    eps = 1e-4
    numeric = (numpy_objective(eps) - numpy_objective(-eps)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-3, abs=1e-4)


def test_deepsets_matches_numpy(models):
    model, params = models["deepsets"]
    encoder = params["encoder"]
    per_particle = _numpy_mlp(encoder["particle_mlp"], X.astype(np.float64))
    pooled = np.einsum("bic,bi->bc", per_particle, MASK.astype(np.float64))
    expected = _numpy_dense(encoder["output"], _numpy_mlp(encoder["jet_mlp"], pooled))
    np.testing.assert_allclose(_embed(model, params, X, MASK), expected, rtol=2e-5, atol=2e-5)


def test_masked_pooling_ignores_non_finite_padding():
    values = np.random.default_rng(5).normal(size=(BATCH, PARTICLES, 2)).astype(np.float32)
    values_inf = np.where(MASK[..., None], values, np.inf)
    expected_sum = np.einsum("bic,bi->bc", values, MASK.astype(np.float32))
    np.testing.assert_allclose(masked_sum(values_inf, MASK), expected_sum, rtol=1e-6)
    np.testing.assert_allclose(masked_mean(values_inf, MASK), expected_sum / N_REAL[:, None], rtol=1e-6)
    assert np.all(np.asarray(masked_mean(values, np.zeros_like(MASK))) == 0.0)


# ----------------------------------------------------------------------------- EdgeConv graph
def test_knn_uses_only_real_particles_and_wraps_phi():
    coordinates = np.random.default_rng(6).uniform(-np.pi, np.pi, (BATCH, PARTICLES, 2)).astype(np.float32)
    coordinates[0, 0] = (0.0, 3.1)  # across the phi = +-pi boundary from particle 1: distance 0.083
    coordinates[0, 1] = (0.0, -3.1)
    k = 3
    indices, valid = (np.asarray(a) for a in knn_indices(jnp.asarray(coordinates), jnp.asarray(MASK), k))
    assert indices.shape == valid.shape == (BATCH, PARTICLES, k)
    for b in range(BATCH):
        real = np.flatnonzero(MASK[b])
        for i in range(PARTICLES):
            others = real[real != i]
            deta = coordinates[b, others, 0] - coordinates[b, i, 0]
            dphi = np.angle(np.exp(1j * (coordinates[b, others, 1] - coordinates[b, i, 1])))
            expected = set(others[np.argsort(deta**2 + dphi**2, kind="stable")[:k]])
            assert valid[b, i].sum() == min(k, len(others))
            assert set(indices[b, i][valid[b, i]]) == expected
            assert np.all(MASK[b, indices[b, i][valid[b, i]]])
    assert indices[0, 0, 0] == 1 and indices[0, 1, 0] == 0


# ----------------------------------------------------------------------------- extension
class _MeanPtEncoder(nn.Module):
    """Toy encoder for the registry test: Dense on the masked mean of the particles."""

    output_dim: int = 2

    @nn.compact
    def __call__(self, x, mask):
        return nn.Dense(self.output_dim)(masked_mean(x, mask))


def test_register_encoder_makes_it_buildable():
    register_encoder("test_mean_pt", _MeanPtEncoder, overwrite=True)
    model = build_model("test_mean_pt", encoder_kwargs={"output_dim": 3}, head_dims=())
    params = model.init(jax.random.key(0), X, MASK)["params"]
    assert model.apply({"params": params}, X, MASK, method="embed").shape == (BATCH, 3)
    assert model.apply({"params": params}, X, MASK, method="classify").shape == (BATCH, 1)
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("test_mean_pt", _MeanPtEncoder)
