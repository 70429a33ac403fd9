"""The report of a nominal/alternate study: ``metrics.json``, ``report.md`` and the plots.

``runs`` is ``{model: {seed: metrics}}`` with the per-classifier metrics of
:func:`codec_jax.studies.common.evaluation.robustness_metrics`. :func:`summarize` reduces every scalar
metric over seeds to mean, spread (sample standard deviation, ``ddof=1``; ``None`` for a single
seed) and the per-seed values; curves are averaged pointwise the same way. Files written::

    metrics.json                      config, samples, pairs, timings, runs, summary
    report.md                         summary table (mean +- spread over seeds) and the claim check
    roc_nominal_alternate.png         ROC per model, nominal (solid) vs alternate (dashed)
    fractional_change_qcd.png         delta eps_QCD / eps_QCD vs Z' efficiency, per model
    fractional_change_zprime.png      delta eps_Z' / eps_Z' vs QCD efficiency, per model
    pairing_vs_augmentations.png      mean |delta eps_QCD / eps_QCD| and AUC per pretraining and level
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codec_jax.files import atomic_path
from codec_jax.metrics.robustness import metric_name
from codec_jax.studies.common.summary import format_stat, json_safe, summarize_curves, summarize_values
from codec_jax.studies.mack import plots

__all__ = [
    "summarize",
    "absolute_change",
    "ratios_to_supervised",
    "markdown_table",
    "write_report",
    "digest",
]

SUPERVISED = "supervised"


def summarize(runs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per model: every scalar metric summarised over seeds (:func:`summarize_values`), and
    ``curves`` / ``roc`` averaged pointwise (:func:`summarize_curves`)."""
    summary: dict[str, dict[str, Any]] = {}
    for model, seeds in runs.items():
        per_seed = list(seeds.values())
        if not per_seed:
            continue
        entry: dict[str, Any] = {}
        for key, value in per_seed[0].items():
            if isinstance(value, (int, float)) or value is None:
                entry[key] = summarize_values([run[key] for run in per_seed])
        entry["curves"] = {
            kind: {
                "efficiency": per_seed[0]["curves"][kind]["efficiency"],
                **summarize_curves([run["curves"][kind]["change"] for run in per_seed]),
            }
            for kind in per_seed[0].get("curves", {})
        }
        if "roc" in per_seed[0]:
            entry["roc"] = {"eps_sig": per_seed[0]["roc"]["eps_sig"]}
            for name in ("eps_bkg_nominal", "eps_bkg_alternate"):
                entry["roc"][name] = summarize_curves([run["roc"][name] for run in per_seed])["mean"]
        summary[model] = entry
    return summary


def markdown_table(summary: Mapping[str, Mapping[str, Any]], working_points: Sequence[float]) -> str:
    """The summary table: one row per model, AUCs and fractional changes (mean ± spread)."""
    columns = [("AUC nominal", "auc_nominal"), ("AUC alternate", "auc_alternate")]
    for point in working_points:
        columns.append((f"Δε_QCD/ε_QCD @ ε_Z'={point:g}", metric_name("qcd", point)))
    for point in working_points:
        columns.append((f"Δε_Z'/ε_Z' @ ε_QCD={point:g}", metric_name("zprime", point)))
    lines = [
        "| model | seeds | " + " | ".join(title for title, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for model, entry in summary.items():
        seeds = entry["auc_nominal"]["n"]
        cells = [format_stat(entry.get(key)) for _, key in columns]
        lines.append(f"| {model} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def absolute_change(entry: Mapping[str, Any], key: str) -> dict[str, Any]:
    """:func:`summarize_values` of the per-seed absolute values of the metric ``key`` (MACK
    compares sizes of changes: seeds with opposite signs must not cancel)."""
    return summarize_values([None if v is None else abs(v) for v in entry[key]["values"]])


def ratios_to_supervised(summary: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, float | None]:
    """Per model, the mean over seeds of ``|metric key|`` divided by the supervised model's (MACK's
    robustness ratio; ``None`` where undefined). Empty without a supervised model or when its
    mean change is zero or undefined."""
    reference = absolute_change(summary[SUPERVISED], key)["mean"] if SUPERVISED in summary else None
    if not reference:
        return {}
    ratios = {}
    for model, entry in summary.items():
        value = absolute_change(entry, key)["mean"]
        ratios[model] = None if value is None else value / reference
    return ratios


def _claim_lines(summary: Mapping[str, Mapping[str, Any]], working_points: Sequence[float]) -> list[str]:
    """Mean |delta eps_QCD / eps_QCD| at the first working point relative to the supervised model."""
    if not working_points:
        return []
    key = metric_name("qcd", working_points[0])
    ratios = ratios_to_supervised(summary, key)
    if not ratios:
        return []
    lines = [
        f"Mean over seeds of |Δε_QCD/ε_QCD| at ε_Z' = {working_points[0]:g}, relative to the supervised "
        "model (MACK's claim: about 0.5 for a frozen MACK encoder; fine-tuning moves it towards 1):",
        "",
    ]
    for model, ratio in ratios.items():
        if model != SUPERVISED and ratio is not None:
            lines.append(f"- {model}: {ratio:.2f}")
    stat = summary[SUPERVISED].get(key + "_stat", {}).get("mean")
    if stat is not None:
        lines += [
            "",
            f"Binomial statistical uncertainty of one seed's Δε_QCD/ε_QCD at ε_Z' = {working_points[0]:g} "
            f"(test-set size; supervised model): ±{stat:.3f}. Differences between models smaller than "
            "this are not significant.",
        ]
    return lines


#: A final VICReg variance term above this (of at most 2) means a collapsed embedding.
COLLAPSE_VARIANCE_TERM = 1.5


#: The per-seed diagnostics of a pretraining reported by :func:`_health_lines` (title, digits).
HEALTH_COLUMNS = {
    "variance_term": (
        "VICReg variance term, last epoch, validation pairs (0: every projector dimension has std >= 1; 2: constant)",
        2,
    ),
    "projector_median_std": ("median std of the projector dimensions", 2),
    "projector_participation_ratio": ("projector participation ratio", 1),
    "encoder_participation_ratio": ("encoder participation ratio (effective dimensions)", 1),
}


def _health_lines(health: Mapping[str, Mapping[str, Mapping[str, float | None]]]) -> list[str]:
    """The pretraining health table (per pretraining, mean ± spread over seeds of each
    :data:`HEALTH_COLUMNS` entry) and a warning for every collapsed pretraining."""
    if not health:
        return []
    lines = [
        "",
        "Pretraining health (spreads and participation ratios on the nominal test jets; a collapsed "
        "embedding makes a frozen encoder look robust because it passes on almost nothing):",
        "",
        "| pretraining | " + " | ".join(title for title, _ in HEALTH_COLUMNS.values()) + " |",
        "|---|" + "---|" * len(HEALTH_COLUMNS),
    ]
    collapsed = []
    for name, per_seed in health.items():
        stats = {
            key: summarize_values([entry.get(key) for entry in per_seed.values()]) for key in HEALTH_COLUMNS
        }
        cells = [format_stat(stats[key], digits) for key, (_, digits) in HEALTH_COLUMNS.items()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        variance = stats["variance_term"]["mean"]
        if variance is not None and variance > COLLAPSE_VARIANCE_TERM:
            collapsed.append(name)
    if collapsed:
        lines.append("")
        lines.append(
            f"**Warning:** {', '.join(collapsed)} collapsed (variance term > {COLLAPSE_VARIANCE_TERM}): "
            "the frozen encoder carries little information, so its robustness is not a sign of a "
            "good representation. See docs/mack.md, 'Why the invariance is averaged'."
        )
    return lines


def write_report(
    out: str | os.PathLike,
    *,
    config: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    samples: Mapping[str, Any],
    pairs: Mapping[str, Any],
    timings: Mapping[str, float],
    working_points: Sequence[float],
    pretraining_health: Mapping[str, Mapping[str, Mapping[str, float | None]]] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json``, ``report.md`` and the PNG plots into ``out``; returns the metrics.

    ``pretraining_health``: pretraining name -> seed -> diagnostics (keys of
    :data:`HEALTH_COLUMNS`: the final VICReg variance term of
    :func:`codec_jax.studies.mack.final_variance_term` and the representation spread of
    :meth:`~codec_jax.studies.common.evaluation.ClassifierScorer.pretrained_spread`); reported as a table
    with a collapse warning."""

    out = Path(out)
    summary = summarize(runs)
    metrics = json_safe(
        {
            "config": config,
            "samples": samples,
            "pairs": pairs,
            "timings_seconds": timings,
            "working_points": list(working_points),
            "runs": runs,
            "summary": summary,
            "pretraining_health": pretraining_health or {},
        }
    )
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, allow_nan=False))

    figures = {
        "roc_nominal_alternate.png": plots.plot_roc_nominal_alternate(
            {model: entry["roc"] for model, entry in summary.items()}, out / "roc_nominal_alternate.png"
        ),
    }
    for kind, fixed in (("qcd", "zprime"), ("zprime", "qcd")):
        name = f"fractional_change_{kind}.png"
        figures[name] = plots.plot_fractional_change_curves(
            {model: entry["curves"][kind] for model, entry in summary.items()},
            out / name,
            changed=kind,
            fixed=fixed,
        )
    if working_points:
        key = metric_name("qcd", working_points[0])
        figures["pairing_vs_augmentations.png"] = plots.plot_pretraining_comparison(
            {
                model: {"change": absolute_change(entry, key), "auc": entry["auc_nominal"]}
                for model, entry in summary.items()
            },
            out / "pairing_vs_augmentations.png",
            working_point=working_points[0],
        )

    lines = [
        f"# {config.get('name', 'study')} report",
        "",
        f"Seeds: {', '.join(map(str, config.get('seeds', [])))}. Values are mean ± spread (sample "
        "standard deviation over seeds; a single seed has no spread). Δε/ε = (alternate - nominal) / "
        "nominal efficiency at a threshold fixed on the nominal test set.",
        "",
        markdown_table(summary, working_points),
        "",
        *_claim_lines(summary, working_points),
        "",
        "Samples: " + ", ".join(f"{name} ({int(s['n_jets'])} jets)" for name, s in samples.items()) + ".",
    ]
    if pairs:
        lines.append(
            f"Pairs: {int(pairs.get('n_pairs', 0))} positive pairs below C = {pairs.get('cutoff', float('nan')):.1f} GeV "
            f"({pairs.get('strategy')} strategy, {pairs.get('candidates')} candidates per nominal jet)."
        )
    lines += _health_lines(pretraining_health or {})
    lines += ["", "Plots: " + ", ".join(f"[{name}]({name})" for name in figures), ""]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    return metrics


def digest(metrics: Mapping[str, Any]) -> list[str]:
    """A plain-text digest of a MACK study's ``metrics``: per model the nominal AUC (mean +- spread
    over seeds)."""
    lines = []
    for model, entry in metrics["summary"].items():
        auc = entry["auc_nominal"]
        spread = "" if auc["std"] is None else f" +- {auc['std']:.3f}"
        lines.append(f"{model:<24} AUC nominal {auc['mean']:.3f}{spread} over {auc['n']} seed(s)")
    return lines
