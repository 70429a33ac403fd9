"""The ONNX conversion of a trained network (the worker of ``codec-jax export``).

The converter is jax2onnx (``to_onnx``), a maintained JAX -> ONNX exporter. It pins an older
orbax-checkpoint than codec_jax uses, so it lives in its own environment (``make export-env``
creates ``.venv-export`` with jax, flax, jax2onnx and onnxruntime, and codec_jax without its
dependencies); :func:`codec_jax.inference.export.export_onnx` prepares the network there and runs
this module as ``python -m codec_jax.models.onnx SPEC_DIR OUT``. It imports nothing but jax, flax,
numpy and :mod:`codec_jax.models`.

``SPEC_DIR`` holds ``spec.json`` (the run's ``model`` config, the feature standardisation
``mean``/``std``, ``max_particles``, ``output`` = ``"score"`` or ``"latent"``, ``opset``) and
``params.npz`` (the parameters, keys ``encoder/dense_0/kernel``...). The exported graph takes the
*raw* relative features, so the standardisation is part of it:

* input ``particles [batch, P, 3]`` float32 -- ``pt_rel, eta_rel, phi_rel`` of the leading P
  constituents, zero-padded;
* input ``mask [batch, P]`` float32 -- 1 for a real constituent, 0 for padding;
* output ``score [batch]`` (the head's output: the logit of a BCE tagger) or ``latent [batch, d]``
  (the encoder's representation, for pretraining runs); the batch size is symbolic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from codec_jax.models.model import build_model

__all__ = ["flatten_params", "unflatten_params", "export_network"]


def flatten_params(params: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"encoder/dense_0/kernel": array, ...}`` from a nested parameter dict."""
    flat: dict[str, np.ndarray] = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) or hasattr(value, "items"):
            flat.update(flatten_params(value, f"{key}/"))
        else:
            flat[key] = np.asarray(value)
    return flat


def unflatten_params(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`flatten_params`."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split("/")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = jnp.asarray(value)
    return nested


def export_network(spec_dir: str | Path, out: str | Path) -> Path:
    """Convert the network described in ``spec_dir`` (see the module docstring) to ONNX at ``out``."""
    from jax2onnx import to_onnx  # only in the export environment

    spec_dir = Path(spec_dir)
    spec = json.loads((spec_dir / "spec.json").read_text())
    with np.load(spec_dir / "params.npz") as stored:
        params = unflatten_params({key: stored[key] for key in stored.files})
    model_config = spec["model"]
    model = build_model(
        model_config["encoder"],
        encoder_kwargs=model_config["encoder_kwargs"],
        projector_dims=model_config["projector_dims"],
        head_dims=model_config["head_dims"],
        n_outputs=model_config["n_outputs"],
    )
    mean = jnp.asarray(spec["mean"], jnp.float32)
    std = jnp.asarray(spec["std"], jnp.float32)
    method = "classify" if spec["output"] == "score" else "embed"

    def network(particles: jax.Array, mask: jax.Array) -> jax.Array:
        real = mask > 0.5
        standardised = jnp.where(real[..., None], (particles - mean) / std, 0.0)
        outputs = model.apply({"params": params}, standardised, real, method=method)
        return outputs[:, 0] if method == "classify" else outputs

    particles = spec["max_particles"]
    to_onnx(
        network,
        [("batch", particles, len(spec["mean"])), ("batch", particles)],
        input_names=["particles", "mask"],
        output_names=[spec["output"]],
        opset=int(spec["opset"]),
        model_name="codec_jax_tagger",
        return_mode="file",
        output_path=str(out),
    )
    return Path(out)


if __name__ == "__main__":
    export_network(sys.argv[1], sys.argv[2])
