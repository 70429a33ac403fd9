"""Scores of trained runs on test samples.

:class:`ClassifierScorer` applies the head of a fine-tuned / supervised run (its config and
feature standardisation as stored in its checkpoint) to a :class:`~codec_jax.jets.JetSample`, in
fixed-size batches (one compilation per architecture); it also gives the encoder's representation
and, for a pretraining run, how much of a sample its encoder and projector keep.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from codec_jax import metrics
from codec_jax.checkpoint import Checkpointer, checkpoint_directory, restore_encoder
from codec_jax.data.pipeline import Standardizer, model_inputs
from codec_jax.jets import JetSample
from codec_jax.models import build_model

__all__ = ["ClassifierScorer", "read_run_items", "standardised_inputs", "build_run_model"]


def read_run_items(run_dir: str | os.PathLike) -> dict[str, dict]:
    """The JSON items (``config``, ``normalisation``, ``progress``) of a run's latest checkpoint."""

    checkpointer = Checkpointer(checkpoint_directory(run_dir), read_only=True)
    try:
        return checkpointer.read_json()
    finally:
        checkpointer.close()


class ClassifierScorer:
    """Apply trained classifiers to samples (:meth:`score`: logits; :meth:`embed`: the encoder's
    representation); jitted apply functions are cached per architecture and method.

    ``batch_size`` jets per call; the last batch is padded so that every call has the same shape.
    """

    def __init__(self, batch_size: int = 512) -> None:
        self.batch_size = batch_size
        self._apply: dict[str, Any] = {}

    def _apply_fn(self, model_config: dict, method: str = "classify") -> Any:
        key = json.dumps({"model": model_config, "method": method}, sort_keys=True)
        if key not in self._apply:
            model = build_run_model(model_config)
            self._apply[key] = jax.jit(
                lambda params, x, mask: model.apply({"params": params}, x, mask, method=method)
            )
        return self._apply[key]

    def _outputs(self, params: Any, items: dict[str, dict], sample: JetSample, method: str) -> np.ndarray:
        """``[n_jets, k]`` float64 outputs of the model's ``method`` on ``sample``."""
        x, mask = standardised_inputs(items, sample)
        apply = self._apply_fn(items["config"]["model"], method)
        outputs = []
        for start in range(0, len(x), self.batch_size):
            batch_x = x[start : start + self.batch_size]
            batch_mask = None if mask is None else mask[start : start + self.batch_size]
            rows = len(batch_x)
            pad = self.batch_size - rows
            if pad:
                batch_x = np.concatenate([batch_x, np.zeros((pad, *batch_x.shape[1:]), batch_x.dtype)])
                if batch_mask is not None:
                    filler = np.zeros((pad, *batch_mask.shape[1:]), bool)
                    filler[:, 0] = True  # a padded jet with one (zero) particle keeps the encoder finite
                    batch_mask = np.concatenate([batch_mask, filler])
            outputs.append(np.asarray(apply(params, batch_x, batch_mask))[:rows])
        return np.concatenate(outputs).astype(np.float64)

    def score(self, params: Any, items: dict[str, dict], sample: JetSample) -> np.ndarray:
        """Classifier logits ``[n_jets]`` (float64) of ``sample``.

        ``params`` are the run's parameters; ``items`` its checkpoint JSON (:func:`read_run_items`):
        the config (model and input fields) and the standardisation.
        """
        return self._outputs(params, items, sample, "classify")[:, 0]

    def embed(self, params: Any, items: dict[str, dict], sample: JetSample) -> np.ndarray:
        """The encoder's representation ``[n_jets, d_repr]`` (float64) of ``sample`` (for a CoDec
        contrastive model, its latent space); arguments as in :meth:`score`."""
        return self._outputs(params, items, sample, "embed")

    def project(self, params: Any, items: dict[str, dict], sample: JetSample) -> np.ndarray:
        """The projector's output ``[n_jets, d_proj]`` (float64) of ``sample`` -- the space of the
        contrastive loss -- for a pretraining run; arguments as in :meth:`score`."""
        return self._outputs(params, items, sample, "project")

    def pretrained_spread(self, run_dir: str | os.PathLike, sample: JetSample) -> dict[str, float]:
        """How much of ``sample`` a *pretraining* run's encoder and projector keep: the
        participation ratio (:func:`codec_jax.metrics.participation_ratio`) of the encoder output
        and of the projector output, and the median over projector dimensions of their standard
        deviation (VICReg pushes it to >= 1; ~0 is a collapsed embedding)."""

        items = read_run_items(run_dir)
        x, mask = standardised_inputs(items, sample[:1])
        params = build_run_model(items["config"]["model"]).init(jax.random.PRNGKey(0), x, mask)["params"]
        for subtree in ("encoder", "projector"):
            params, _ = restore_encoder(run_dir, params, subtree=subtree)
        representation = self._outputs(params, items, sample, "embed")
        projection = self.project(params, items, sample)
        return {
            "encoder_participation_ratio": metrics.participation_ratio(representation),
            "projector_participation_ratio": metrics.participation_ratio(projection),
            "projector_median_std": float(np.median(projection.std(axis=0))),
        }


def standardised_inputs(items: dict[str, dict], sample: JetSample) -> tuple[np.ndarray, np.ndarray | None]:
    """The network inputs of ``sample`` as a stored run saw them: ``x`` (``[n, particles,
    features]`` or ``[n, jet_features]``) standardised with the run's statistics, and the particle
    ``mask [n, particles]`` (``None`` for jet-level inputs)."""

    data = items["config"]["data"]
    arrays, _ = model_inputs(
        sample, inputs=data["inputs"], max_particles=data["max_particles"], jet_features=data["jet_features"]
    )
    mask = arrays.get("mask")
    return Standardizer.from_json(items["normalisation"]).apply(arrays["x"], mask), mask


def build_run_model(model_config: dict) -> Any:
    """The :class:`~codec_jax.models.JetModel` of a stored run config's ``model`` section."""

    return build_model(
        model_config["encoder"],
        encoder_kwargs=model_config["encoder_kwargs"],
        projector_dims=model_config["projector_dims"],
        head_dims=model_config["head_dims"],
        n_outputs=model_config["n_outputs"],
    )
