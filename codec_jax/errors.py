"""Exception types that codec_jax raises for problems a user can fix.

The command line prints these as one line (no traceback unless ``--debug``); library users can
catch :class:`CodecJaxError` to handle all of them. Each message names the file, branch, field or
key at fault and says what was expected.
"""

from __future__ import annotations

__all__ = ["CodecJaxError", "DataError", "ConfigError", "CheckpointError"]


class CodecJaxError(Exception):
    """Base class of all user-facing codec_jax errors."""


class DataError(CodecJaxError, ValueError):
    """A data file or array is missing, malformed, empty or holds NaN/inf."""


class ConfigError(CodecJaxError, ValueError):
    """A configuration file, preset or override is invalid."""


class CheckpointError(CodecJaxError, ValueError):
    """A checkpoint directory is missing or incompatible with the model being restored."""
