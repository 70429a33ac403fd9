"""Compare finished MACK study directories side by side (an investigation of one setting).

Each MACK run directory (``codec-jax run configs/mack.py --out DIR``) holds ``metrics.json`` and
the pretraining histories ``seed<S>/pretrain-<name>/metrics.jsonl``. :func:`compare_mack_runs`
reads several of them, labelled by what was changed (``{"default": "runs/mack",
"cutoff 5%": "runs/mack_q05"}``), and writes into ``out``:

* ``comparison.md`` -- per variant and model: nominal AUC, delta eps_QCD / eps_QCD at the first
  working point (mean +- spread over seeds), the mean |delta eps_QCD / eps_QCD| relative to the
  variant's own supervised model, the single-seed statistical uncertainty, the final VICReg
  variance term of the pretraining (collapse check, 0 = healthy, 2 = constant embedding) and the
  participation ratio of its encoder (when the study recorded it);
* ``comparison.json`` -- the same numbers;
* ``variance_term_history.png`` and ``auc_vs_robustness.png``
  (:mod:`codec_jax.studies.mack.plots`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.errors import CodecJaxError
from codec_jax.files import atomic_path
from codec_jax.metrics.robustness import metric_name
from codec_jax.studies.common.summary import format_stat, json_safe, summarize_values
from codec_jax.studies.mack.config import SUPERVISED
from codec_jax.studies.mack.plots import plot_auc_vs_robustness, plot_variance_history
from codec_jax.studies.mack.report import absolute_change, ratios_to_supervised
from codec_jax.studies.mack.study import variance_term_history

__all__ = ["DEFAULT_MODELS", "load_variant", "variance_histories", "compare_mack_runs"]

#: The models compared by default: the MACK encoder frozen and fully fine-tuned, and supervised.
DEFAULT_MODELS = ("emd_pairs/frozen", "emd_pairs/full", SUPERVISED)


def load_variant(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``metrics.json`` of a finished MACK study directory (a clear error if it is missing)."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise CodecJaxError(f"{path}: no metrics.json -- is {run_dir} a finished MACK study directory?")
    metrics = json.loads(path.read_text())
    if "summary" not in metrics or "working_points" not in metrics:
        raise CodecJaxError(f"{path}: not a MACK metrics file (no 'summary' / 'working_points')")
    return metrics


def variance_histories(run_dir: str | os.PathLike, pretraining: str = "emd_pairs") -> np.ndarray:
    """``[seeds, epochs]`` validation VICReg variance term per epoch of ``pretraining``
    (seeds with fewer epochs are padded with NaN); ``[0, 0]`` if none was logged."""
    rows = [
        [np.nan if value is None else value for value in variance_term_history(directory)]
        for directory in sorted(Path(run_dir).glob(f"seed*/pretrain-{pretraining}"))
    ]
    if not rows:
        return np.zeros((0, 0))
    width = max(len(row) for row in rows)
    return np.array([row + [np.nan] * (width - len(row)) for row in rows], dtype=np.float64)


def _variant_rows(metrics: Mapping[str, Any], models: Sequence[str]) -> dict[str, dict[str, Any]]:
    point = metrics["working_points"][0]
    key = metric_name("qcd", point)
    summary = metrics["summary"]
    ratios = ratios_to_supervised(summary, key)
    rows = {}
    for model in models:
        if model not in summary:
            continue
        entry = summary[model]
        rows[model] = {
            "auc_nominal": entry["auc_nominal"],
            "change": entry[key],
            "abs_change": absolute_change(entry, key),
            "ratio_to_supervised": ratios.get(model),
            "stat": entry.get(key + "_stat", {}).get("mean"),
        }
    return rows


def compare_mack_runs(
    variants: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    models: Sequence[str] = DEFAULT_MODELS,
    pretraining: str = "emd_pairs",
) -> dict[str, Any]:
    """Write the comparison of the labelled MACK study directories ``variants`` into ``out``
    (see the module docstring); returns the content of ``comparison.json``."""

    if not variants:
        raise CodecJaxError("compare_mack_runs: no study directories given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = {label: load_variant(path) for label, path in variants.items()}
    points = {label: metrics["working_points"][0] for label, metrics in loaded.items()}
    if len(set(points.values())) > 1:
        raise CodecJaxError(f"compare_mack_runs: the studies use different first working points {points}")
    histories = {label: variance_histories(path, pretraining) for label, path in variants.items()}
    result: dict[str, Any] = {"working_point": next(iter(points.values())), "variants": {}}
    for label, metrics in loaded.items():
        final = histories[label][:, -1] if histories[label].size else []
        result["variants"][label] = {
            "run_dir": str(variants[label]),
            "n_pairs": _emd_pairs(metrics).get("n_pairs"),
            "cutoff": metrics.get("pairs", {}).get("cutoff"),
            "final_variance_term": summarize_values(list(final)),
            "encoder_participation_ratio": summarize_values(
                [
                    entry.get("encoder_participation_ratio")
                    for entry in metrics.get("pretraining_health", {}).get(pretraining, {}).values()
                ]
            ),
            "models": _variant_rows(metrics, models),
        }
    result = json_safe(result)
    with atomic_path(out / "comparison.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1, allow_nan=False))

    point = result["working_point"]
    lines = [
        "# MACK comparison",
        "",
        f"Δε_QCD/ε_QCD at ε_Z' = {point:g}, mean ± spread over seeds; ratio = mean |Δε_QCD/ε_QCD| "
        "over the same variant's supervised model; stat = binomial uncertainty of one seed; "
        f"variance term = VICReg variance term of the `{pretraining}` pretraining after the last "
        "epoch (0: every projector dimension has std >= 1, 2: constant embedding); encoder PR = "
        "participation ratio (effective dimensions) of the pretrained encoder on the nominal test jets "
        "(n/a for studies run before it was recorded).",
        "",
        "| variant | pairs | C [GeV] | variance term | encoder PR | model | AUC nominal | Δε_QCD/ε_QCD | ratio | stat |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, variant in result["variants"].items():
        pairs = "n/a" if variant["n_pairs"] is None else f"{int(variant['n_pairs']):,}"
        cutoff = "n/a" if variant["cutoff"] is None else f"{variant['cutoff']:.1f}"
        for model, row in variant["models"].items():
            ratio = "n/a" if row["ratio_to_supervised"] is None else f"{row['ratio_to_supervised']:.2f}"
            stat = "n/a" if row["stat"] is None else f"±{row['stat']:.3f}"
            lines.append(
                f"| {label} | {pairs} | {cutoff} | {format_stat(variant['final_variance_term'], 2)} | "
                f"{format_stat(variant['encoder_participation_ratio'], 1)} | {model} | "
                f"{format_stat(row['auc_nominal'])} | {format_stat(row['change'])} | {ratio} | {stat} |"
            )
    figures = [
        plot_variance_history(histories, out / "variance_term_history.png", pretraining=pretraining),
        plot_auc_vs_robustness(result["variants"], out / "auc_vs_robustness.png", working_point=point),
    ]
    lines += ["", "Plots: " + ", ".join(f"[{path.name}]({path.name})" for path in figures), ""]
    with atomic_path(out / "comparison.md") as tmp:
        tmp.write_text("\n".join(lines))
    return result


def _emd_pairs(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """The EMD pair set of a study's ``metrics.json`` (``pairs.emd``; older studies stored it flat
    as ``pairs``)."""
    pairs = metrics.get("pairs", {})
    return pairs.get("emd", pairs)
