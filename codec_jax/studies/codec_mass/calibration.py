"""The CoDec calibration study: a truth-level correction of the soft-drop mass learned on the flat
sample, and its closure versus the true mass.

CoDec's second use of the flat sample: a calibration of the soft-drop mass as a function of
(m_SD, pT) has large statistics at every mass when it is derived on a sample flat in the true
mass, and closes everywhere; derived on a few narrow resonances ("peaky") it pulls every jet
towards their masses and closes only near them. Two calibrations are fitted on each training set
of ``config.training_sets`` (:mod:`codec_jax.studies.codec_mass.sets`; Z' jets only -- QCD has no true
mass, so the calibration is for resonance jets):

* ``map_<set>`` -- a binned map: the weighted median of ``log(t / m_SD)`` in (m_SD, pT) cells,
  interpolated bilinearly (:class:`codec_jax.baselines.mass_calibration.BinnedCalibration`);
* ``mlp_<set>`` -- a small network on the jet features (m_SD, pT) predicting the log of the true
  mass (``config.calibration``, Huber loss), one per seed of ``config.seeds``;

and applied to the wide Z' test jets together with the uncalibrated ``msd``. The closure is the
median of ``m_cal / t`` per true-mass bin (:mod:`codec_jax.studies.codec_mass.report`). Claims
checked: the flat calibrations close within ``closure_tolerance`` in every bin, the peaky ones
close near the peaky masses but not away from them. Only the mass is calibrated: a pT calibration
would need the true jet pT, which the generator does not store.

Everything is written under ``out``: ``config.json``, ``data/`` (training ROOT files, ``test.root``),
``calibration_maps.json``, ``seed<S>/mlp_<set>/`` (engine runs with ``scores.npz``), the report
and ``calibration_maps.png``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax import parallel
from codec_jax.baselines.mass_calibration import BinnedCalibration
from codec_jax.config import StrictFields
from codec_jax.errors import ConfigError
from codec_jax.files import atomic_path
from codec_jax.plots import PlotSettings
from codec_jax.studies.codec_mass.plots import plot_calibration_maps
from codec_jax.studies.codec_mass.regression import regression_samples
from codec_jax.studies.codec_mass.sets import MASS_SETS
from codec_jax.studies.codec_mass.study import (
    FIXED,
    check_mass_study,
    prepare_mass_sets,
    report_mass_study,
    train_mass_models,
)
from codec_jax.studies.common.codec_samples import CodecSamplesConfig

__all__ = [
    "CodecCalibrationConfig",
    "default_calibration_run",
    "calibration_claims",
    "run_codec_calibration",
]


def default_calibration_run() -> config_lib.Config:
    """The engine template of a network calibration: MLP 64-64-64 -> 32 on (m_SD, pT), head 32 -> 1
    predicting the log of the true mass, Huber loss (delta 0.1), 60 epochs."""
    return config_lib.Config(
        name="codec_calibration",
        model=config_lib.ModelConfig(
            encoder="mlp",
            encoder_kwargs={"hidden_dims": (64, 64, 64), "output_dim": 32},
            projector_dims=(8,),
            head_dims=(32,),
        ),
        data=config_lib.DataConfig(inputs="jets", jet_features=("msd", "pt"), target="truth_mass"),
        loss=config_lib.LossConfig(name="mass_regression", kwargs={"log_mass": True, "huber_delta": 0.1}),
        optimizer=config_lib.OptimizerConfig(learning_rate=3e-3, end_fraction=0.01),
        training=config_lib.TrainingConfig(epochs=60, batch_size=128, patience=0, keep_checkpoints=1),
    )


@dataclasses.dataclass
class CodecCalibrationConfig(StrictFields):
    """The whole study.

    samples / truth_range / truth_bins / truth_fit / training_sets / seeds / peak_window: as in
    :class:`~codec_jax.studies.codec_mass.regression.CodecRegressionConfig`; calibration: the engine
    template of the network calibration (jet-level inputs, ``data.target`` ``truth_mass``);
    map_msd_range / map_msd_bins, map_pt_range / map_pt_bins: the cells of the binned map [GeV]
    (jets outside count in the edge cells); map_min_jets: fewest jets of a fitted cell (others copy
    their nearest neighbour); closure_tolerance: allowed ``abs(closure - 1)`` per bin.
    """

    name: str = "codec_calibration"
    study: str = "codec_calibration"
    samples: CodecSamplesConfig = dataclasses.field(default_factory=regression_samples)
    truth_range: tuple[float, float] = (40.0, 200.0)
    truth_bins: int = 8
    truth_fit: str = "histogram"
    calibration: config_lib.Config = dataclasses.field(default_factory=default_calibration_run)
    training_sets: tuple[str, ...] = MASS_SETS
    seeds: tuple[int, ...] = (0, 1, 2)
    map_msd_range: tuple[float, float] = (0.0, 250.0)
    map_msd_bins: int = 25
    map_pt_range: tuple[float, float] = (400.0, 800.0)
    map_pt_bins: int = 4
    map_min_jets: int = 10
    peak_window: float = 0.05
    closure_tolerance: float = 0.05
    plots: PlotSettings = dataclasses.field(default_factory=PlotSettings)


def _fit_maps(config: CodecCalibrationConfig, sets) -> dict[str, Any]:
    """``{"map_<set>": BinnedCalibration}`` fitted on the training split of each set."""

    msd_edges = np.linspace(*config.map_msd_range, config.map_msd_bins + 1)
    pt_edges = np.linspace(*config.map_pt_range, config.map_pt_bins + 1)
    maps = {}
    for name in config.training_sets:
        train = sets.sets[name]["train"]
        maps[f"map_{name}"] = BinnedCalibration.fit(
            train.msd,
            train.pt,
            train.truth_mass,
            msd_edges=msd_edges,
            pt_edges=pt_edges,
            weights=train.weight,
            min_jets=config.map_min_jets,
        )
    return maps


def calibration_claims(summary: dict[str, dict[str, Any]], tolerance: float) -> list[dict[str, Any]]:
    """Closure claims per calibration method, decided from the seed-averaged per-bin medians."""
    claims = []
    for method, entry in summary.items():
        if method == "msd":
            continue
        medians = np.asarray([np.nan if v is None else v for v in entry["median"]["mean"]], dtype=np.float64)
        edges = entry["edges"]
        if not np.isfinite(medians).any():
            continue
        worst = int(np.nanargmax(np.abs(medians - 1.0)))
        closes = int(np.sum(np.abs(medians - 1.0) <= tolerance))
        evidence = (
            f"abs(closure - 1) <= {tolerance:g} in {closes} of {int(np.isfinite(medians).sum())} bins; worst "
            f"{medians[worst]:.3f} at {edges[worst]:g}-{edges[worst + 1]:g} GeV; mean abs(closure - 1) near the "
            f"peaks {_mean(entry['near']['mean_abs_bias'])}, away {_mean(entry['away']['mean_abs_bias'])}"
        )
        if method.endswith("_flat"):
            claims.append(
                {
                    "claim": f"{method} (fitted on the flat sample) closes within ±{tolerance:g} at every mass",
                    "holds": bool(closes == np.isfinite(medians).sum()),
                    "evidence": evidence,
                }
            )
        else:
            near, away = entry["near"]["max_abs_bias"]["mean"], entry["away"]["max_abs_bias"]["mean"]
            holds = None if near is None or away is None else bool(near <= tolerance < away)
            claims.append(
                {
                    "claim": f"{method} closes within ±{tolerance:g} near the peaky masses but not everywhere away from them",
                    "holds": holds,
                    "evidence": evidence,
                }
            )
    return claims


def _mean(stat: dict[str, Any]) -> str:
    return "n/a" if stat["mean"] is None else f"{stat['mean']:.3f}"


def run_codec_calibration(config: CodecCalibrationConfig, out: str | os.PathLike) -> dict[str, Any] | None:
    """Run the whole study into ``out`` and write its report; returns the metrics dict (the
    content of ``out/metrics.json``); None on the processes other than
    0 of a multi-host run."""

    check_mass_study(config, config.calibration, "calibration")
    if config.calibration.data.inputs != "jets":
        raise ConfigError("calibration.data.inputs must be 'jets': the calibration acts on (m_SD, pT)")
    if not config.closure_tolerance > 0:
        raise ConfigError(f"closure_tolerance={config.closure_tolerance}: expected a positive fraction")
    out = Path(out)
    sets, timings = prepare_mass_sets(config, config.calibration, out)
    start = time.perf_counter()
    maps = _fit_maps(config, sets)
    timings["maps"] = time.perf_counter() - start
    maps_json = {name: calibration.to_dict() for name, calibration in maps.items()}
    if parallel.is_main_process():
        with atomic_path(out / "calibration_maps.json") as tmp:
            tmp.write_text(json.dumps(maps_json))
        plot_calibration_maps(maps_json, out / "calibration_maps.png")

    test = sets.test
    predictions: dict[str, dict[str, np.ndarray]] = {"msd": {FIXED: test.msd}}
    for name, calibration in maps.items():
        predictions[name] = {FIXED: calibration.apply(test.msd, test.pt)}
    networks, run_timings = train_mass_models(config, config.calibration, sets, out, prefix="mlp")
    predictions.update(networks)
    timings.update(run_timings)
    peaks = ", ".join(f"{m:g}" for m in config.samples.peaky_masses)
    intro = [
        "Truth-level calibration of the soft-drop mass as a function of (m_SD, pT), fitted on Z' jets only "
        "(QCD jets have no true mass): `map_<set>` -- median log(true / soft-drop mass) in "
        f"{config.map_msd_bins} x {config.map_pt_bins} (m_SD, pT) cells, interpolated; `mlp_<set>` -- a "
        "network on (m_SD, pT) predicting the true mass. `flat`: wide Z' weighted flat in the true mass; "
        f"`peaky`: narrow Z' at {peaks} GeV (same number of jets). `msd`: uncalibrated. Closure = median "
        "of calibrated / true mass per true-mass bin on the wide Z' test jets (weighted flat in the true "
        "mass).",
        "",
        "Only the mass is calibrated: a pT calibration needs the true jet pT, which the generator does not store.",
    ]
    return report_mass_study(
        config,
        out,
        sets,
        predictions,
        timings,
        intro=intro,
        claims=lambda summary: calibration_claims(summary, config.closure_tolerance),
        response_name="closure",
        extra={"calibration_maps": {name: {"filled_cells": int(m.filled.sum())} for name, m in maps.items()}},
        extra_figures=("calibration_maps.png",),
    )
