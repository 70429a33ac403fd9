"""The samples of the CoDec studies: wide Z', narrow ("peaky") Z' and QCD, split and flattened.

:func:`codec_sets` generates (or reuses from the cache, :func:`~codec_jax.studies.mack.samples.cached_generation`)
a wide-width Z' sample, one narrow Z' sample per mass of ``peaky_masses`` and a QCD sample, all
with the nominal shower; cuts each into seeded train/validation/test rows; and builds, separately
for the training and the validation rows (the test rows are never used for building a set):

* ``flat_1d`` -- wide Z' and QCD resampled to the same flat soft-drop-mass target in
  ``mass_range`` (:func:`codec_jax.data.flat.flatten`, mode ``1d``), residual weights in ``weight``;
* ``flat_2d`` -- the same in (mass, pT) cells (mode ``2d``, ``pt_range``);
* ``peaky`` -- the narrow Z' samples in equal shares (:func:`codec_jax.data.peaky.peaky_sample`)
  against as many QCD jets drawn at random from its natural spectrum, both inside ``mass_range``,
  unit weights, as many signal jets as the ``flat_1d`` set has.

The test sets are the wide Z' test rows inside ``mass_range`` with weights that make their mass
spectrum flat (signal), and the QCD test rows inside ``mass_range`` with unit weights and their
natural, falling mass spectrum (background) -- the spectrum whose sculpting a bump hunt fears.
Every set is written as ROOT files ``out_dir/<set>_<split>.root`` (signal and QCD jets together,
``label`` 1/0), which the training engine reads.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.config import StrictFields
from codec_jax.data.flat import flatten
from codec_jax.data.io import write_root
from codec_jax.data.peaky import peaky_sample
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample, concatenate
from codec_jax.studies.common.generation import SPLITS, cached_generation, split_rows, study_generation_config
from codec_jax.studies.common.sample_files import FILE_READERS, check_file_paths, read_study_file

__all__ = [
    "CodecSamplesConfig",
    "CodecSets",
    "TRAINING_SETS",
    "SCULPTING_SEED_OFFSET",
    "codec_sets",
    "raw_samples",
    "sculpting_generation_config",
    "sculpting_sample",
]

#: The training sets :func:`codec_sets` builds (each with a train and a validation split).
TRAINING_SETS: tuple[str, ...] = ("flat_1d", "flat_2d", "peaky")


@dataclasses.dataclass
class CodecSamplesConfig(StrictFields):
    """What the CoDec studies generate and how the flat and peaky sets are made.

    n_wide, n_qcd: generated wide-width Z' and QCD jets; peaky_masses: narrow Z' masses [GeV],
    n_peaky jets each; seed: generation seed (each sample gets ``seed + 1000 * index``) and the
    seed of splits and resampling; max_particles: constituents kept per jet; mass_range: soft-drop
    mass window [GeV] of every set; mass_bins: flattening cells in mass; pt_range / pt_bins: the pT
    cells of the 2D flattening [GeV]; fit: signal mass-shape model of the bias weights;
    jets_per_cell: target jets per flattening cell (0: the smallest cell count; larger values
    keep more jets, the residual weights then exceed one in the sparse cells);
    min_jets_per_cell: fewest jets a cell may hold; validation_fraction / test_fraction: of every
    generated sample; cache_dir: generated ROOT files (shared with other studies); workers:
    generation processes; generation: further :class:`~codec_jax.data.generate.GenerationConfig`
    options (e.g. ``{"pt_min": 500.0}``); n_sculpting: jets of the dedicated QCD sculpting sample
    (generated with its own seed, ``seed + 100000``, independent of every training and test jet;
    about a third falls in the 40-200 GeV window), 0 for none (then the sculpting metrics use
    the QCD test jets); source: ``"generate"`` (Pythia 8 + FastJet) or a reader of
    :data:`~codec_jax.studies.common.sample_files.FILE_READERS` (``"jetclass2"`` -- CoDec's own
    setting, wide-mass resonances --, ``"jetclass"``, ``"top_tagging"``, ``"jetnet"``,
    ``"root"``) reading the files named in ``files`` (``wide``, ``qcd``, ``narrow_<mass>`` for
    each peaky mass, and ``sculpting`` when n_sculpting > 0), labelled by role and cut to the
    n_* jets of each.
    """

    n_wide: int = 12000
    n_qcd: int = 20000
    peaky_masses: tuple[float, ...] = (100.0,)
    n_peaky: int = 6000
    seed: int = 11
    max_particles: int = 30
    mass_range: tuple[float, float] = (40.0, 200.0)
    mass_bins: int = 16
    pt_range: tuple[float, float] = (400.0, 800.0)
    pt_bins: int = 3
    fit: str = "double_crystalball"
    jets_per_cell: int = 0
    min_jets_per_cell: int = 5
    validation_fraction: float = 0.15
    test_fraction: float = 0.25
    cache_dir: str = "runs/cache"
    workers: int = 1
    generation: dict[str, Any] = dataclasses.field(default_factory=dict)
    n_sculpting: int = 0
    source: str = "generate"
    files: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def smoke(cls, **changes: Any) -> CodecSamplesConfig:
        """The tiny samples shared by the ``smoke`` presets of the CoDec study configs and the
        tests (~1,750 generated jets, ~1 min on one core): checks the pipeline, not the physics."""
        settings = dict(
            n_wide=500,
            n_qcd=1000,
            n_peaky=250,
            mass_bins=4,
            pt_range=(400.0, 700.0),
            pt_bins=2,
            min_jets_per_cell=1,
            validation_fraction=0.2,
        )
        return cls(**{**settings, **changes})


@dataclasses.dataclass
class CodecSets:
    """The sets of a CoDec study.

    files: set name (:data:`TRAINING_SETS`) -> ``{"train", "validation"}`` -> ROOT path, plus
    ``"test"`` -> ``{"test"}``; sets: the same sets in memory (``[n_jets, max_particles, 4]``
    samples, signal and QCD concatenated); raw: generated sample name (``wide``, ``qcd``,
    ``narrow_<mass>``) -> split -> jets (unflattened); test_signal / test_background: the test
    sets (see the module docstring); sculpting: the dedicated QCD sculpting jets inside the mass
    window (unit weights; the QCD test jets when ``samples.n_sculpting`` is 0); summary:
    JSON-ready sizes and flattening settings.
    """

    files: dict[str, dict[str, Path]]
    sets: dict[str, dict[str, JetSample]]
    raw: dict[str, dict[str, JetSample]]
    test_signal: JetSample
    test_background: JetSample
    sculpting: JetSample
    summary: dict[str, Any]


def _generation_configs(samples: CodecSamplesConfig) -> dict[str, Any]:

    plan = [("wide", "zprime", samples.n_wide, {"width_mode": "wide"})]
    plan.append(("qcd", "qcd", samples.n_qcd, {}))
    plan += [
        (f"narrow_{mass:g}", "zprime", samples.n_peaky, {"width_mode": "narrow", "mass": float(mass)})
        for mass in samples.peaky_masses
    ]
    configs = {}
    for index, (name, process, n_jets, extra) in enumerate(plan):
        configs[name] = study_generation_config(
            {**samples.generation, **extra},  # the width mode and mass of the plan win
            process=process,
            n_jets=int(n_jets),
            seed=samples.seed + 1000 * index,
            variant="nominal",
            max_particles=samples.max_particles,
        )
    return configs


def raw_samples(
    samples: CodecSamplesConfig, *, progress: bool = True, names: Sequence[str] | None = None
) -> dict[str, dict[str, JetSample]]:
    """Generate (or reuse) the wide Z', QCD and narrow Z' samples and split each into seeded
    train/validation/test rows; returns name -> split -> jets. ``names`` (``"wide"``, ``"qcd"``,
    ``"narrow_<mass>"``) restricts this to some samples (same files and splits as with all)."""

    if not samples.peaky_masses:
        raise ConfigError("samples.peaky_masses is empty: give at least one narrow Z' mass")
    configs = _generation_configs(samples)
    unknown = sorted(set(names or ()) - set(configs))
    if unknown:
        raise ConfigError(f"unknown CoDec sample(s) {unknown}; expected names from {list(configs)}")
    if samples.source != "generate":
        _check_source(samples, [name for name in configs if names is None or name in names])
    raw = {}
    for index, (name, generation) in enumerate(configs.items()):
        if names is not None and name not in names:
            continue
        if samples.source == "generate":
            sample = cached_generation(
                generation, samples.cache_dir, f"codec_{name}", workers=samples.workers, progress=progress
            )
        else:
            sample = read_study_file(
                samples.source,
                samples.files[name],
                signal=name != "qcd",
                n_jets=generation.n_jets,
                seed=samples.seed + 1000 * index,
                max_particles=samples.max_particles,
            )
        rows = split_rows(
            samples.seed + index, len(sample), samples.validation_fraction, samples.test_fraction
        )
        raw[name] = {split: sample[rows[split]] for split in SPLITS}
    return raw


#: Seed offset of the dedicated sculpting sample (far from the ``seed + 1000 * index`` of the others).
SCULPTING_SEED_OFFSET = 100_000


def sculpting_generation_config(samples: CodecSamplesConfig):
    """The :class:`~codec_jax.data.generate.GenerationConfig` of the dedicated QCD sculpting sample."""
    return study_generation_config(
        dict(samples.generation),
        process="qcd",
        n_jets=int(samples.n_sculpting),
        seed=samples.seed + SCULPTING_SEED_OFFSET,
        variant="nominal",
        max_particles=samples.max_particles,
    )


def sculpting_sample(samples: CodecSamplesConfig, *, progress: bool = True) -> JetSample | None:
    """The dedicated QCD sculpting jets inside ``samples.mass_range`` with unit weights (generated
    once into the cache), or None when ``samples.n_sculpting`` is 0."""
    if samples.n_sculpting <= 0:
        return None
    if samples.source != "generate":
        _check_source(samples, ["sculpting"])
        sample = read_study_file(
            samples.source,
            samples.files["sculpting"],
            signal=False,
            n_jets=samples.n_sculpting,
            seed=samples.seed + SCULPTING_SEED_OFFSET,
            max_particles=samples.max_particles,
        )
    else:
        sample = cached_generation(
            sculpting_generation_config(samples),
            samples.cache_dir,
            "codec_qcd_sculpting",
            workers=samples.workers,
            progress=progress,
        )
    inside = _in_window(sample, samples.mass_range)
    return inside.replace(weight=np.ones(len(inside), np.float32))


def _check_source(samples: CodecSamplesConfig, names: list[str]) -> None:
    if samples.source not in FILE_READERS:
        raise ConfigError(
            f"samples.source={samples.source!r}; expected 'generate' or one of {sorted(FILE_READERS)}"
        )
    check_file_paths(samples.source, samples.files, names, "files")


def _in_window(sample: JetSample, mass_range: tuple[float, float]) -> JetSample:
    lo, hi = mass_range
    return sample[(sample.msd >= lo) & (sample.msd < hi)]


def _flat(samples: CodecSamplesConfig, signal: JetSample, background: JetSample, mode: str, seed: int, **kw):

    try:
        return flatten(
            seed,
            signal,
            background,
            mass_range=tuple(samples.mass_range),
            mode=mode,
            pt_range=tuple(samples.pt_range) if mode == "2d" else None,
            mass_bins=samples.mass_bins,
            pt_bins=samples.pt_bins,
            fit=samples.fit,
            jets_per_cell=kw.get("jets_per_cell", samples.jets_per_cell or None),
            min_jets_per_cell=kw.get("min_jets_per_cell", samples.min_jets_per_cell),
        )
    except DataError as error:
        raise DataError(
            f"CoDec samples, {mode} flattening of the {kw.get('split', 'test')} rows: {error} "
            "(settings samples.n_wide, samples.n_qcd, samples.mass_bins, samples.pt_bins)"
        ) from None


def _peaky(samples: CodecSamplesConfig, raw, split: str, n_signal: int, seed: int) -> JetSample:

    narrow = [raw[f"narrow_{mass:g}"][split] for mass in samples.peaky_masses]
    signal = peaky_sample(seed, narrow, n_signal, mass_range=tuple(samples.mass_range))
    qcd = _in_window(raw["qcd"][split], samples.mass_range)
    if len(qcd) < n_signal:
        raise DataError(
            f"the peaky {split} set needs {n_signal} QCD jets in the mass window, the sample has {len(qcd)}"
        )
    rows = np.sort(np.random.default_rng(seed + 1).choice(len(qcd), n_signal, replace=False))
    background = qcd[rows].replace(weight=np.ones(n_signal, np.float32))
    return concatenate([signal, background])


def codec_sets(
    samples: CodecSamplesConfig, out_dir: str | os.PathLike, *, progress: bool = True
) -> CodecSets:
    """Build every set of the CoDec studies and write them to ``out_dir`` (see the module
    docstring). Deterministic given ``samples``.

    Raises:
        DataError: too few jets for a flattening cell or for the peaky set (the message says
            which knob to turn).
    """

    out_dir = Path(out_dir)
    raw = raw_samples(samples, progress=progress)
    sets: dict[str, dict[str, JetSample]] = {name: {} for name in TRAINING_SETS}
    flat_summary = {}
    for offset, split in enumerate(("train", "validation")):
        seed = samples.seed + 100 * offset
        for mode in ("1d", "2d"):
            flat = _flat(samples, raw["wide"][split], raw["qcd"][split], mode, seed, split=split)
            sets[f"flat_{mode}"][split] = concatenate([flat.signal, flat.background])
            flat_summary[f"flat_{mode}/{split}"] = {
                "jets_per_cell": flat.jets_per_cell,
                "signal": len(flat.signal),
                "background": len(flat.background),
            }
        n_signal = int(np.sum(sets["flat_1d"][split].label == 1))
        sets["peaky"][split] = _peaky(samples, raw, split, n_signal, seed + 7)

    # Test sets: all wide Z' test jets in the window, weighted to a flat spectrum; QCD unweighted.
    big = 10 * max(len(raw["wide"]["test"]), len(raw["qcd"]["test"]))
    flat_test = _flat(
        samples,
        raw["wide"]["test"],
        raw["qcd"]["test"],
        "1d",
        samples.seed + 300,
        jets_per_cell=big,
        min_jets_per_cell=1,
    )
    test_signal = flat_test.signal
    test_signal = test_signal.replace(weight=test_signal.weight / np.mean(test_signal.weight))
    test_background = _in_window(raw["qcd"]["test"], samples.mass_range)
    test_background = test_background.replace(weight=np.ones(len(test_background), np.float32))

    files: dict[str, dict[str, Path]] = {}
    for name, by_split in sets.items():
        files[name] = {
            split: write_root(sample, out_dir / f"{name}_{split}.root") for split, sample in by_split.items()
        }
    files["test"] = {"test": write_root(concatenate([test_signal, test_background]), out_dir / "test.root")}
    sculpting = sculpting_sample(samples, progress=progress)
    if sculpting is None:
        sculpting = test_background
    summary = {
        "generated": {name: sum(len(part) for part in by_split.values()) for name, by_split in raw.items()},
        "sets": {
            name: {
                split: {
                    "signal": int(np.sum(sample.label == 1)),
                    "background": int(np.sum(sample.label == 0)),
                }
                for split, sample in by_split.items()
            }
            for name, by_split in sets.items()
        },
        "flattening": flat_summary,
        "test": {"signal": len(test_signal), "background": len(test_background)},
        "sculpting": {
            "source": "dedicated QCD sample" if samples.n_sculpting > 0 else "QCD test jets",
            "generated": int(samples.n_sculpting),
            "in_mass_window": len(sculpting),
        },
    }
    return CodecSets(
        files=files,
        sets=sets,
        raw=raw,
        test_signal=test_signal,
        test_background=test_background,
        sculpting=sculpting,
        summary=summary,
    )
