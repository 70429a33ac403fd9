"""The report of the CoDec tagging study: ``metrics.json``, ``report.md`` and the plots.

``runs`` is ``{model: {seed: metrics}}`` with the per-tagger metrics of
:func:`codec_jax.studies.codec_tagging.evaluation.tagger_metrics` (the seedless observables N2 and N2_DDT
have the single key ``"fixed"``). Every scalar is summarised over seeds as mean, spread (sample
standard deviation) and per-seed values; curves pointwise. Files written::

    metrics.json                  config, samples, pairs, binning, timings, runs, summary, claims
    report.md                     summary table, 1/JSD floor, binning, sizes, claims
    roc.png                       1/eps_QCD vs eps_Z', all models
    rejection_vs_inv_jsd.png      R vs 1/JSD at the first working point (log-log, floor band)
    qcd_mass_after_cuts.png       QCD mass spectra after cuts at several Z' efficiencies
    qcd_efficiency_vs_mass.png    QCD efficiency vs mass at the first working point
    latent_mass_correlation.png   latent axis vs mass correlation (contrastive models)

The "Claims" section compares the talk's statements with the numbers of this run (computed, never
written in by hand).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.files import atomic_path
from codec_jax.metrics.robustness import ROC_GRID
from codec_jax.studies.codec_tagging import plots as sp
from codec_jax.studies.codec_tagging.evaluation import point_name, summarize_tagger_runs
from codec_jax.studies.common.summary import format_stat, json_safe, summarize_values

__all__ = ["claims", "markdown_table", "write_tagging_report", "digest"]

CONTRASTIVE_FLAT = ("vicreg_flat", "barlow_flat")


def markdown_table(summary: Mapping[str, Mapping[str, Any]], working_points: Sequence[float]) -> str:
    """One row per model: AUC, R and 1/JSD at every working point, and the 1/JSD floor at the
    first one (mean ± spread over seeds)."""
    columns = [("AUC", "auc", 3)]
    columns += [(f"R{point_name('', p)}", point_name("r", p), 1) for p in working_points]
    columns += [(f"1/JSD{point_name('', p)}", point_name("inv_jsd", p), 1) for p in working_points]
    first = point_name("inv_jsd", working_points[0])
    columns.append((f"1/JSD{point_name('', working_points[0])} floor", f"{first}_floor", 1))
    lines = [
        "| model | seeds | " + " | ".join(title for title, _, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for model, entry in summary.items():
        cells = [format_stat(entry.get(key), digits) for _, key, digits in columns]
        lines.append(f"| {model} | {entry['auc']['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(summary: Mapping[str, Any], model: str, key: str) -> float | None:
    return summary.get(model, {}).get(key, {}).get("mean")


def _versus(summary: Mapping[str, Any], a: str, b: str, key: str, digits: int) -> str:
    """``"A (a ± sa) vs B (b ± sb), difference d = n sigma"`` with the spreads over seeds."""
    stat_a, stat_b = summary[a][key], summary[b][key]
    text = f"{a} {format_stat(stat_a, digits)} vs {b} {format_stat(stat_b, digits)}"
    spreads = [stat.get("std") for stat in (stat_a, stat_b)]
    if None not in spreads and stat_a["mean"] is not None and stat_b["mean"] is not None:
        combined = math.hypot(*spreads)
        if combined > 0:
            text += f" (difference {abs(stat_a['mean'] - stat_b['mean']) / combined:.1f} combined spreads)"
    return text


def claims(summary: Mapping[str, Mapping[str, Any]], working_point: float) -> dict[str, dict[str, Any]]:
    """The talk's claims checked on ``summary``: (a) ``flat_vs_peaky`` -- supervised_flat_1d
    sculpts less than supervised_peaky (higher 1/JSD); (b) ``contrastive_best`` -- a flat
    contrastive model has the highest 1/JSD of all trained taggers; (c) ``auc_vs_mode0`` -- AUC of
    the flat contrastive models vs MoDe[0]; (d) ``contrastive_flat_vs_peaky`` -- VICReg on the
    flat set decorrelates more than on the peaky set. Each entry has a ``title``, ``holds`` (bool,
    or None for the AUC comparison, which is a number to read) and a ``text``; claims whose models did not run are left out."""
    key = point_name("inv_jsd", working_point)
    label = f"1/JSD{point_name('', working_point)}"
    result: dict[str, dict[str, Any]] = {}
    mean = lambda model, k=key: _mean(summary, model, k)  # noqa: E731
    if mean("supervised_flat_1d") is not None and mean("supervised_peaky") is not None:
        result["flat_vs_peaky"] = {
            "title": "(a) a supervised tagger on the flat sample sculpts less than on the peaky one",
            "holds": mean("supervised_flat_1d") > mean("supervised_peaky"),
            "text": f"{label}: " + _versus(summary, "supervised_flat_1d", "supervised_peaky", key, 1),
        }
    trained = {m: mean(m) for m in summary if m not in ("n2", "n2_ddt") and mean(m) is not None}
    contrastive = [m for m in CONTRASTIVE_FLAT if m in trained]
    if contrastive and len(trained) > len(contrastive):
        ranking = sorted(trained, key=trained.get, reverse=True)
        ranks = ", ".join(f"{m} #{ranking.index(m) + 1}" for m in contrastive)
        floor = _mean(summary, ranking[0], f"{key}_floor")
        text = f"highest {label} of the {len(ranking)} trained taggers: {ranking[0]} ({trained[ranking[0]]:.1f}); {ranks}"
        if floor is not None:
            text += f"; 1/JSD floor of this test set ≈ {floor:.0f}"
        result["contrastive_best"] = {
            "title": "(b) flat + contrastive decorrelates best",
            "holds": ranking[0] in contrastive,
            "text": text,
        }
    if "mode0_flat" in summary:
        for model in contrastive:
            difference = mean(model, "auc") - mean("mode0_flat", "auc")
            result[f"auc_{model}_vs_mode0"] = {
                "title": f"(c) AUC of {model} close to MoDe[0] on the same flat sample",
                "holds": None,
                "difference": difference,
                "text": "AUC: "
                + _versus(summary, model, "mode0_flat", "auc", 3)
                + f", {model} − mode0_flat = {difference:+.3f} (talk: 0.85 vs 0.86, −0.01)",
            }
    if mean("vicreg_flat") is not None and mean("vicreg_peaky") is not None:
        result["contrastive_flat_vs_peaky"] = {
            "title": "(d) contrastive on the flat sample decorrelates more than on the peaky one",
            "holds": mean("vicreg_flat") > mean("vicreg_peaky"),
            "text": f"{label}: " + _versus(summary, "vicreg_flat", "vicreg_peaky", key, 1),
        }
    return result


def _claim_lines(found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = []
    for claim in found.values():
        verdict = {True: "holds", False: "does not hold", None: "see numbers"}[claim["holds"]]
        lines.append(f"- {claim['title']}: **{verdict}** — {claim['text']}.")
    return lines


def _plots(out: Path, summary: Mapping[str, Any], config: Mapping[str, Any], edges, inclusive) -> list[str]:

    first = config["working_points"][0]
    written = [
        sp.plot_roc_curves(
            {
                m: {"eps_sig": ROC_GRID.tolist(), "eps_bkg": e["curves"]["roc"]["mean"]}
                for m, e in summary.items()
            },
            out / "roc.png",
        ),
        sp.plot_rejection_vs_sculpting(
            {
                m: {"rejection": e[point_name("r", first)], "inv_jsd": e[point_name("inv_jsd", first)]}
                for m, e in summary.items()
            },
            out / "rejection_vs_inv_jsd.png",
            working_point=first,
            floor=_floor(summary, first),
        ),
        sp.plot_mass_spectra_after_cuts(
            {
                m: {
                    x: e["curves"][point_name("spectrum", x)]["mean"] for x in config["spectrum_efficiencies"]
                }
                for m, e in summary.items()
            },
            edges,
            out / "qcd_mass_after_cuts.png",
            inclusive=inclusive,
        ),
        sp.plot_efficiency_vs_mass(
            {m: e["curves"]["eff_vs_mass"] for m, e in summary.items()},
            edges,
            out / "qcd_efficiency_vs_mass.png",
            working_point=first,
        ),
    ]
    latent = {
        m: {
            "pearson": e["latent"]["qcd_pearson"],
            "distance": e["latent"]["qcd_distance"],
            "variance_fraction": e["latent"]["variance_fraction"],
        }
        for m, e in summary.items()
        if "latent" in e
    }
    if latent:
        written.append(sp.plot_latent_mass_correlation(latent, out / "latent_mass_correlation.png"))
    return [Path(path).name for path in written]


def _floor(summary: Mapping[str, Any], working_point: float) -> tuple[float, float]:
    """Median over models of the 1/JSD floor (mean, std) at ``working_point``."""
    key = point_name("inv_jsd", working_point)
    means = [e[f"{key}_floor"]["mean"] for e in summary.values() if e[f"{key}_floor"]["mean"] is not None]
    stds = [
        e[f"{key}_floor_std"]["mean"] for e in summary.values() if e[f"{key}_floor_std"]["mean"] is not None
    ]
    if not means:
        return float("nan"), 0.0
    return float(np.median(means)), float(np.median(stds)) if stds else 0.0


def write_tagging_report(
    out: str | os.PathLike,
    *,
    config: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    samples: Mapping[str, Any],
    pairs: Mapping[str, Any],
    timings: Mapping[str, float],
    bin_edges: np.ndarray,
    inclusive_spectrum: Sequence[float | None],
) -> dict[str, Any]:
    """Write ``metrics.json``, ``report.md`` and the PNG plots into ``out``; returns the metrics.

    ``config`` is the study config as a JSON dict; ``samples`` the set sizes
    (:attr:`~codec_jax.studies.common.codec_samples.CodecSets.summary`); ``pairs`` the settings of the
    same-class pairs per training set; ``bin_edges`` the mass binning [GeV];
    ``inclusive_spectrum`` the normalised QCD test mass spectrum ``[bins]``.
    """

    out = Path(out)
    working_points = list(config["working_points"])
    summary = {model: summarize_tagger_runs(per_seed) for model, per_seed in runs.items() if per_seed}
    found = claims(summary, working_points[0])
    floor_mean, floor_std = _floor(summary, working_points[0])
    edges = [float(edge) for edge in bin_edges]
    binning = {"variable": "msd", "unit": "GeV", "edges": edges, "sample": "QCD test jets, unit weights"}
    per_model_seconds = {}
    for model in summary:
        per_seed: dict[str, float] = {}
        for name, seconds in timings.items():
            seed, run = name.split("/", 1)
            if run in (model, f"pretrain-{model}"):
                per_seed[seed] = per_seed.get(seed, 0.0) + seconds
        if per_seed:
            per_model_seconds[model] = summarize_values(list(per_seed.values()))
    metrics = json_safe(
        {
            "config": config,
            "samples": samples,
            "pairs": pairs,
            "binning": binning,
            "working_points": working_points,
            "inv_jsd_floor": {"working_point": working_points[0], "mean": floor_mean, "std": floor_std},
            "timings_seconds": timings,
            "runs": runs,
            "summary": summary,
            "claims": found,
        }
    )
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, allow_nan=False))
    figures = _plots(out, summary, config, np.asarray(edges), inclusive_spectrum)

    model = config["classifier"]["model"]
    test = samples.get("test", {})
    percent = point_name("", working_points[0])
    lines = [
        f"# {config.get('name', 'codec_tagging')} report",
        "",
        f"Z' vs QCD taggers and their QCD mass sculpting. Seeds: {', '.join(map(str, config['seeds']))}; "
        "values are mean ± spread (sample standard deviation over seeds; N2 and N2_DDT have no seed). "
        f"R{percent} = 1/ε_QCD at ε_Z' = {working_points[0]:g}; 1/JSD = 1 / Jensen-Shannon divergence "
        "(natural log) between the QCD soft-drop-mass histograms passing and failing that cut "
        "(higher = less sculpting).",
        "",
        markdown_table(summary, working_points),
        "",
        f"**1/JSD floor**: a random, mass-independent cut passing as many QCD test jets as a model's "
        f"cut at ε_Z' = {working_points[0]:g} gives 1/JSD{percent} = {floor_mean:.1f} ± {floor_std:.1f} "
        "(median over models; per model in the last column). A tagger within about two spreads of it "
        "shows no sculpting measurable with this test set.",
        "",
        f"**Binning**: {len(edges) - 1} equal bins of the soft-drop mass from {edges[0]:g} to {edges[-1]:g} GeV "
        f"({edges[1] - edges[0]:g} GeV wide) for 1/JSD, the spectra and the efficiencies.",
        "",
        f"**Test jets**: {test.get('signal', '?')} Z' (wide width, weighted to a flat mass spectrum) and "
        f"{test.get('background', '?')} QCD (natural spectrum, unit weights) in the mass window. "
        "Training sets (signal / background jets): "
        + "; ".join(
            f"{name} {parts['train']['signal']}/{parts['train']['background']} train, "
            f"{parts['validation']['signal']}/{parts['validation']['background']} validation"
            for name, parts in samples.get("sets", {}).items()
        )
        + ".",
        "",
        f"**Networks**: encoder `{model['encoder']}` {json.dumps(model['encoder_kwargs'])}, head "
        f"{list(model['head_dims'])} for the supervised taggers; contrastive models: the same encoder "
        f"with a {config['latent_dim']}-d output and one linear {config['latent_dim']}-d projector, "
        f"positives `{config['positives']}` (partner mass: {config['partner_mass']}), VICReg "
        f"{json.dumps(config['pretrain']['loss']['kwargs'])}, Barlow Twins {json.dumps(config['barlow_kwargs'])}, "
        f"head {list(config['head']['model']['head_dims'])} on the {config['head']['finetune']['level']} "
        f"encoder; MoDe weight {config['mode_weight']:g} {json.dumps(config['mode_kwargs'])}, DisCo weight "
        f"{config['disco_weight']:g}.",
        "",
        "## Claims (BOOST 2022 talk) checked on these numbers",
        "",
        *_claim_lines(found),
        "",
        "## Training time per seed [s]",
        "",
        ", ".join(f"{m} {format_stat(stat, 0)}" for m, stat in per_model_seconds.items()) + ".",
        "",
        "Plots: " + ", ".join(f"[{name}]({name})" for name in figures),
        "",
    ]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    return metrics


def _cell(stat: Mapping[str, Any], digits: int) -> str:
    return format_stat(stat, digits).replace("±", "+-")


def digest(metrics: Mapping[str, Any]) -> list[str]:
    """A plain-text digest of a CoDec tagging study's ``metrics``: per model AUC, R and 1/JSD at
    the first working point (mean +- spread over seeds), and the 1/JSD floor."""
    point = metrics["working_points"][0]
    percent = round(100 * point)
    lines = [f"{'model':<20} {'AUC':>15} {f'R{percent}':>15} {f'1/JSD{percent}':>17}"]
    for model, entry in metrics["summary"].items():
        lines.append(
            f"{model:<20} {_cell(entry['auc'], 3):>15} {_cell(entry[f'r{percent}'], 1):>15} "
            f"{_cell(entry[f'inv_jsd{percent}'], 1):>17}"
        )
    floor = metrics["inv_jsd_floor"]
    lines.append(f"1/JSD{percent} floor (random cut): {floor['mean']:.1f} +- {floor['std']:.1f}")
    return lines
