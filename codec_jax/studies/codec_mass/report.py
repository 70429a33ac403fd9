"""The report of a CoDec mass study (regression or calibration): ``metrics.json``, ``report.md``
and the plots.

``runs`` is ``{method: {seed: metrics}}``; a method that is not trained (soft-drop mass, a binned
calibration map) has the single key :data:`FIXED` instead of seeds. Per seed,
:func:`response_metrics` holds the per-bin response (:class:`codec_jax.metrics.response.ResponseBins`
as lists) and the bin-averaged summaries over all bins, the bins *away* from the peaky training
masses and those *near* them. :func:`summarize_methods` reduces them over seeds (mean, spread with
``ddof=1``; :func:`codec_jax.studies.mack.report.summarize_values`). Files written::

    metrics.json              config, sets, timings, runs, summary, claims
    report.md                 summary table, per-bin tables (median response, resolution), claims
    <response>_vs_mass.png    median response (or closure) vs true mass, band = spread over seeds
    resolution_vs_mass.png    resolution (half 16-84% range / median) vs true mass
    truth_vs_prediction.png   2D histograms of predicted vs true mass (first seed)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.files import atomic_path
from codec_jax.metrics.response import bins_away_from, response_in_bins, response_summary
from codec_jax.studies.codec_mass.plots import plot_binned_curves, plot_truth_vs_prediction
from codec_jax.studies.common.summary import format_stat, summarize_curves, summarize_values

__all__ = [
    "FIXED",
    "REGIONS",
    "SCALARS",
    "response_metrics",
    "summarize_methods",
    "digest",
    "write_response_report",
]

#: Seed key of a method without training seeds (a baseline).
FIXED = "fixed"
#: Bin selections of the summaries: all bins, away from the peaky masses, near them.
REGIONS: tuple[str, ...] = ("all", "away", "near")
#: Bin-averaged numbers per region (:func:`codec_jax.metrics.response.response_summary`).
SCALARS: tuple[str, ...] = ("mean_abs_bias", "max_abs_bias", "mean_resolution")
_CURVES = ("median", "resolution", "median_error", "resolution_error")


def response_metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    weights: np.ndarray | None,
    edges: Sequence[float],
    peaks: Sequence[float],
    peak_window: float,
) -> dict[str, Any]:
    """Per-bin response of ``predicted / truth`` (``[n]`` arrays) and its summaries:
    ``{"bins": ResponseBins lists, "all"|"away"|"near": response_summary}``."""
    bins = response_in_bins(truth, predicted, edges, weights)
    away = bins_away_from(edges, peaks, peak_window)
    return {
        "bins": bins.to_dict(),
        "all": response_summary(bins),
        "away": response_summary(bins, away),
        "near": response_summary(bins, ~away),
    }


def summarize_methods(runs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per method: the per-bin curves (mean and spread over seeds) and every region's scalars
    summarised over seeds."""
    summary: dict[str, dict[str, Any]] = {}
    for method, seeds in runs.items():
        per_seed = list(seeds.values())
        if not per_seed:
            continue
        entry: dict[str, Any] = {"seeds": [seed for seed in seeds if seed != FIXED]}
        bins = per_seed[0]["bins"]
        entry["edges"] = bins["edges"]
        for name in _CURVES:
            entry[name] = summarize_curves([run["bins"][name] for run in per_seed])
        for region in REGIONS:
            entry[region] = {key: summarize_values([run[region][key] for run in per_seed]) for key in SCALARS}
            entry[region]["n_bins"] = per_seed[0][region]["n_bins"]
        summary[method] = entry
    return summary


def digest(metrics: Mapping[str, Any]) -> list[str]:
    """A plain-text digest of a mass study's metrics: per method the mean abs(r - 1) and the mean
    resolution over all bins and over the bins away from the peaks, then the claims."""
    lines = [
        f"{'method':<18} {'abs(r-1) all':>15} {'resolution all':>15} {'abs(r-1) away':>15} {'res. away':>15}"
    ]
    for method, entry in metrics["summary"].items():
        cells = [
            format_stat(entry[region][key]).replace("±", "+-")
            for region in ("all", "away")
            for key in ("mean_abs_bias", "mean_resolution")
        ]
        lines.append(f"{method:<18} " + " ".join(f"{cell:>15}" for cell in cells))
    words = {True: "holds", False: "does not hold", None: "undecided"}
    lines += [f"[{words[claim['holds']]}] {claim['claim']}" for claim in metrics["claims"]]
    return lines


def _summary_table(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    columns = []
    for region, title in (("all", "all bins"), ("away", "away from peaks"), ("near", "near peaks")):
        columns += [
            (region, "mean_abs_bias", f"mean abs(r-1), {title}"),
            (region, "mean_resolution", f"mean resolution, {title}"),
        ]
    lines = [
        "| method | seeds | " + " | ".join(title for *_, title in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for method, entry in summary.items():
        seeds = len(entry["seeds"]) or "-"
        cells = [format_stat(entry[region][key]) for region, key, _ in columns]
        lines.append(f"| {method} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def _per_bin_table(summary: Mapping[str, Mapping[str, Any]], quantity: str, away: np.ndarray) -> list[str]:
    methods = list(summary)
    edges = np.asarray(next(iter(summary.values()))["edges"], dtype=np.float64)
    lines = ["| true mass [GeV] | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for b in range(len(edges) - 1):
        cells = []
        for method in methods:
            mean, std = summary[method][quantity]["mean"][b], summary[method][quantity]["std"][b]
            error = summary[method][f"{quantity}_error"]["mean"][b]
            text = "n/a" if mean is None else f"{mean:.3f}"
            if mean is not None and std is not None:
                text += f" ± {std:.3f}"
            if mean is not None and error is not None:
                text += f" (stat {error:.3f})"
            cells.append(text)
        marker = "" if away[b] else " *"
        lines.append(f"| {edges[b]:g}-{edges[b + 1]:g}{marker} | " + " | ".join(cells) + " |")
    return lines


def _claim_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    words = {True: "holds", False: "does not hold", None: "undecided"}
    return [f"- **{words[claim['holds']]}** -- {claim['claim']}: {claim['evidence']}" for claim in claims]


def _builtin(value: Any) -> Any:
    """``json.dumps`` fallback for NumPy scalars and arrays."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_response_report(
    out: str | os.PathLike,
    *,
    title: str,
    intro: Sequence[str],
    config: Mapping[str, Any],
    sets: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    summary: Mapping[str, Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]],
    timings: Mapping[str, float],
    peaks: Sequence[float],
    peak_window: float,
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    response_name: str = "response",
    extra: Mapping[str, Any] | None = None,
    extra_figures: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``metrics.json``, ``report.md`` and the plots (module docstring) into ``out``.

    ``intro``: markdown lines describing the study; ``claims``: ``{"claim", "holds" (bool or
    None), "evidence"}`` each; ``panels``: method -> (truth, predicted, weights) arrays of the 2D
    plot; ``response_name``: ``"response"`` or ``"closure"`` (file name and axis label);
    ``extra``: further JSON entries; ``extra_figures``: PNG files the study wrote itself (linked).
    Returns the metrics dict.
    """

    out = Path(out)
    metrics = {
        "config": config,
        "sets": sets,
        "timings_seconds": timings,
        "peaks": list(peaks),
        "peak_window": peak_window,
        "runs": runs,
        "summary": summary,
        "claims": list(claims),
        **(extra or {}),
    }
    # Every number is finite or None by construction; allow_nan=False makes a slip loud.
    text = json.dumps(metrics, indent=1, allow_nan=False, default=_builtin)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(text)
    metrics = json.loads(text)

    edges = np.asarray(next(iter(summary.values()))["edges"], dtype=np.float64)
    centres = (0.5 * (edges[1:] + edges[:-1])).tolist()
    figures = []
    label = (
        "median $m_{pred} / m_{true}$"
        if response_name == "response"
        else "closure: median $m_{cal} / m_{true}$"
    )
    for quantity, name, ylabel, reference in (
        ("median", f"{response_name}_vs_mass.png", label, 1.0),
        ("resolution", "resolution_vs_mass.png", "resolution: (q84 - q16) / (2 median)", None),
    ):
        curves = {
            method: {
                "centres": centres,
                "mean": entry[quantity]["mean"],
                "std": entry[quantity]["std"],
                "error": entry[f"{quantity}_error"]["mean"],
            }
            for method, entry in summary.items()
        }
        plot_binned_curves(curves, out / name, ylabel=ylabel, reference=reference, peaks=peaks)
        figures.append(name)
    plot_truth_vs_prediction(
        panels, out / "truth_vs_prediction.png", value_range=(0.0, 1.25 * float(edges[-1]))
    )
    figures += ["truth_vs_prediction.png", *extra_figures]

    away = bins_away_from(edges, peaks, peak_window)
    lines = [
        f"# {title}",
        "",
        *intro,
        "",
        "## Summary",
        "",
        "r = predicted (or calibrated) mass / true mass per jet. Per true-mass bin: the median of r and the "
        "resolution (q84 - q16) / (2 median); below, their averages over bins (each bin counts once). "
        "Trained methods: mean ± spread over seeds (sample standard deviation).",
        "",
        *_summary_table(summary),
        "",
        "## Claims",
        "",
        *_claim_lines(claims),
        "",
        f"## Median {response_name} per true-mass bin",
        "",
        "Mean ± spread over seeds, (stat: approximate statistical uncertainty of one seed). "
        f"Bins marked * lie within ±{100 * peak_window:g}% of a peaky training mass "
        f"({', '.join(f'{m:g}' for m in peaks)} GeV).",
        "",
        *_per_bin_table(summary, "median", away),
        "",
        "## Resolution per true-mass bin",
        "",
        *_per_bin_table(summary, "resolution", away),
        "",
        "## Sets",
        "",
        "Training sets (jets): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{n} {split}" for split, n in sizes.items())
            for name, sizes in sets.get("sets", {}).items()
        )
        + f". Test: {sets.get('test')} wide Z' jets, weighted flat in the true mass.",
        "",
        "Plots: " + ", ".join(f"[{name}]({name})" for name in figures),
        "",
    ]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    return metrics
