"""ParT: the pairwise interaction features against a NumPy loop, the attention bias at work, the
deprecated transformer name, and a smoke pretraining that learns (set symmetries are checked with
the other encoders in test_models.py)."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from codec_jax import cli
from codec_jax.data.io import write_root
from codec_jax.inference import read_run_items
from codec_jax.models import (
    MaskedTransformer,
    ParT,
    ParticleTransformer,
    build_model,
    pairwise_features,
    standardizes_inputs,
)
from codec_jax.train.loop import read_metrics
from tests.helpers.train_toys import toy_sample


def _numpy_pairwise(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One pair at a time, in float64, straight from the definitions."""
    batch, particles, _ = x.shape
    out = np.zeros((batch, particles, particles, 4))
    for b in range(batch):
        for i in range(particles):
            for j in range(particles):
                if i == j or not (mask[b, i] and mask[b, j]):
                    continue
                pt_i, eta_i, phi_i = map(float, x[b, i])
                pt_j, eta_j, phi_j = map(float, x[b, j])
                deta = eta_i - eta_j
                dphi = (phi_i - phi_j + math.pi) % (2 * math.pi) - math.pi
                delta = math.hypot(deta, dphi)
                kt = min(pt_i, pt_j) * delta
                z = min(pt_i, pt_j) / (pt_i + pt_j)
                m2 = 2 * pt_i * pt_j * (math.cosh(deta) - math.cos(dphi))
                out[b, i, j] = [math.log(delta), math.log(kt), math.log(z), math.log(m2)]
    return out


def _jets(seed: int, batch: int = 3, particles: int = 7):
    rng = np.random.default_rng(seed)
    x = np.stack(
        [
            rng.exponential(0.1, (batch, particles)) + 1e-3,
            rng.normal(0, 0.3, (batch, particles)),
            rng.uniform(-math.pi, math.pi, (batch, particles)),
        ],
        axis=-1,
    ).astype(np.float32)
    mask = np.arange(particles)[None, :] < np.array([7, 4, 2])[:batch, None]
    return x, mask


def test_pairwise_features_match_the_definitions():
    x, mask = _jets(0)
    x[0, 1, 1:], x[0, 2, 1:] = (0.0, 3.1), (0.0, -3.1)  # a pair across phi = pi: dphi wraps to ~0.08
    got = np.asarray(pairwise_features(x, mask))
    np.testing.assert_allclose(got, _numpy_pairwise(x, mask), rtol=2e-4, atol=2e-4)
    assert got[0, 1, 2, 0] < math.log(0.1)  # the wrapped pair is close in phi
    assert np.all(got[~(mask[:, :, None] & mask[:, None, :])] == 0.0)


def test_pair_bias_changes_the_output_and_the_paper_sizes_build():
    """The interaction features reach the output: the same particle embeddings with a different
    pair geometry (a swap of two particles' eta-phi positions changes Delta, kT, m^2) change it."""
    model = ParT(embed_dim=16, num_heads=2, num_layers=1, pair_dims=(8,), output_dim=4)
    x, mask = _jets(1)
    params = model.init(jax.random.key(0), x, mask)
    moved = x.copy()
    moved[0, 0, 1:] += 0.5
    assert np.max(np.abs(model.apply(params, moved, mask) - model.apply(params, x, mask))) > 1e-4
    paper = ParT(
        embed_dim=128, num_heads=8, num_layers=8, num_class_layers=2, mlp_dim=512, pair_dims=(64, 64, 64)
    )
    shapes = jax.eval_shape(paper.init, jax.random.key(0), x, mask)["params"]
    assert sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes)) > 1_000_000
    with pytest.raises(ValueError, match="not divisible"):
        ParT(embed_dim=10, num_heads=4).init(jax.random.key(0), x, mask)


def test_the_old_transformer_name_warns_and_is_the_same_network():
    x, mask = _jets(2)
    with pytest.warns(DeprecationWarning, match="MaskedTransformer"):
        old = ParticleTransformer(embed_dim=16, num_heads=2, num_layers=1, mlp_dim=16, output_dim=4)
    new = MaskedTransformer(embed_dim=16, num_heads=2, num_layers=1, mlp_dim=16, output_dim=4)
    params = new.init(jax.random.key(0), x, mask)
    np.testing.assert_array_equal(old.apply(params, x, mask), new.apply(params, x, mask))
    assert standardizes_inputs("transformer") and not standardizes_inputs("part")


def test_a_smoke_pretraining_with_part_learns(tmp_path):
    write_root(toy_sample(4, n=256, particles=8), tmp_path / "train.root")
    out = tmp_path / "part"
    argv = ["pretrain", "--config", "configs/example_pretrain.py", "--preset", "smoke", "--out", str(out)]
    overrides = [
        "model.encoder=part",
        'model.encoder_kwargs={"embed_dim": 16, "num_heads": 2, "num_layers": 1, "mlp_dim": 32, "pair_dims": [8], "output_dim": 8}',
        "model.projector_dims=16,16",
        "data.max_particles=8",
        f"data.train={tmp_path / 'train.root'}",
        "data.background_only=false",
        "training.epochs=6",
        "training.batch_size=32",
        "training.devices=1",
        "training.progress=false",
    ]
    for override in overrides:
        argv += ["--set", override]
    assert cli.main(argv) == 0
    losses = [line["train/loss"] for line in read_metrics(out / "metrics.jsonl")]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
    # the inputs reach ParT unstandardised: the run stores the identity
    normalisation = read_run_items(out)["normalisation"]
    assert normalisation["mean"] == [0.0, 0.0, 0.0] and normalisation["std"] == [1.0, 1.0, 1.0]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["encoder"] == "part"
    model = build_model("part", encoder_kwargs=config["model"]["encoder_kwargs"], projector_dims=(16, 16))
    assert model.encoder.num_layers == 1
