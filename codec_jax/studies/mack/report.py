"""The report of a nominal/alternate study: ``metrics.json``, ``report.md`` and the plots.

``runs`` is ``{model: {seed: metrics}}`` with the per-classifier metrics of
:func:`codec_jax.metrics.robustness_metrics`. :func:`summarize` reduces every scalar
metric over seeds to mean, spread (sample standard deviation, ``ddof=1``; ``None`` for a single
seed) and the per-seed values; curves are averaged pointwise the same way. Files written::

    metrics.json                      config, samples, pairs, timings, runs, summary, analysis, claims
    report.md                         claims, the measurement table (errors), signed changes, pairs
    frontier_<quantity>.png           |delta eps_QCD / eps_QCD| vs AUC: controls, frontier, MACK models
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
from codec_jax.metrics.claims import Claim, claims_markdown
from codec_jax.metrics.robustness import metric_name
from codec_jax.studies.common.summary import format_stat, json_safe, summarize_curves, summarize_values
from codec_jax.studies.mack import plots
from codec_jax.studies.mack.controls import NOISY_PREFIX

__all__ = [
    "summarize",
    "absolute_change",
    "ratios_to_supervised",
    "markdown_table",
    "measurement_table",
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


def _measurement_cell(value: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``value ± error`` of a :class:`~codec_jax.metrics.uncertainty.Measurement` dict."""
    if not value or value.get("value") is None:
        return "n/a"
    if value.get("error") is None:
        return f"{value['value']:.{digits}f}"
    return f"{value['value']:.{digits}f} ± {value['error']:.{digits}f}"


def _quantity_title(quantity: str) -> str:
    point = quantity.rsplit("_", 1)[1]
    if quantity == "auc":
        return "AUC"
    if quantity.startswith("change_qcd_at_zprime_"):
        return f"\\|Δε_QCD/ε_QCD\\| @ ε_Z'={point}"
    return f"\\|Δε_QCD/ε_QCD\\| @ ε_QCD={point}"


def measurement_table(analysis: Mapping[str, Any], quantities: Sequence[str]) -> list[str]:
    """Per model: AUC and the sizes of the changes (value ± error: paired bootstrap over the test
    jets combined with the seed spread), and for the MACK models their distance below the
    controls (positive = more robust than a plain tagger of equal power)."""
    changes = [q for q in analysis["quantities"] if q != "auc"]
    columns = ["AUC", *[_quantity_title(q) for q in changes]]
    columns += [f"below noisy control ({_quantity_title(q)})" for q in quantities]
    columns += [f"below frontier ({_quantity_title(q)})" for q in quantities]
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for model, values in analysis["models"].items():
        distances = analysis["distances"].get(model, {})
        cells = [_measurement_cell(values["auc"])] + [_measurement_cell(values[q]) for q in changes]
        for kind in ("vs_noisy_control", "below_frontier"):
            cells += [
                _measurement_cell(distances.get(kind, {}).get(q)) if distances else "" for q in quantities
            ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _pair_lines(pairs: Mapping[str, Any], quality: Mapping[str, Any]) -> list[str]:
    lines = []
    for kind, entry in pairs.items():
        cutoff = entry.get("cutoff")
        where = (
            "true partners (same hard event)"
            if kind == "oracle"
            else (
                f"EMD below C = {cutoff:.1f} GeV ({entry.get('strategy')} strategy, {entry.get('candidates')} "
                "candidates per nominal jet)"
            )
        )
        differences = entry.get("differences", {})
        emd_q = differences.get("emd_quantiles", {})
        dpt_q = differences.get("relative_pt_difference_quantiles", {})
        lines.append(
            f"- {kind} pairs: {int(entry.get('n_pairs', 0))} pairs, {where}; pair EMD median "
            f"{emd_q.get('50', float('nan')):.1f} GeV (5-95%: {emd_q.get('5', float('nan')):.1f}-"
            f"{emd_q.get('95', float('nan')):.1f}); relative jet-pT difference median "
            f"{dpt_q.get('50', float('nan')):.3f} (95%: {dpt_q.get('95', float('nan')):.3f})."
        )
    if quality:
        lines.append(
            f"- Partner recovery (same-hard-event samples, {quality['n_jets']} QCD training jets, the true "
            f"partner among {quality['candidates']} random candidates): the true partner has the smallest "
            f"EMD for {quality['fraction_true_nearest']:.1%} of the jets (chance {quality['chance_level']:.1%}); "
            f"true-partner EMD median {quality['true_partner_emd_quantiles']['50']:.1f} GeV vs "
            f"{quality['random_candidate_emd_quantiles']['50']:.1f} GeV for random candidates"
            + (
                f"; below C: {quality['true_partner_below_cutoff']:.1%} of true partners, "
                f"{quality['random_candidate_below_cutoff']:.1%} of random candidates (purity "
                f"{quality['purity_below_cutoff']:.1%})."
                if quality.get("purity_below_cutoff") is not None
                else "."
            )
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
    analysis: Mapping[str, Any] | None = None,
    claims: Sequence[Claim] = (),
    pair_quality: Mapping[str, Any] | None = None,
    noise_widths: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json``, ``report.md`` and the PNG plots into ``out``; returns the metrics.

    ``analysis`` / ``claims``: the measurement with errors and the claims
    (:mod:`codec_jax.studies.mack.analysis`); ``pairs``: per pair kind (``emd``, ``oracle``) the
    search settings and pair differences; ``pair_quality``: partner recovery (same-hard-event
    samples); ``pretraining_health``: pretraining name -> seed -> diagnostics (keys of
    :data:`HEALTH_COLUMNS`), reported as a table with a collapse warning; ``noise_widths``: per seed
    and MACK model, the width of its noisy control."""
    out = Path(out)
    summary = summarize(runs)
    analysis = {k: v for k, v in (analysis or {}).items() if not k.startswith("_")}
    pairs = {
        kind: {k: v for k, v in entry.items() if k != "differences"}
        | {"differences": {k: v for k, v in entry.get("differences", {}).items() if not k.startswith("_")}}
        for kind, entry in pairs.items()
    }
    metrics = json_safe(
        {
            "config": config,
            "samples": samples,
            "pairs": pairs,
            "pair_quality": dict(pair_quality or {}),
            "timings_seconds": timings,
            "working_points": list(working_points),
            "runs": runs,
            "summary": summary,
            "pretraining_health": pretraining_health or {},
            "noise_widths": dict(noise_widths or {}),
            "analysis": analysis,
            "claims": [claim.to_dict() for claim in claims],
        }
    )
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, allow_nan=False))

    shown = {model: entry for model, entry in summary.items() if not model.startswith(NOISY_PREFIX)}
    headline = _headline_quantities(analysis, working_points)
    figures = _figures(out, analysis, shown, headline, working_points)
    lines = [
        f"# {config.get('name', 'study')} report",
        "",
        *_claim_lines(claims, analysis),
        *[
            line
            for quantity in headline
            for line in (f"![frontier_{quantity}.png](frontier_{quantity}.png)", "")
        ],
        *_measurement_lines(analysis, headline, config.get("seeds", [])),
        *_signed_change_lines(shown, working_points),
        *_sample_and_pair_lines(samples, pairs, pair_quality or {}),
        *_health_lines(pretraining_health or {}),
    ]
    lines += [
        "",
        "Plots: " + ", ".join(f"[{name}]({name})" for name in figures) + ", per-jet scores: "
        "[test_scores.root](test_scores.root).",
        "",
    ]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    return metrics


def _headline_quantities(analysis: Mapping[str, Any], working_points: Sequence[float]) -> list[str]:
    """The quantities of the headline figures: the change at the first Z' working point and at the
    first matched QCD working point."""
    quantities = [q for q in analysis.get("quantities", []) if q != "auc"]
    return [q for q in quantities if q.endswith(f"_{working_points[0]:g}")][:1] + [
        q for q in quantities if q.startswith("change_qcd_at_qcd_")
    ][:1]


def _figures(out: Path, analysis, shown, headline, working_points) -> dict[str, Path]:
    """Write the report's PNG plots; returns name -> path."""
    figures = {}
    for quantity in headline:
        name = f"frontier_{quantity}.png"
        figures[name] = plots.plot_frontier(
            analysis["models"],
            analysis["frontier"].get(quantity, {}),
            analysis["controls"],
            quantity,
            out / name,
            label=_quantity_title(quantity).replace("\\", ""),
        )
    figures["roc_nominal_alternate.png"] = plots.plot_roc_nominal_alternate(
        {model: entry["roc"] for model, entry in shown.items()}, out / "roc_nominal_alternate.png"
    )
    for kind, fixed in (("qcd", "zprime"), ("zprime", "qcd")):
        name = f"fractional_change_{kind}.png"
        figures[name] = plots.plot_fractional_change_curves(
            {model: entry["curves"][kind] for model, entry in shown.items()},
            out / name,
            changed=kind,
            fixed=fixed,
        )
    key = metric_name("qcd", working_points[0])
    figures["pairing_vs_augmentations.png"] = plots.plot_pretraining_comparison(
        {
            model: {"change": absolute_change(entry, key), "auc": entry["auc_nominal"]}
            for model, entry in shown.items()
            if "/" in model or model == SUPERVISED
        },
        out / "pairing_vs_augmentations.png",
        working_point=working_points[0],
    )
    if (out / "pair_differences.png").is_file():
        figures["pair_differences.png"] = out / "pair_differences.png"
    return figures


def _claim_lines(claims: Sequence[Any], analysis: Mapping[str, Any]) -> list[str]:
    """The claims with the rule they were decided by (none: no section)."""
    if not claims:
        return []
    return [
        "## Claims",
        "",
        f"Rule, fixed before the run: {claims[0].rule}. Errors: paired bootstrap over the test jets "
        f"({analysis.get('bootstrap', {}).get('n_resamples')} resamples, stratified by label, the same "
        "jets for every model) combined with the spread over seeds.",
        "",
        *claims_markdown(claims),
        "",
    ]


def _measurement_lines(
    analysis: Mapping[str, Any], headline: Sequence[str], seeds: Sequence[int]
) -> list[str]:
    """The measurement table with errors (none without an analysis)."""
    if not analysis:
        return []
    return [
        "## Measurement",
        "",
        f"Seeds: {', '.join(map(str, seeds))}. Mean over seeds ± error (test-set bootstrap and seed spread). Sizes of "
        "changes: |Δε/ε| per seed, then the mean; Δε/ε = (alternate - nominal) / nominal efficiency "
        "at a threshold fixed on the nominal test set. Controls (no robustness mechanism): "
        + ", ".join(analysis.get("controls", []))
        + ".",
        "",
        *measurement_table(analysis, headline),
        "",
    ]


def _signed_change_lines(shown: Mapping[str, Any], working_points: Sequence[float]) -> list[str]:
    return [
        "## Signed changes per model",
        "",
        "Mean ± spread (sample standard deviation over seeds, on the one test set; the test-set noise is "
        "in the errors above).",
        "",
        markdown_table(shown, working_points),
        "",
    ]


def _sample_and_pair_lines(
    samples: Mapping[str, Any], pairs: Mapping[str, Any], pair_quality: Mapping[str, Any]
) -> list[str]:
    return [
        "## Samples and pairs",
        "",
        "Samples: " + ", ".join(f"{name} ({int(s['n_jets'])} jets)" for name, s in samples.items()) + ".",
        "",
        *_pair_lines(pairs, pair_quality),
    ]


def digest(metrics: Mapping[str, Any]) -> list[str]:
    """A plain-text digest of a MACK study's ``metrics``: per model the nominal AUC (mean +- spread
    over seeds)."""
    lines = []
    for model, entry in metrics["summary"].items():
        auc = entry["auc_nominal"]
        spread = "" if auc["std"] is None else f" +- {auc['std']:.3f}"
        lines.append(f"{model:<24} AUC nominal {auc['mean']:.3f}{spread} over {auc['n']} seed(s)")
    return lines
