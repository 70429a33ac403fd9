"""Training and test sets of the CoDec mass studies (regression and calibration): signal only.

A mass regression or calibration needs the true resonance mass, which QCD jets do not have, so
these sets hold Z' jets only (label 1), from the samples of
:func:`codec_jax.studies.common.codec_samples.raw_samples` (the QCD sample is not generated):

* ``flat`` -- the wide-width Z' rows of the split, weighted flat in the *true* mass over
  ``truth_range`` (:func:`codec_jax.data.flat_signal.flatten_signal`; every jet kept, the
  residual weights in ``weight``);
* ``peaky`` -- the narrow Z' samples (``samples.peaky_masses``) in equal shares, as many jets as
  the flat set of the same split, unit weights (:func:`codec_jax.data.peaky.peaky_sample`);
* ``test`` -- the wide Z' test rows with the true mass in ``truth_range``, weighted flat in it
  (written as ``out_dir/test.root``, true masses unscaled).

No soft-drop-mass window is applied: a regression must work for every jet of a resonance,
including the badly groomed ones. Train and validation sets are written as ROOT files
``out_dir/<set>_<split>.root`` for the training engine. With ``reference_pt > 0`` the files'
``truth_mass`` holds the *boost-scaled* target ``t * reference_pt / pT`` (see
:func:`scale_to_reference_pt`): the engine's particle inputs are relative to the jet
(``pT_i / pT_jet``, angles), so a network sees ``m / pT``, not ``m``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.data.flat_signal import flatten_signal
from codec_jax.data.io import write_root
from codec_jax.data.peaky import peaky_sample
from codec_jax.errors import DataError
from codec_jax.jets import JetSample
from codec_jax.studies.common.codec_samples import CodecSamplesConfig, raw_samples

__all__ = ["MASS_SETS", "MassSets", "mass_sets", "scale_to_reference_pt", "from_reference_pt"]

#: The training sets of the mass studies.
MASS_SETS: tuple[str, ...] = ("flat", "peaky")


@dataclasses.dataclass
class MassSets:
    """files: set -> split (``train``, ``validation``) -> ROOT path, and ``"test"`` -> ``{"test"}``;
    sets: the training sets in memory (true masses unscaled); test: the test jets
    ``[n_test, max_particles, 4]``; summary: JSON-ready sizes and settings."""

    files: dict[str, dict[str, Path]]
    sets: dict[str, dict[str, JetSample]]
    test: JetSample
    summary: dict[str, Any]


def scale_to_reference_pt(sample: JetSample, reference_pt: float) -> JetSample:
    """``sample`` with ``truth_mass`` replaced by ``truth_mass * reference_pt / pt`` (the true
    mass the jet would have at ``reference_pt`` for the same ``m / pT``)."""
    scale = reference_pt / np.maximum(sample.pt.astype(np.float64), 1e-6)
    return sample.replace(truth_mass=(sample.truth_mass * scale).astype(np.float32))


def from_reference_pt(predicted: np.ndarray, pt: np.ndarray, reference_pt: float) -> np.ndarray:
    """Undo :func:`scale_to_reference_pt` on predictions ``[n]``: ``predicted * pt / reference_pt``."""
    return np.asarray(predicted, dtype=np.float64) * np.asarray(pt, dtype=np.float64) / reference_pt


def _peaky_names(samples: CodecSamplesConfig) -> list[str]:
    return [f"narrow_{mass:g}" for mass in samples.peaky_masses]


def mass_sets(
    samples: CodecSamplesConfig,
    out_dir: str | os.PathLike,
    *,
    truth_range: tuple[float, float],
    truth_bins: int,
    truth_fit: str = "histogram",
    reference_pt: float = 0.0,
    progress: bool = True,
) -> MassSets:
    """Generate (or reuse) the wide and narrow Z' samples, build the sets (module docstring) and
    write the training files to ``out_dir``. Deterministic given the arguments.

    Raises:
        DataError: a true-mass bin without jets, or too few narrow Z' jets for the peaky set
            (the message names the settings to change).
    """

    raw = raw_samples(samples, progress=progress, names=["wide", *_peaky_names(samples)])

    def flat(split: str, seed: int) -> JetSample:
        try:
            return flatten_signal(
                seed, raw["wide"][split], mass_range=tuple(truth_range), bins=truth_bins, fit=truth_fit
            )
        except DataError as error:
            raise DataError(
                f"mass sets, {split} rows of the wide Z': {error} (settings truth_bins, samples.n_wide)"
            ) from None

    sets: dict[str, dict[str, JetSample]] = {name: {} for name in MASS_SETS}
    subsampled = {}
    for offset, split in enumerate(("train", "validation")):
        seed = samples.seed + 100 * offset
        flat_set = flat(split, seed)
        narrow = [raw[name][split] for name in _peaky_names(samples)]
        # Equal sizes: the peaky set matches the flat one, unless the narrow samples are too small;
        # then the flat set is cut to a uniform random subset (its weighted spectrum stays flat).
        n_jets = min(len(flat_set), len(narrow) * min(len(sample) for sample in narrow))
        subsampled[split] = n_jets < len(flat_set)
        if subsampled[split]:
            rows = np.random.default_rng(seed + 5).choice(len(flat_set), n_jets, replace=False)
            flat_set = flat_set[np.sort(rows)]
        if n_jets < 1:
            raise DataError(f"mass sets: the {split} rows hold no narrow Z' jets (raise samples.n_peaky)")
        sets["flat"][split] = flat_set
        sets["peaky"][split] = peaky_sample(seed + 7, narrow, n_jets)
    test = flat("test", samples.seed + 300)
    out_dir = Path(out_dir)
    files: dict[str, dict[str, Path]] = {}
    for name, by_split in sets.items():
        files[name] = {}
        for split, sample in by_split.items():
            stored = scale_to_reference_pt(sample, reference_pt) if reference_pt > 0 else sample
            files[name][split] = write_root(stored, out_dir / f"{name}_{split}.root")
    files["test"] = {"test": write_root(test, out_dir / "test.root")}
    summary = {
        "truth_range": list(truth_range),
        "truth_bins": int(truth_bins),
        "truth_fit": truth_fit,
        "reference_pt": float(reference_pt),
        "peaky_masses": [float(m) for m in samples.peaky_masses],
        "sets": {
            name: {split: len(sample) for split, sample in by_split.items()}
            for name, by_split in sets.items()
        },
        "flat_subsampled_to_peaky": subsampled,
        "test": len(test),
        "generated": {name: sum(len(part) for part in by_split.values()) for name, by_split in raw.items()},
    }
    return MassSets(files=files, sets=sets, test=test, summary=summary)
