"""Study samples read from files instead of generated: the public sets, JetNet and your own
ROOT ntuples (``samples.source`` of the MACK and CoDec studies).

A study names each sample it needs (``qcd_nominal``, ``wide``, ...) and whether it is signal or
background; :func:`read_study_file` reads the file given for that name with the reader of
``source``, sets the label from the role (the study's signal/background, whatever the file's own
classes), and keeps a seeded random subset of at most ``n_jets`` jets (all of them if fewer).
"""

from __future__ import annotations

import numpy as np

from codec_jax.data.io import read_jetnet, read_root
from codec_jax.data.public_sets import PUBLIC_READERS
from codec_jax.errors import ConfigError
from codec_jax.jets import JetSample

__all__ = ["FILE_READERS", "read_study_file", "check_file_paths"]

#: ``samples.source`` -> reader of one file (``path, max_particles=`` -> JetSample).
FILE_READERS = {"jetnet": read_jetnet, "root": read_root, **PUBLIC_READERS}


def check_file_paths(source: str, paths: dict[str, str], names: list[str], field: str) -> None:
    """Raise :class:`ConfigError` unless ``paths`` holds a file for every name in ``names``."""
    missing = [name for name in names if name not in paths]
    if missing:
        raise ConfigError(
            f"samples.source={source!r} needs samples.{field} paths for {missing} "
            f"(e.g. --set samples.{field}.{missing[0]}=PATH)"
        )


def read_study_file(
    source: str, path: str, *, signal: bool, n_jets: int, seed: int, max_particles: int
) -> JetSample:
    """The jets of ``path`` read with ``FILE_READERS[source]``, labelled ``signal``, a seeded
    subset of at most ``n_jets`` (rows in file order)."""
    sample = FILE_READERS[source](path, max_particles=max_particles)
    sample = sample.replace(label=np.full(len(sample), int(signal), dtype=np.int32))
    if len(sample) > n_jets:
        rows = np.random.default_rng(seed).choice(len(sample), n_jets, replace=False)
        sample = sample[np.sort(rows)]
    print(f"read {len(sample)} jets from {path} ({source})")
    return sample
