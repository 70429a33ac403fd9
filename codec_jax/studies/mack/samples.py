"""The four generated samples of a nominal/alternate study, cached, and their train/val/test split.

A study needs Z' (signal) and QCD (background) jets, each generated with the nominal shower and
with an alternate shower/hadronisation variant (:data:`codec_jax.data.pythia_settings.VARIANTS`)
-- or, with ``source="jetnet"``, four local JetNet HDF5 files (MACK's JetNet variant: nominal
q (background) vs W (signal), alternate g vs Z, a class swap standing in for a mismodeling).
:func:`study_samples` generates each sample once into a cache directory and reuses it afterwards:
the file name holds a hash of every generation setting (process, variant, jet count, seed and the
:class:`~codec_jax.data.generate.GenerationConfig` options), so changing any of them makes a new
file and never silently reuses a wrong one. :func:`split_samples` cuts each sample into
train/validation/test rows with a seeded permutation and writes the pieces as ROOT files, which
the training engine reads.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from codec_jax.config import StrictFields
from codec_jax.data.io import write_root
from codec_jax.data.same_events import generate_same_events_to_files, read_same_events
from codec_jax.errors import ConfigError
from codec_jax.jets import JetSample
from codec_jax.studies.common.generation import (
    SPLITS,
    cache_path,
    cached_generation,
    split_rows,
    study_generation_config,
)
from codec_jax.studies.common.sample_files import FILE_READERS, check_file_paths, read_study_file

__all__ = [
    "SamplesConfig",
    "SAMPLE_NAMES",
    "generation_config",
    "cached_sample_path",
    "study_samples",
    "same_event_paths",
    "split_samples",
]

#: The samples of a study: (name, process, nominal?) -- the alternate ones use ``variant``.
SAMPLE_NAMES: tuple[tuple[str, str, bool], ...] = (
    ("zprime_nominal", "zprime", True),
    ("zprime_alternate", "zprime", False),
    ("qcd_nominal", "qcd", True),
    ("qcd_alternate", "qcd", False),
)


@dataclasses.dataclass
class SamplesConfig(StrictFields):
    """Which samples a study generates and how they are split.

    n_jets: jets per sample (each of Z'/QCD x nominal/alternate); alternate_variant: the
    generator variant of the alternate ("data-like") samples; seed: generation seed (each sample
    gets ``seed + 1000 * index``) and split seed; max_particles: constituents kept per jet;
    validation_fraction / test_fraction: of each sample (the rest trains); cache_dir: where
    generated ROOT files are kept (shared between studies and runs); workers: generation
    processes; generation: further :class:`~codec_jax.data.generate.GenerationConfig` options
    (e.g. ``{"mass": 80.0, "pt_min": 500.0}``); source: ``"generate"`` (Pythia 8 + FastJet,
    cached) or ``"jetnet"``: read the JetNet HDF5 files named in ``jetnet`` (sample name ->
    path, the four names of :data:`SAMPLE_NAMES`; ``zprime_*`` are the signal files, ``qcd_*`` the
    background ones), keeping a seeded random subset of ``n_jets`` jets of each (all if fewer);
    or ``"same_events"``: nominal and alternate jets showered and hadronised from the *same*
    hard-scattering events (:mod:`codec_jax.data.same_events`; ``n_jets`` matched pairs per
    process; row ``i`` of the nominal and of the alternate sample are true partners, and both are
    split with the same rows, so the partners stay aligned in every split); or a public set or
    your own ntuples: ``"jetclass"`` (ROOT), ``"jetclass2"`` (parquet), ``"top_tagging"``
    (HDF5) or ``"root"`` (codec_jax's ROOT schema), reading the file named in ``files`` for each
    sample name (:mod:`codec_jax.data.public_sets`; e.g. ``zprime_nominal`` = a JetClass
    ``ZToQQ`` file, ``qcd_nominal`` = a ``ZJetsToNuNu`` file), like ``jetnet``: the label is set
    by the sample name (``zprime_*`` 1, ``qcd_*`` 0) and a seeded subset of ``n_jets`` is kept.
    """

    n_jets: int = 2000
    alternate_variant: str = "fsr_high"
    seed: int = 1
    max_particles: int = 30
    validation_fraction: float = 0.15
    test_fraction: float = 0.25
    cache_dir: str = "runs/cache"
    workers: int = 1
    generation: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "generate"
    jetnet: dict[str, str] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)


def generation_config(samples: SamplesConfig, name: str):
    """The :class:`~codec_jax.data.generate.GenerationConfig` of sample ``name``."""
    for index, (sample_name, process, nominal) in enumerate(SAMPLE_NAMES):
        if sample_name == name:
            return study_generation_config(
                samples.generation,
                process=process,
                n_jets=samples.n_jets,
                seed=samples.seed + 1000 * index,
                variant="nominal" if nominal else samples.alternate_variant,
                max_particles=samples.max_particles,
            )
    raise ConfigError(f"unknown study sample {name!r}; expected one of {[s[0] for s in SAMPLE_NAMES]}")


def cached_sample_path(samples: SamplesConfig, name: str) -> Path:
    """``cache_dir/<name>_<n_jets>_<hash>.root``; the hash covers every generation setting."""
    return cache_path(generation_config(samples, name), samples.cache_dir, name)


def study_samples(samples: SamplesConfig, *, progress: bool = True) -> dict[str, JetSample]:
    """Generate (or reuse from the cache) the four samples, or read them from JetNet files;
    returns name -> sample (``[n_jets, max_particles, features]``)."""
    if samples.source in FILE_READERS:
        return _file_samples(samples)
    if samples.source == "same_events":
        return _same_event_samples(samples, progress=progress)
    if samples.source != "generate":
        raise ConfigError(
            f"samples.source={samples.source!r}; expected 'generate', 'same_events' or one of {sorted(FILE_READERS)}"
        )
    return {
        name: cached_generation(
            generation_config(samples, name),
            samples.cache_dir,
            name,
            workers=samples.workers,
            progress=progress,
        )
        for name, _, _ in SAMPLE_NAMES
    }


def same_event_paths(samples: SamplesConfig, process: str) -> tuple[Path, Path]:
    """The cached nominal and alternate files of one process's same-hard-event samples; the name
    holds the alternate variant and the hash covers every generation setting."""
    generation = generation_config(samples, f"{process}_nominal")
    base = cache_path(generation, samples.cache_dir, f"same_events_{process}_{samples.alternate_variant}")
    return base.with_name(base.stem + "_nominal.root"), base.with_name(base.stem + "_alternate.root")


def _same_event_samples(samples: SamplesConfig, *, progress: bool) -> dict[str, JetSample]:
    """The four samples from same-hard-event generation (generated once, cached)."""
    loaded = {}
    for process in ("zprime", "qcd"):
        nominal_path, alternate_path = same_event_paths(samples, process)
        if nominal_path.is_file() and alternate_path.is_file():
            print(f"reusing cached same-event samples {nominal_path} + {alternate_path.name}")
        else:
            print(f"generating {samples.n_jets} same-event {process} pairs -> {nominal_path}")
            generate_same_events_to_files(
                generation_config(samples, f"{process}_nominal"),
                samples.alternate_variant,
                nominal_path,
                alternate_path,
                workers=samples.workers,
                progress=progress,
            )
        nominal, alternate = read_same_events(
            nominal_path, alternate_path, max_particles=samples.max_particles
        )
        loaded[f"{process}_nominal"], loaded[f"{process}_alternate"] = nominal, alternate
    return {name: loaded[name] for name, _, _ in SAMPLE_NAMES}


def _file_samples(samples: SamplesConfig) -> dict[str, JetSample]:
    """The four samples read from files (``samples.jetnet`` for JetNet, ``samples.files``
    otherwise), labelled by sample name, each a seeded subset of at most ``n_jets`` jets."""
    paths = samples.jetnet if samples.source == "jetnet" else samples.files
    names = [name for name, _, _ in SAMPLE_NAMES]
    check_file_paths(samples.source, paths, names, "jetnet" if samples.source == "jetnet" else "files")
    return {
        name: read_study_file(
            samples.source,
            paths[name],
            signal=process == "zprime",
            n_jets=samples.n_jets,
            seed=samples.seed + 1000 * index,
            max_particles=samples.max_particles,
        )
        for index, (name, process, _) in enumerate(SAMPLE_NAMES)
    }


def split_samples(
    samples: SamplesConfig, loaded: dict[str, JetSample], out_dir: str | os.PathLike
) -> dict[str, dict[str, Path]]:
    """Split every sample and write ``out_dir/<name>_<split>.root``; returns name -> split -> path.

    Each sample is split with its own seeded permutation (``samples.seed`` + its index); with
    ``source="same_events"`` the nominal and the alternate sample of a process share one
    permutation (``samples.seed`` + the index of the nominal one), so partners stay aligned.
    """

    out_dir = Path(out_dir)
    paths: dict[str, dict[str, Path]] = {}
    names = list(loaded)
    for index, (name, sample) in enumerate(loaded.items()):
        if samples.source == "same_events":
            index = names.index(name.replace("_alternate", "_nominal"))
        rows = split_rows(
            samples.seed + index, len(sample), samples.validation_fraction, samples.test_fraction
        )
        paths[name] = {}
        for split in SPLITS:
            if len(rows[split]) == 0:
                raise ConfigError(f"sample {name}: the {split} split is empty; raise samples.n_jets")
            paths[name][split] = write_root(sample[rows[split]], out_dir / f"{name}_{split}.root")
    return paths
