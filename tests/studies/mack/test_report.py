"""Study report: summary statistics over seeds against NumPy, metrics against direct computations,
and the report files written from synthetic metrics (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codec_jax.metrics.robustness import ROC_GRID, metric_name, robustness_metrics
from codec_jax.studies.common.summary import summarize_curves, summarize_values
from codec_jax.studies.mack.report import markdown_table, summarize, write_report


def _synthetic_runs(rng: np.random.Generator, models: list[str], seeds: int, points: int = 19) -> dict:
    runs = {}
    for model in models:
        runs[model] = {}
        for seed in range(seeds):
            curve = rng.normal(0.2, 0.1, points).tolist()
            runs[model][str(seed)] = {
                "auc_nominal": float(rng.uniform(0.6, 0.9)),
                "auc_alternate": float(rng.uniform(0.6, 0.9)),
                metric_name("qcd", 0.5): float(rng.normal(0.3, 0.1)),
                metric_name("zprime", 0.5): float(rng.normal(-0.1, 0.05)),
                "curves": {
                    "qcd": {"efficiency": np.linspace(0.05, 0.95, points).tolist(), "change": curve},
                    "zprime": {"efficiency": np.linspace(0.05, 0.95, points).tolist(), "change": curve[::-1]},
                },
                "roc": {
                    "eps_sig": ROC_GRID.tolist(),
                    "eps_bkg_nominal": np.sort(rng.uniform(0, 1, ROC_GRID.size)).tolist(),
                    "eps_bkg_alternate": np.sort(rng.uniform(0, 1, ROC_GRID.size)).tolist(),
                },
            }
    return runs


def test_summary_matches_numpy_mean_and_sample_std():
    rng = np.random.default_rng(0)
    models = ["emd_pairs/frozen", "emd_pairs/full", "aug_only/frozen", "aug_only/full", "supervised"]
    runs = _synthetic_runs(rng, models, seeds=4)
    summary = summarize(runs)
    for model in models:
        for key in ("auc_nominal", "auc_alternate", metric_name("qcd", 0.5), metric_name("zprime", 0.5)):
            values = np.array([runs[model][str(s)][key] for s in range(4)])
            assert summary[model][key]["mean"] == pytest.approx(values.mean(), rel=1e-12)
            assert summary[model][key]["std"] == pytest.approx(
                np.sqrt(((values - values.mean()) ** 2).sum() / 3), rel=1e-12
            )
            assert summary[model][key]["n"] == 4
        curves = np.array([runs[model][str(s)]["curves"]["qcd"]["change"] for s in range(4)])
        np.testing.assert_allclose(summary[model]["curves"]["qcd"]["mean"], curves.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(
            summary[model]["curves"]["qcd"]["std"], curves.std(axis=0, ddof=1), rtol=1e-12
        )
        rocs = np.array([runs[model][str(s)]["roc"]["eps_bkg_alternate"] for s in range(4)])
        np.testing.assert_allclose(summary[model]["roc"]["eps_bkg_alternate"], rocs.mean(axis=0), rtol=1e-12)


def test_summary_skips_undefined_values_and_single_seed_has_no_spread():
    stat = summarize_values([0.5, None, float("nan"), 0.7])
    assert stat["mean"] == pytest.approx(0.6) and stat["n"] == 2
    assert stat["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert stat["values"] == [0.5, None, None, 0.7]
    single = summarize_values([0.3])
    assert single["mean"] == 0.3 and single["std"] is None
    assert summarize_values([None])["mean"] is None
    curves = summarize_curves([[1.0, None, 2.0], [3.0, None, None]])
    assert curves["mean"] == [2.0, None, 2.0]
    assert curves["std"][0] == pytest.approx(np.std([1.0, 3.0], ddof=1)) and curves["std"][1:] == [None, None]


def test_markdown_table_shows_mean_and_spread():
    runs = {
        "supervised": {
            "0": {"auc_nominal": 0.8, "auc_alternate": 0.7},
            "1": {"auc_nominal": 0.9, "auc_alternate": 0.7},
        }
    }
    table = markdown_table(summarize(runs), working_points=())
    row = [line for line in table.splitlines() if line.startswith("| supervised")][0]
    assert f"{0.85:.3f} ± {np.std([0.8, 0.9], ddof=1):.3f}" in row and "0.700 ± 0.000" in row


def _numpy_fractional_change(nominal, labels_nominal, alternate, labels_alternate, efficiency, fixed_label):
    """Threshold: the highest cut keeping >= ``efficiency`` of the fixed class of the nominal
    sample; then the fractional change of the other class's pass rate."""
    fixed = np.sort(nominal[labels_nominal == fixed_label])[::-1]
    threshold = fixed[int(np.ceil(efficiency * len(fixed))) - 1]
    eps_nominal = np.mean(nominal[labels_nominal != fixed_label] >= threshold)
    eps_alternate = np.mean(alternate[labels_alternate != fixed_label] >= threshold)
    return (eps_alternate - eps_nominal) / eps_nominal


def test_robustness_metrics_match_direct_computation():
    rng = np.random.default_rng(3)
    labels_nominal = rng.integers(0, 2, 400)
    labels_alternate = rng.integers(0, 2, 300)
    nominal = rng.normal(size=400) + 1.5 * labels_nominal
    alternate = rng.normal(size=300) * 1.3 + 1.2 * labels_alternate + 0.2  # a shifted, wider "data"
    result = robustness_metrics(nominal, labels_nominal, alternate, labels_alternate, (0.5, 0.3))
    signal, background = nominal[labels_nominal == 1], nominal[labels_nominal == 0]
    assert result["auc_nominal"] == pytest.approx((signal[:, None] > background[None, :]).mean(), abs=1e-12)
    for point in (0.5, 0.3):
        expected_qcd = _numpy_fractional_change(
            nominal, labels_nominal, alternate, labels_alternate, point, 1
        )
        expected_zprime = _numpy_fractional_change(
            nominal, labels_nominal, alternate, labels_alternate, point, 0
        )
        assert result[metric_name("qcd", point)] == pytest.approx(expected_qcd, abs=1e-12)
        assert result[metric_name("zprime", point)] == pytest.approx(expected_zprime, abs=1e-12)
        # Binomial error propagation for r = eps_alt / eps_nom - 1, computed by hand.
        cut = np.sort(nominal[labels_nominal == 1])[::-1][
            int(np.ceil(point * (labels_nominal == 1).sum())) - 1
        ]
        qcd_nominal, qcd_alternate = nominal[labels_nominal == 0], alternate[labels_alternate == 0]
        e_nom, e_alt = np.mean(qcd_nominal >= cut), np.mean(qcd_alternate >= cut)
        var_nom = e_nom * (1 - e_nom) / len(qcd_nominal)
        var_alt = e_alt * (1 - e_alt) / len(qcd_alternate)
        expected_stat = np.sqrt(var_alt / e_nom**2 + e_alt**2 * var_nom / e_nom**4)
        assert result[metric_name("qcd", point) + "_stat"] == pytest.approx(expected_stat, rel=1e-12)
        assert result[metric_name("zprime", point) + "_stat"] > 0
    assert result["curves"]["qcd"]["change"][9] == pytest.approx(result[metric_name("qcd", 0.5)], abs=1e-12)
    # ROC on the grid: background pass rate at the highest cut keeping >= eps_sig of the signal.
    for index in (9, 49, 89):
        eps = ROC_GRID[index]
        cut = np.sort(signal)[::-1][int(np.ceil(eps * len(signal) - 1e-9)) - 1]
        assert result["roc"]["eps_bkg_nominal"][index] == pytest.approx(np.mean(background >= cut), abs=1e-12)
    # Identical samples: no change anywhere.
    same = robustness_metrics(nominal, labels_nominal, nominal, labels_nominal)
    assert (
        same[metric_name("qcd", 0.5)] == 0.0
        and same["roc"]["eps_bkg_nominal"] == same["roc"]["eps_bkg_alternate"]
    )


def test_write_report_from_synthetic_metrics(tmp_path):
    rng = np.random.default_rng(1)
    models = [f"{p}/{level}" for p in ("emd_pairs", "aug_only") for level in ("frozen", "full")] + [
        "supervised"
    ]
    runs = _synthetic_runs(rng, models, seeds=3)
    runs["supervised"]["1"][metric_name("qcd", 0.5)] = float("nan")  # undefined values become null
    metrics = write_report(
        tmp_path,
        config={"name": "toy", "seeds": [0, 1, 2]},
        runs=runs,
        samples={"qcd_nominal": {"n_jets": 10.0}},
        pairs={"emd": {"n_pairs": 5.0, "cutoff": 12.0, "strategy": "random", "candidates": 11}},
        timings={"seed0/supervised": 1.0},
        working_points=(0.5,),
        pretraining_health={
            "emd_pairs": {
                seed: {"variance_term": v, "encoder_participation_ratio": 1.0 + float(seed)}
                for seed, v in (("0", 1.96), ("1", 1.98), ("2", 1.97))
            },
            "aug_only": {"0": {"variance_term": 0.2, "projector_median_std": 0.9}},
        },
    )
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert stored["summary"]["supervised"][metric_name("qcd", 0.5)]["n"] == 2
    assert stored["runs"]["supervised"]["1"][metric_name("qcd", 0.5)] is None
    assert stored == json.loads(json.dumps(metrics))
    report = (tmp_path / "report.md").read_text()

    # The signed changes per model: mean ± spread over the three seeds.
    values = [runs["aug_only/full"][s][metric_name("qcd", 0.5)] for s in "012"]
    cell = f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
    row = next(line for line in report.splitlines() if line.startswith("| aug_only/full | 3 |"))
    assert cell in row
    assert "emd pairs: 5 pairs, EMD below C = 12.0 GeV" in report
    # Collapse check: emd_pairs (mean 1.97 of at most 2) is flagged, aug_only (0.2) is not.
    assert stored["pretraining_health"]["emd_pairs"]["1"]["variance_term"] == 1.98
    # columns: variance term, projector median std, projector PR, encoder PR (mean ± spread)
    assert "| emd_pairs | 1.97 ± 0.01 | n/a | n/a | 2.0 ± 1.0 |" in report
    assert "| aug_only | 0.20 | 0.90 | n/a | n/a |" in report
    warning = next(line for line in report.splitlines() if line.startswith("**Warning:**"))
    assert "emd_pairs collapsed" in warning and "aug_only" not in warning
    for name in (
        "roc_nominal_alternate.png",
        "fractional_change_qcd.png",
        "fractional_change_zprime.png",
        "pairing_vs_augmentations.png",
    ):
        assert (tmp_path / name).stat().st_size > 10_000
