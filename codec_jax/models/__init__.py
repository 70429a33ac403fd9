"""Networks: particle and jet-feature encoders, projector and heads, and the composite model.

Start with :func:`build_model`; see docs/models.md.
"""

from codec_jax.models.encoders import (
    DeepSets,
    EdgeConv,
    EdgeMessages,
    InteractionNetwork,
    JetFeatureMLP,
    MaskedTransformer,
    ParticleTransformer,
    knn_indices,
)
from codec_jax.models.heads import PredictionHead, Projector
from codec_jax.models.layers import MLP, PairDense, masked_mean, masked_sum, zero_padding
from codec_jax.models.model import (
    ENCODERS,
    JetModel,
    build_model,
    encoder_names,
    register_encoder,
    standardizes_inputs,
)
from codec_jax.models.part import PAIRWISE_FEATURES, ParT, pairwise_features

__all__ = [
    "DeepSets",
    "EdgeConv",
    "EdgeMessages",
    "ENCODERS",
    "InteractionNetwork",
    "JetFeatureMLP",
    "JetModel",
    "MLP",
    "MaskedTransformer",
    "PAIRWISE_FEATURES",
    "ParT",
    "PairDense",
    "ParticleTransformer",
    "PredictionHead",
    "Projector",
    "build_model",
    "encoder_names",
    "knn_indices",
    "masked_mean",
    "masked_sum",
    "pairwise_features",
    "register_encoder",
    "standardizes_inputs",
    "zero_padding",
]
