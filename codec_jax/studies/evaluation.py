"""Scores of a trained classifier on test samples, and the nominal-vs-alternate metrics of a study.

:class:`ClassifierScorer` applies the head of a fine-tuned / supervised run (its config and
feature standardisation as stored in its checkpoint) to a :class:`~codec_jax.jets.JetSample`, in
fixed-size batches (one compilation per architecture). :func:`robustness_metrics` turns the scores
on the nominal and alternate test sets into AUCs, MACK's fractional efficiency changes at fixed
working points and over all working points, and ROC curves on a fixed signal-efficiency grid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from codec_jax import metrics
from codec_jax.jets import JetSample

__all__ = [
    "ROC_GRID",
    "ClassifierScorer",
    "read_run_items",
    "metric_name",
    "fractional_change_uncertainty",
    "robustness_metrics",
]

#: Signal efficiencies at which ROC curves are stored (background efficiency interpolated).
ROC_GRID = np.round(np.linspace(0.01, 1.0, 100), 4)


def read_run_items(run_dir: str | os.PathLike) -> dict[str, dict]:
    """The JSON items (``config``, ``normalisation``, ``progress``) of a run's latest checkpoint."""
    from codec_jax.checkpoint import Checkpointer, checkpoint_directory

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
            model = _build(model_config)
            self._apply[key] = jax.jit(
                lambda params, x, mask: model.apply({"params": params}, x, mask, method=method)
            )
        return self._apply[key]

    def _outputs(self, params: Any, items: dict[str, dict], sample: JetSample, method: str) -> np.ndarray:
        """``[n_jets, k]`` float64 outputs of the model's ``method`` on ``sample``."""
        x, mask = _standardised_inputs(items, sample)
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

    def pretrained_spread(self, run_dir: str | os.PathLike, sample: JetSample) -> dict[str, float]:
        """How much of ``sample`` a *pretraining* run's encoder and projector keep: the
        participation ratio (:func:`codec_jax.metrics.participation_ratio`) of the encoder output
        and of the projector output, and the median over projector dimensions of their standard
        deviation (VICReg pushes it to >= 1; ~0 is a collapsed embedding)."""
        from codec_jax.checkpoint import restore_encoder

        items = read_run_items(run_dir)
        x, mask = _standardised_inputs(items, sample[:1])
        params = _build(items["config"]["model"]).init(jax.random.PRNGKey(0), x, mask)["params"]
        for subtree in ("encoder", "projector"):
            params, _ = restore_encoder(run_dir, params, subtree=subtree)
        representation = self._outputs(params, items, sample, "embed")
        projection = self._outputs(params, items, sample, "project")
        return {
            "encoder_participation_ratio": metrics.participation_ratio(representation),
            "projector_participation_ratio": metrics.participation_ratio(projection),
            "projector_median_std": float(np.median(projection.std(axis=0))),
        }


def _standardised_inputs(items: dict[str, dict], sample: JetSample) -> tuple[np.ndarray, np.ndarray | None]:
    """The network inputs of ``sample`` as a stored run saw them: ``x`` (``[n, particles,
    features]`` or ``[n, jet_features]``) standardised with the run's statistics, and the particle
    ``mask [n, particles]`` (``None`` for jet-level inputs)."""
    from codec_jax.data.pipeline import Standardizer, model_inputs

    data = items["config"]["data"]
    arrays, _ = model_inputs(
        sample, inputs=data["inputs"], max_particles=data["max_particles"], jet_features=data["jet_features"]
    )
    mask = arrays.get("mask")
    return Standardizer.from_json(items["normalisation"]).apply(arrays["x"], mask), mask


def _build(model_config: dict) -> Any:
    """The :class:`~codec_jax.models.JetModel` of a stored run config's ``model`` section."""
    from codec_jax.models import build_model

    return build_model(
        model_config["encoder"],
        encoder_kwargs=model_config["encoder_kwargs"],
        projector_dims=model_config["projector_dims"],
        head_dims=model_config["head_dims"],
        n_outputs=model_config["n_outputs"],
    )


def metric_name(kind: str, efficiency: float) -> str:
    """Name of a fractional-change metric: ``kind`` ``"qcd"`` (delta eps_QCD / eps_QCD at a fixed
    Z' efficiency) or ``"zprime"`` (delta eps_Z' / eps_Z' at a fixed QCD efficiency)."""
    fixed = "zprime" if kind == "qcd" else "qcd"
    return f"frac_change_{kind}_at_{fixed}_eff_{efficiency:g}"


def fractional_change_uncertainty(
    scores_nominal: np.ndarray,
    labels_nominal: np.ndarray,
    scores_alternate: np.ndarray,
    labels_alternate: np.ndarray,
    *,
    fixed_label: int,
    efficiency: float,
) -> float | None:
    """Binomial statistical uncertainty of the fractional change r = eps_alt / eps_nom - 1 of the
    class ``1 - fixed_label`` at the threshold keeping ``efficiency`` of the nominal class
    ``fixed_label``: ``r_err = (eps_alt / eps_nom) sqrt(var_alt / eps_alt^2 + var_nom / eps_nom^2)``
    with ``var = eps (1 - eps) / n`` (the threshold's own fluctuation is neglected). ``None`` when
    an efficiency is zero. Inputs ``[n_nominal]`` / ``[n_alternate]``.
    """
    threshold = metrics.threshold_at_efficiency(scores_nominal, labels_nominal, efficiency, label=fixed_label)
    other = 1 - fixed_label
    passed = []
    for scores, labels in ((scores_nominal, labels_nominal), (scores_alternate, labels_alternate)):
        selected = np.asarray(scores)[np.asarray(labels) == other]
        passed.append((float(np.mean(selected >= threshold)), len(selected)))
    (eps_nom, n_nom), (eps_alt, n_alt) = passed
    if eps_nom <= 0 or eps_alt <= 0:
        return None
    relative = np.sqrt((1 - eps_alt) / (eps_alt * n_alt) + (1 - eps_nom) / (eps_nom * n_nom))
    return float(eps_alt / eps_nom * relative)


def robustness_metrics(
    scores_nominal: np.ndarray,
    labels_nominal: np.ndarray,
    scores_alternate: np.ndarray,
    labels_alternate: np.ndarray,
    working_points: Sequence[float] = (0.5, 0.3),
) -> dict[str, Any]:
    """Nominal-vs-alternate metrics of one classifier. Inputs are ``[n_nominal]`` and
    ``[n_alternate]`` scores and labels (1 = Z', 0 = QCD).

    Returns a JSON-ready dict: ``auc_nominal``, ``auc_alternate``; for each working point ``w``,
    :func:`metric_name` ``("qcd", w)`` = (eps_QCD_alt - eps_QCD_nom) / eps_QCD_nom at the threshold
    keeping ``w`` of the nominal Z' jets, and ``("zprime", w)`` the same for Z' at fixed nominal
    QCD efficiency, each with its binomial uncertainty under the name + ``"_stat"``
    (:func:`fractional_change_uncertainty`); ``curves`` -- both changes over the working points 0.05..0.95; ``roc`` --
    eps_QCD (nominal and alternate) at the signal efficiencies :data:`ROC_GRID`.
    """
    result: dict[str, Any] = {
        "auc_nominal": metrics.roc_auc(scores_nominal, labels_nominal),
        "auc_alternate": metrics.roc_auc(scores_alternate, labels_alternate),
    }
    args = (scores_nominal, labels_nominal, scores_alternate, labels_alternate)
    for point in working_points:
        result[metric_name("qcd", point)] = metrics.fractional_efficiency_change(
            *args, fixed="signal", efficiency=point
        )
        result[metric_name("zprime", point)] = metrics.fractional_efficiency_change(
            *args, fixed="background", efficiency=point
        )
        for kind, fixed_label in (("qcd", 1), ("zprime", 0)):
            result[metric_name(kind, point) + "_stat"] = fractional_change_uncertainty(
                *args, fixed_label=fixed_label, efficiency=point
            )
    curves = {}
    for kind, fixed in (("qcd", "signal"), ("zprime", "background")):
        curve = metrics.fractional_efficiency_change_curve(*args, fixed=fixed)
        curves[kind] = {"efficiency": curve.efficiency.tolist(), "change": _nan_to_none(curve.change)}
    result["curves"] = curves
    roc = {"eps_sig": ROC_GRID.tolist()}
    for name, (scores, labels) in (
        ("eps_bkg_nominal", (scores_nominal, labels_nominal)),
        ("eps_bkg_alternate", (scores_alternate, labels_alternate)),
    ):
        eps_bkg, eps_sig, _ = metrics.roc_curve(scores, labels)
        # eps_sig is non-decreasing; take the smallest background efficiency reaching each point.
        index = np.minimum(np.searchsorted(eps_sig, ROC_GRID - 1e-12, side="left"), len(eps_sig) - 1)
        roc[name] = eps_bkg[index].tolist()
    result["roc"] = roc
    return result


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [
        None if not np.isfinite(value) else float(value) for value in np.asarray(values, dtype=np.float64)
    ]
