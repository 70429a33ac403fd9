"""Trained runs applied to new jets: scoring (:mod:`.scoring`, shared with the studies), a run
loaded for inference (:mod:`.trained`) and ``codec-jax predict`` over ROOT files
(:mod:`.predict`)."""

from codec_jax.inference.predict import PredictionSummary, expand_inputs, predict_files
from codec_jax.inference.scoring import ClassifierScorer, read_run_items
from codec_jax.inference.trained import TrainedRun, load_trained_run, run_kind

__all__ = [
    "ClassifierScorer",
    "read_run_items",
    "TrainedRun",
    "load_trained_run",
    "run_kind",
    "PredictionSummary",
    "expand_inputs",
    "predict_files",
]
