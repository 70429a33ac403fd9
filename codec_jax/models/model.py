"""The composite jet model (encoder -> projector / head) and the encoder registry.

:class:`JetModel` holds three separate submodules, so its parameters are the subtrees
``{"encoder": ..., "projector": ..., "head": ...}`` that checkpoints save and restore separately
and optimizers freeze with masks. :func:`build_model` makes one from an encoder name.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from codec_jax.errors import ConfigError
from codec_jax.models.encoders import (
    DeepSets,
    EdgeConv,
    InteractionNetwork,
    JetFeatureMLP,
    MaskedTransformer,
)
from codec_jax.models.heads import PredictionHead, Projector
from codec_jax.models.part import ParT

__all__ = ["JetModel", "build_model", "register_encoder", "encoder_names", "ENCODERS", "standardizes_inputs"]

#: Encoder name -> Flax module class. ``"pfn"`` is an alias of ``"deepsets"``.
ENCODERS: dict[str, type[nn.Module]] = {
    "mlp": JetFeatureMLP,
    "deepsets": DeepSets,
    "pfn": DeepSets,
    "interaction": InteractionNetwork,
    "edgeconv": EdgeConv,
    "transformer": MaskedTransformer,
    "part": ParT,
}


def standardizes_inputs(encoder: str) -> bool:
    """Whether the engine standardises the inputs of ``encoder`` (per feature ``(x - mean) / std``).

    False for encoders that need the physical features (class attribute ``standardize_inputs =
    False``, e.g. ParT, whose pairwise features are logarithms of momenta); their runs store an
    identity standardisation. Unknown names count as True (:func:`build_model` reports them).
    """
    return bool(getattr(ENCODERS.get(encoder), "standardize_inputs", True))


def register_encoder(name: str, encoder_class: type[nn.Module], *, overwrite: bool = False) -> None:
    """Make ``encoder_class`` available to :func:`build_model` as ``name``.

    The class must be a Flax Linen module called as ``encoder(x, mask) -> [batch, d_repr]``.
    """
    if not (isinstance(encoder_class, type) and issubclass(encoder_class, nn.Module)):
        raise TypeError(
            f"register_encoder({name!r}): expected a flax.linen.Module subclass, got {encoder_class!r}"
        )
    if name in ENCODERS and not overwrite:
        raise ValueError(f"encoder {name!r} is already registered (pass overwrite=True to replace it)")
    ENCODERS[name] = encoder_class


def encoder_names() -> tuple[str, ...]:
    """The registered encoder names, sorted."""
    return tuple(sorted(ENCODERS))


class JetModel(nn.Module):
    """Encoder with an optional contrastive projector and an optional prediction head.

    Call through ``model.apply({"params": params}, x, mask, method=...)``:

    * ``embed``    -> ``[batch, d_repr]``, the encoder's representation;
    * ``project``  -> ``[batch, d_proj]``, encoder then projector (contrastive pretraining);
    * ``classify`` -> ``[batch, n_outputs]``, encoder then head (logits, or regression values);
    * ``classify_and_embed`` -> ``(classify, embed)`` from one encoder pass (for losses on both);
    * ``__call__`` -> dict with ``"representation"`` and, when present, ``"projection"`` and
      ``"output"``; it touches every submodule, so ``model.init(key, x, mask)`` creates all params.

    ``x`` is ``[batch, particles, features]`` with ``mask [batch, particles]`` (bool) for particle
    encoders, ``[batch, features]`` with ``mask=None`` for the jet-feature MLP.
    """

    encoder: nn.Module
    projector: nn.Module | None = None
    head: nn.Module | None = None

    def embed(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        return self.encoder(x, mask)

    def project(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        if self.projector is None:
            raise ConfigError(
                "JetModel.project: this model has no projector (built with projector_dims=None)"
            )
        return self.projector(self.encoder(x, mask))

    def classify(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        if self.head is None:
            raise ConfigError("JetModel.classify: this model has no head (built with head_dims=None)")
        return self.head(self.encoder(x, mask))

    def classify_and_embed(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        if self.head is None:
            raise ConfigError(
                "JetModel.classify_and_embed: this model has no head (built with head_dims=None)"
            )
        representation = self.encoder(x, mask)
        return self.head(representation), representation

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> dict[str, jax.Array]:
        representation = self.encoder(x, mask)
        outputs = {"representation": representation}
        if self.projector is not None:
            outputs["projection"] = self.projector(representation)
        if self.head is not None:
            outputs["output"] = self.head(representation)
        return outputs


def build_model(
    encoder: str,
    *,
    encoder_kwargs: dict | None = None,
    projector_dims: Sequence[int] | None = (64, 64),
    head_dims: Sequence[int] | None = (64, 32),
    n_outputs: int = 1,
) -> JetModel:
    """A :class:`JetModel` with the named encoder.

    Args:
        encoder: one of :func:`encoder_names` ("mlp", "deepsets"/"pfn", "interaction", "edgeconv",
            "transformer", or a name added with :func:`register_encoder`).
        encoder_kwargs: fields of the encoder class (e.g. ``{"output_dim": 4}``); defaults are the
            class defaults.
        projector_dims: projector layer widths; None for no projector.
        head_dims: hidden widths of the prediction head (its last layer has ``n_outputs`` units);
            None for no head, ``()`` for a single linear layer.
        n_outputs: outputs of the head (1 for a binary classifier's logit or a mass regression).

    Raises:
        ConfigError: unknown encoder name or encoder field, or a non-positive layer width.
    """
    if encoder not in ENCODERS:
        raise ConfigError(f"unknown encoder {encoder!r}; expected one of {', '.join(encoder_names())}")
    encoder_class = ENCODERS[encoder]
    kwargs = dict(encoder_kwargs or {})
    fields = {
        name for name in getattr(encoder_class, "__dataclass_fields__", {}) if name not in ("parent", "name")
    }
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ConfigError(
            f"encoder_kwargs for {encoder!r}: unknown field(s) {unknown}; {encoder_class.__name__} "
            f"accepts {sorted(fields)}"
        )
    for label, dims in (("projector_dims", projector_dims), ("head_dims", head_dims)):
        if dims is not None and any(int(width) < 1 for width in dims):
            raise ConfigError(f"{label} must be positive layer widths, got {tuple(dims)}")
    if n_outputs < 1:
        raise ConfigError(f"n_outputs must be at least 1, got {n_outputs}")
    if projector_dims is not None and len(projector_dims) == 0:
        raise ConfigError("projector_dims=() is empty; use None for a model without a projector")
    return JetModel(
        encoder=encoder_class(**kwargs),
        projector=None if projector_dims is None else Projector(tuple(projector_dims)),
        head=None if head_dims is None else PredictionHead(tuple(head_dims), n_outputs),
    )
