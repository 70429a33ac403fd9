"""codec_jax: mass-decorrelated (CoDec) and mismodeling-robust (MACK) jet taggers in JAX/Flax."""

from codec_jax.errors import CheckpointError, CodecJaxError, ConfigError, DataError
from codec_jax.jets import JetSample, concatenate

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "CodecJaxError",
    "ConfigError",
    "DataError",
    "JetSample",
    "concatenate",
    "__version__",
]
