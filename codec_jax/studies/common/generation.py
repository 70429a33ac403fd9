"""Generated samples of the studies, cached and split: shared by every study.

:func:`cached_generation` generates a sample once into a cache directory and reuses it afterwards:
the file name holds a hash of every generation setting (:func:`cache_path`), so changing any of
them makes a new file and never silently reuses a wrong one. :func:`split_rows` cuts a sample into
seeded train/validation/test rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.data.generate import GenerationConfig, generate_to_file
from codec_jax.data.io import read_root
from codec_jax.errors import ConfigError
from codec_jax.jets import JetSample

__all__ = ["SPLITS", "study_generation_config", "cache_path", "cached_generation", "split_rows"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")


def study_generation_config(generation: dict[str, Any], *, max_particles: int, **settings: Any):
    """A :class:`~codec_jax.data.generate.GenerationConfig` from a study's ``settings`` and its
    ``samples.generation`` options, which may override ``max_particles``; an unknown option, or
    one repeating a setting the study fixes, is a :class:`ConfigError` naming ``samples.generation``."""
    try:
        return GenerationConfig(**settings, **{"max_particles": max_particles, **generation})
    except TypeError as error:
        raise ConfigError(f"samples.generation: {error}") from None


def cache_path(generation, cache_dir: str | os.PathLike, name: str) -> Path:
    """``cache_dir/<name>_<n_jets>_<hash>.root`` for a
    :class:`~codec_jax.data.generate.GenerationConfig`; the hash covers every setting."""
    settings = dataclasses.asdict(generation)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{name}_{generation.n_jets}_{digest}.root"


def cached_generation(
    generation, cache_dir: str | os.PathLike, name: str, *, workers: int = 1, progress: bool = True
) -> JetSample:
    """Generate ``generation`` (a :class:`~codec_jax.data.generate.GenerationConfig`) into the
    cache (:func:`cache_path`), or reuse the cached file; returns the sample read back
    (``[n_jets, max_particles, features]``)."""
    path = cache_path(generation, cache_dir, name)
    if path.is_file():
        print(f"reusing cached sample {path}")
    else:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        print(f"generating {generation.n_jets} jets for {name} -> {path}")
        generate_to_file(generation, path, workers=workers, progress=progress)
    return read_root(path, max_particles=generation.max_particles)


def split_rows(
    seed: int, n_jets: int, validation_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Seeded disjoint row indices ``{"train", "validation", "test"} -> [rows]`` (sorted) that
    together cover ``range(n_jets)``."""
    if not (0 < validation_fraction and 0 < test_fraction and validation_fraction + test_fraction < 1):
        raise ConfigError(
            "samples.validation_fraction and samples.test_fraction must be positive with a sum below 1; "
            f"got {validation_fraction} and {test_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n_jets)
    n_validation = int(round(validation_fraction * n_jets))
    n_test = int(round(test_fraction * n_jets))
    return {
        "test": np.sort(order[:n_test]),
        "validation": np.sort(order[n_test : n_test + n_validation]),
        "train": np.sort(order[n_test + n_validation :]),
    }
