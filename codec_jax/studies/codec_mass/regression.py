"""The CoDec mass-regression study: the resonance mass from the jet constituents, trained on the
flat versus the peaky sample, compared with the soft-drop mass.

CoDec's first use of the flat sample: a network regressing the true resonance mass from the
constituents recovers what grooming (and, for heavy-flavour decays, neutrinos) loses, and trained
on a sample flat in the true mass it does so across the whole mass range, whereas one trained on a
few narrow resonances ("peaky") learns their masses as a prior. For each seed of ``config.seeds``
and each training set of ``config.training_sets`` (:mod:`codec_jax.studies.codec_mass.sets`: ``flat``
-- wide Z' weighted flat in the true mass; ``peaky`` -- narrow Z' at ``samples.peaky_masses``,
same size), a regression (``config.regression``: by default a Deep Sets encoder on the relative
constituents, Huber loss on the log of the mass) is trained from scratch on Z' jets only (QCD
has no true mass) and applied to the wide Z' test jets.

The engine's particle inputs are relative to the jet (``pT_i / pT_jet`` and angles), so they
determine ``m / pT`` rather than ``m``: with ``reference_pt > 0`` (default 500 GeV) the target is
``t * reference_pt / pT`` and the prediction is scaled back by ``pT / reference_pt``
(:func:`codec_jax.studies.codec_mass.sets.scale_to_reference_pt`); ``reference_pt = 0`` regresses ``t``
itself (for jet-level inputs that include pT). Baselines: the soft-drop mass ``msd`` and the
ungroomed jet mass ``mass``. The report (:mod:`codec_jax.studies.codec_mass.report`) gives the
median response and the resolution per true-mass bin, their averages over all bins, over the bins
away from and near the peaky masses, and checks the claims: the flat regression has a better
resolution than the soft-drop mass in every bin, and away from the peaks it is less biased and has
a better resolution than the peaky regression (two separate claims).

Everything is written under ``out``: ``config.json``, ``data/`` (training ROOT files, ``test.root``),
``seed<S>/regression_<set>/`` (engine runs, each with ``scores.npz``), the report. Rerunning the
same config in the same ``out`` reuses every finished run.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax import config as config_lib
from codec_jax.config import StrictFields
from codec_jax.errors import ConfigError
from codec_jax.plots import PlotSettings
from codec_jax.studies.codec_mass.sets import MASS_SETS
from codec_jax.studies.codec_mass.study import (
    FIXED,
    check_mass_study,
    prepare_mass_sets,
    report_mass_study,
    train_mass_models,
)
from codec_jax.studies.common.codec_samples import CodecSamplesConfig
from codec_jax.studies.common.summary import format_stat

__all__ = [
    "BASELINES",
    "CodecRegressionConfig",
    "default_regression_run",
    "regression_samples",
    "regression_claims",
    "run_codec_regression",
]

#: Baseline mass estimates (jet fields) compared with the regressions.
BASELINES: tuple[str, ...] = ("msd", "mass")


def regression_samples() -> CodecSamplesConfig:
    """The samples of the mass studies: the CoDec defaults with three narrow Z' masses, 90, 130 and
    170 GeV -- each at the centre of a 20 GeV report bin, so that every bin of 40-200 GeV is clearly
    near or away from a peak, with interpolation (110, 150 GeV) and extrapolation (below 80 and
    above 180 GeV) between them -- 3,500 jets each, so that the peaky set can match the flat one;
    two generation processes."""
    return CodecSamplesConfig(peaky_masses=(90.0, 130.0, 170.0), n_peaky=3500, workers=2)


def default_regression_run() -> config_lib.Config:
    """The engine template of a regression run: Deep Sets on 30 relative constituents, head
    32 -> 1 predicting the log of the (boost-scaled) true mass, Huber loss (delta 0.1)."""
    return config_lib.Config(
        name="codec_regression",
        model=config_lib.ModelConfig(
            encoder="deepsets",
            encoder_kwargs={"particle_dims": (64, 64, 64), "jet_dims": (64, 64), "output_dim": 32},
            projector_dims=(8,),
            head_dims=(32,),
        ),
        data=config_lib.DataConfig(max_particles=30, inputs="particles", target="truth_mass"),
        loss=config_lib.LossConfig(name="mass_regression", kwargs={"log_mass": True, "huber_delta": 0.1}),
        optimizer=config_lib.OptimizerConfig(learning_rate=3e-3, end_fraction=0.01),
        training=config_lib.TrainingConfig(epochs=60, batch_size=128, patience=0, keep_checkpoints=1),
    )


@dataclasses.dataclass
class CodecRegressionConfig(StrictFields):
    """The whole study.

    samples: generated samples (only the wide and narrow Z' are used; ``peaky_masses`` are the
    peaky set's masses); truth_range / truth_bins: the true-mass window [GeV] and its bins (of the
    flattening and of the report); truth_fit: true-mass shape model of the flattening weights;
    reference_pt: boost scaling of the target [GeV] (module docstring; 0 = none); regression: the
    engine template of a regression run (its data files, seed and name are set per run;
    ``data.target`` must be ``truth_mass`` and ``loss.name`` ``mass_regression``);
    training_sets: which of ``flat``/``peaky``; baselines: which of :data:`BASELINES`; seeds:
    training seeds (the samples are shared); peak_window: bins within +- this fraction of a peaky
    mass count as "near the peaks".
    """

    name: str = "codec_regression"
    study: str = "codec_regression"
    samples: CodecSamplesConfig = dataclasses.field(default_factory=regression_samples)
    truth_range: tuple[float, float] = (40.0, 200.0)
    truth_bins: int = 8
    truth_fit: str = "histogram"
    reference_pt: float = 500.0
    regression: config_lib.Config = dataclasses.field(default_factory=default_regression_run)
    training_sets: tuple[str, ...] = MASS_SETS
    baselines: tuple[str, ...] = BASELINES
    seeds: tuple[int, ...] = (0, 1, 2)
    peak_window: float = 0.05
    plots: PlotSettings = dataclasses.field(default_factory=PlotSettings)


def _compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """``"A ± s vs B ± s"`` and whether the difference exceeds the combined seed spread."""

    text = f"{format_stat(a)} vs {format_stat(b)}"
    spreads = [s for s in (a.get("std"), b.get("std")) if s is not None]
    if spreads and a["mean"] is not None and b["mean"] is not None:
        significant = abs(a["mean"] - b["mean"]) > float(np.sqrt(sum(s**2 for s in spreads)))
        text += " (difference larger than the seed spread)" if significant else " (within the seed spread)"
    return text


def regression_claims(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The study's claims, decided from the seed-averaged summary (see the module docstring)."""
    claims = []
    flat, peaky, msd = (summary.get(name) for name in ("regression_flat", "regression_peaky", "msd"))
    if flat is not None and msd is not None:
        pairs = [
            (f, m)
            for f, m in zip(flat["resolution"]["mean"], msd["resolution"]["mean"])
            if f is not None and m is not None
        ]
        better = sum(f < m for f, m in pairs)
        claims.append(
            {
                "claim": "the flat-trained regression has a better resolution than the soft-drop mass in every true-mass bin",
                "holds": bool(pairs) and better == len(pairs),
                "evidence": f"better in {better} of {len(pairs)} bins; mean resolution "
                + _compare(flat["all"]["mean_resolution"], msd["all"]["mean_resolution"])
                + "; mean abs(median response - 1) "
                + _compare(flat["all"]["mean_abs_bias"], msd["all"]["mean_abs_bias"]),
            }
        )
    if flat is not None and peaky is not None and flat["away"]["n_bins"]:
        for key, what in (
            ("mean_abs_bias", "is less biased (mean abs(r-1))"),
            ("mean_resolution", "has a better mean resolution"),
        ):
            a, b = flat["away"][key], peaky["away"][key]
            claims.append(
                {
                    "claim": f"away from the peaky masses the flat-trained regression {what} than the peaky-trained one",
                    "holds": None if a["mean"] is None or b["mean"] is None else bool(a["mean"] < b["mean"]),
                    "evidence": f"over the {flat['away']['n_bins']} bins away from the peaks, flat vs peaky: "
                    + _compare(a, b),
                }
            )
    return claims


def run_codec_regression(config: CodecRegressionConfig, out: str | os.PathLike) -> dict[str, Any] | None:
    """Run the whole study into ``out`` and write its report; returns the metrics dict (the
    content of ``out/metrics.json``); None on the processes other than
    0 of a multi-host run."""

    check_mass_study(config, config.regression, "regression")
    unknown = sorted(set(config.baselines) - set(BASELINES))
    if unknown:
        raise ConfigError(f"baselines: unknown {unknown}; expected names from {list(BASELINES)}")
    out = Path(out)
    sets, timings = prepare_mass_sets(config, config.regression, out, reference_pt=config.reference_pt)
    predictions, run_timings = train_mass_models(
        config, config.regression, sets, out, prefix="regression", reference_pt=config.reference_pt
    )
    timings.update(run_timings)
    for baseline in config.baselines:
        predictions[baseline] = {FIXED: getattr(sets.test, baseline)}
    peaks = ", ".join(f"{m:g}" for m in config.samples.peaky_masses)
    intro = [
        "Regression of the true Z' mass from the jet constituents (Deep Sets by default), trained on Z' "
        "jets only: `regression_flat` on the wide Z' weighted flat in the true mass, `regression_peaky` "
        f"on narrow Z' at {peaks} GeV (same number of jets), compared with the soft-drop mass `msd` and "
        "the ungroomed jet mass `mass`. Test: wide Z' jets, every jet of the true-mass window (no "
        "soft-drop window), weighted flat in the true mass.",
        "",
        f"The network sees relative constituents, so it predicts m x {config.reference_pt:g} GeV / pT and "
        "the prediction is scaled back by the jet pT."
        if config.reference_pt > 0
        else "The network predicts the true mass directly.",
    ]
    return report_mass_study(config, out, sets, predictions, timings, intro=intro, claims=regression_claims)
