"""Tiny stand-ins shared by the engine tests: a masked Deep Sets model with the JetModel interface
(``encoder``/``projector``/``head`` parameter subtrees, methods embed/project/classify) and
synthetic relative-feature jets. Kept tiny so every jitted step compiles in well under a second."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from codec_jax.jets import JetSample


class _Encoder(nn.Module):
    width: int = 8

    @nn.compact
    def __call__(self, x, mask):
        h = nn.tanh(nn.Dense(self.width)(x))
        h = jnp.sum(jnp.where(mask[..., None], h, 0.0), axis=1)
        return nn.Dense(self.width)(h)


class ToyJetModel(nn.Module):
    """x [batch, particles, features], mask [batch, particles] -> embedding [batch, width]."""

    width: int = 8
    latent: int = 4

    def setup(self):
        self.encoder = _Encoder(self.width)
        self.projector = nn.Dense(self.latent)
        self.head = nn.Dense(1)

    def embed(self, x, mask):
        return self.encoder(x, mask)

    def project(self, x, mask):
        return self.projector(nn.tanh(self.embed(x, mask)))

    def classify(self, x, mask):
        return self.head(nn.tanh(self.embed(x, mask)))

    def __call__(self, x, mask):
        return self.project(x, mask), self.classify(x, mask)


def toy_batch(seed: int, n: int = 32, particles: int = 6, features: int = 3) -> dict[str, np.ndarray]:
    """Supervised + pretraining arrays for n jets (signal jets have wider particles)."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.5).astype(np.int32)
    n_real = rng.integers(2, particles + 1, size=n)
    mask = np.arange(particles)[None, :] < n_real[:, None]
    x = rng.normal(size=(n, particles, features)).astype(np.float32) * (1.0 + label[:, None, None])
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    x_b = np.where(mask[..., None], x + 0.1 * rng.normal(size=x.shape), 0.0).astype(np.float32)
    mass = (50.0 + 100.0 * rng.random(n)).astype(np.float32)
    return {
        "x": x,
        "mask": mask,
        "target": label.astype(np.float32),
        "weight": np.ones(n, np.float32),
        "label": label,
        "mass": mass,
        "x_a": x,
        "mask_a": mask,
        "x_b": x_b,
        "mask_b": mask,
    }


def toy_sample(seed: int, n: int = 64, particles: int = 8) -> JetSample:
    """A relative-feature JetSample: pT fractions, (eta, phi) around the axis, labels, masses."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.5).astype(np.int32)
    n_real = rng.integers(2, particles + 1, size=n)
    mask = np.arange(particles)[None, :] < n_real[:, None]
    pt_rel = np.sort(rng.exponential(size=(n, particles)), axis=1)[:, ::-1]
    pt_rel = np.where(mask, pt_rel, 0.0)
    pt_rel = pt_rel / pt_rel.sum(axis=1, keepdims=True)
    spread = 0.05 + 0.15 * label[:, None]
    eta = rng.normal(size=(n, particles)) * spread
    phi = rng.normal(size=(n, particles)) * spread
    parts = np.where(mask[..., None], np.stack([pt_rel, eta, phi], axis=-1), 0.0)
    mass = 40.0 + 150.0 * rng.random(n)
    jets = {
        "pt": 500.0 + 500.0 * rng.random(n),
        "eta": rng.uniform(-1.5, 1.5, n),
        "phi": rng.uniform(-np.pi, np.pi, n),
        "mass": mass,
        "msd": 0.9 * mass,
        "label": label,
    }
    return JetSample.from_arrays(parts, mask, ("pt_rel", "eta_rel", "phi_rel"), jets)


#: Overrides turning any engine config into a tiny, fast Deep Sets run (one device, no progress bar).
TINY = [
    "model.encoder=deepsets",
    'model.encoder_kwargs={"particle_dims": [8], "jet_dims": [8], "output_dim": 8}',
    "model.projector_dims=8,4",
    "model.head_dims=8",
    "data.max_particles=8",
    "training.batch_size=32",
    "training.devices=1",
    "training.progress=false",
    "training.keep_checkpoints=3",
]
