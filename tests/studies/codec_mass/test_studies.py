"""The CoDec mass-regression and calibration studies end to end (smoke presets, via the CLI), and
their reported numbers recomputed from the stored predictions and test jets.

The smoke presets use the shared CoDec smoke samples (``codec_smoke_cache`` fixture), so nothing
is generated here; the numbers mean nothing physically (a few hundred jets, 4 epochs).
"""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from codec_jax.baselines.mass_calibration import BinnedCalibration
from codec_jax.cli import main as cli_main
from codec_jax.data.io import read_root
from codec_jax.errors import ConfigError
from codec_jax.studies import apply_study_overrides, load_study_config, run_study, study_to_json
from codec_jax.studies.codec_mass.report import digest
from tests.helpers.smoke_reference import assert_matches_reference

pytestmark = pytest.mark.slow  # end-to-end study runs: left out of `make test-fast`

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = {name: ROOT / "configs" / f"{name}.py" for name in ("codec_regression", "codec_calibration")}
COMMON_FILES = (
    "metrics.json",
    "report.md",
    "config.json",
    "resolution_vs_mass.png",
    "truth_vs_prediction.png",
)
FILES = {
    "codec_regression": (*COMMON_FILES, "response_vs_mass.png"),
    "codec_calibration": (
        *COMMON_FILES,
        "closure_vs_mass.png",
        "calibration_maps.png",
        "calibration_maps.json",
    ),
}
METHODS = {
    "codec_regression": ["regression_flat", "regression_peaky", "msd", "mass"],
    "codec_calibration": ["msd", "map_flat", "map_peaky", "mlp_flat", "mlp_peaky"],
}


@pytest.fixture(scope="module")
def cache(codec_smoke_cache):
    return codec_smoke_cache


@pytest.fixture(scope="module")
def studies(tmp_path_factory, cache):
    """Run both smoke presets once through ``codec-jax run`` on the shared sample cache."""
    root = tmp_path_factory.mktemp("codec_mass")
    results = {}
    for name, path in CONFIGS.items():
        out = root / name
        overrides = [f"samples.cache_dir={cache}"]
        config = apply_study_overrides(load_study_config(path, "smoke"), overrides)
        argv = ["run", str(path), "--preset", "smoke", "--out", str(out), "--set", overrides[0]]
        assert cli_main(argv) == 0
        results[name] = (config, out)
    return results


def percentile_median(ratio: np.ndarray, weights: np.ndarray) -> float:
    return float(np.quantile(ratio, 0.5, weights=weights, method="inverted_cdf"))


def per_bin_medians(truth, predicted, weights, edges) -> list[float]:
    medians = []
    for b in range(len(edges) - 1):
        upper = truth <= edges[b + 1] if b == len(edges) - 2 else truth < edges[b + 1]
        rows = (truth >= edges[b]) & upper
        medians.append(percentile_median(predicted[rows] / truth[rows], weights[rows]))
    return medians


@pytest.mark.parametrize("name", list(CONFIGS))
def test_smoke_metrics_equal_those_recorded_before_the_layout_move(studies, name):
    _, out = studies[name]
    assert_matches_reference(name, json.loads((out / "metrics.json").read_text()))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_smoke_writes_every_report_file(studies, name):
    import matplotlib.image

    config, out = studies[name]
    for file in FILES[name]:
        assert (out / file).is_file(), file
    for file in FILES[name]:
        if file.endswith(".png"):
            image = matplotlib.image.imread(out / file)
            assert image.shape[0] > 200 and image.shape[1] > 300, file
            assert image[..., :3].std() > 0.05, f"{file} is blank"
    assert json.loads((out / "config.json").read_text()) == json.loads(study_to_json(config))
    report = (out / "report.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["summary"]) == METHODS[name]
    for method in METHODS[name]:
        assert f"| {method} |" in report
        seeds = sorted(metrics["runs"][method])
        assert seeds == (["0"] if method.split("_")[0] in ("regression", "mlp") else ["fixed"])
        bins = metrics["runs"][method][seeds[0]]["bins"]
        assert len(bins["median"]) == config.truth_bins
    assert "## Claims" in report and metrics["claims"]
    for claim in metrics["claims"]:
        assert claim["holds"] in (True, False, None) and claim["claim"] in report
    lines = digest(metrics)  # what codec-jax run and experiments/<study>.py print
    assert [line.split()[0] for line in lines[1 : 1 + len(METHODS[name])]] == METHODS[name]
    assert len(lines) == 1 + len(METHODS[name]) + len(metrics["claims"])


def test_regression_medians_match_the_stored_scores(studies):
    """Recompute the per-bin median response of a trained regression (scores.npz, boost-scaled
    log mass) and of the soft-drop mass from the test jets, independently of the library."""
    config, out = studies["codec_regression"]
    metrics = json.loads((out / "metrics.json").read_text())
    test = read_root(out / "data" / "test.root")
    truth, weights = test.truth_mass.astype(np.float64), test.weight.astype(np.float64)
    edges = np.linspace(*config.truth_range, config.truth_bins + 1)
    with np.load(out / "seed0" / "regression_flat" / "scores.npz") as scores:
        predicted = np.exp(scores["test"]) * test.pt / config.reference_pt
    expected = per_bin_medians(truth, predicted, weights, edges)
    np.testing.assert_allclose(metrics["runs"]["regression_flat"]["0"]["bins"]["median"], expected, rtol=1e-5)
    expected_msd = per_bin_medians(truth, test.msd.astype(np.float64), weights, edges)
    np.testing.assert_allclose(metrics["runs"]["msd"]["fixed"]["bins"]["median"], expected_msd, rtol=1e-6)
    # Flat and peaky sets have equal sizes (the smoke flat set is cut to the narrow sample's size).
    assert metrics["sets"]["sets"]["flat"] == metrics["sets"]["sets"]["peaky"]
    assert metrics["sets"]["flat_subsampled_to_peaky"]["train"]
    # The training files hold the boost-scaled target t * 500 / pT; the test file the true mass.
    train = read_root(out / "data" / "flat_train.root")
    unscaled = train.truth_mass.astype(np.float64) * train.pt / config.reference_pt
    assert np.all((unscaled > config.truth_range[0] - 0.01) & (unscaled < config.truth_range[1] + 0.01))
    assert not np.allclose(unscaled, train.truth_mass, rtol=0.05)
    assert np.all((truth >= config.truth_range[0]) & (truth <= config.truth_range[1]))


def test_regression_claims_follow_from_the_summary(studies):
    _, out = studies["codec_regression"]
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["summary"]
    first = metrics["claims"][0]
    flat, msd = summary["regression_flat"]["resolution"]["mean"], summary["msd"]["resolution"]["mean"]
    assert first["holds"] == all(f < m for f, m in zip(flat, msd))
    assert len(metrics["claims"]) == 3
    for claim, key in zip(metrics["claims"][1:], ("mean_abs_bias", "mean_resolution")):
        flat_away = summary["regression_flat"]["away"][key]["mean"]
        assert claim["holds"] == (flat_away < summary["regression_peaky"]["away"][key]["mean"])


def test_calibration_map_closure_matches_the_stored_map(studies):
    config, out = studies["codec_calibration"]
    metrics = json.loads((out / "metrics.json").read_text())
    maps = json.loads((out / "calibration_maps.json").read_text())
    test = read_root(out / "data" / "test.root")
    truth, weights = test.truth_mass.astype(np.float64), test.weight.astype(np.float64)
    edges = np.linspace(*config.truth_range, config.truth_bins + 1)
    for name in ("map_flat", "map_peaky"):
        calibrated = BinnedCalibration.from_dict(maps[name]).apply(test.msd, test.pt)
        expected = per_bin_medians(truth, calibrated, weights, edges)
        np.testing.assert_allclose(metrics["runs"][name]["fixed"]["bins"]["median"], expected, rtol=1e-9)
    # The flat map was fitted on the flat training jets: its cells hold their median log ratio.
    train = read_root(out / "data" / "flat_train.root")
    flat_map = BinnedCalibration.from_dict(maps["map_flat"])
    a, b = np.unravel_index(np.argmax(flat_map.n_jets), flat_map.n_jets.shape)
    cell = (
        (np.clip(train.msd, 0, 249.99) >= flat_map.msd_edges[a])
        & (np.clip(train.msd, 0, 249.99) < flat_map.msd_edges[a + 1])
        & (np.clip(train.pt, 400, 799.99) >= flat_map.pt_edges[b])
        & (np.clip(train.pt, 400, 799.99) < flat_map.pt_edges[b + 1])
    )
    log_ratio = np.log(train.truth_mass[cell] / np.maximum(train.msd[cell], 1.0))
    assert flat_map.correction[a, b] == pytest.approx(
        percentile_median(log_ratio, train.weight[cell]), abs=1e-6
    )
    for claim in metrics["claims"]:
        method = claim["claim"].split()[0]
        medians = np.array([np.nan if v is None else v for v in metrics["summary"][method]["median"]["mean"]])
        if method.endswith("_flat"):
            assert claim["holds"] == bool(np.all(np.abs(medians - 1) <= config.closure_tolerance))


def test_rerun_reuses_the_trained_runs(studies):
    config, out = studies["codec_regression"]
    scores = out / "seed0" / "regression_flat" / "scores.npz"
    before = scores.stat().st_mtime_ns
    metrics = json.loads((out / "metrics.json").read_text())
    again = run_study(config, out)
    assert scores.stat().st_mtime_ns == before
    assert again["runs"] == metrics["runs"]
    with pytest.raises(ConfigError, match="different config"):
        run_study(dataclasses.replace(config, truth_bins=config.truth_bins + 1), out)


def test_experiment_script_prints_the_digest(studies, cache, capsys, monkeypatch):
    """experiments/codec_calibration.py on the finished smoke study (reused runs): the same runner
    and output as ``codec-jax run``."""
    _, out = studies["codec_calibration"]
    argv = ["--preset", "smoke", "--out", str(out), "--set", f"samples.cache_dir={cache}"]
    monkeypatch.setattr(sys, "argv", ["codec_calibration.py", *argv])
    with pytest.raises(SystemExit) as exit_status:
        runpy.run_path(str(ROOT / "experiments" / "codec_calibration.py"), run_name="__main__")
    assert exit_status.value.code == 0
    printed = capsys.readouterr().out.splitlines()
    metrics = json.loads((out / "metrics.json").read_text())
    expected = digest(metrics)
    assert printed[-len(expected) - 1 : -1] == expected  # after the sample-cache messages
    assert printed[-1].startswith(f"report: {out}/report.md")


def test_config_errors_name_the_key(tmp_path):
    config = load_study_config(CONFIGS["codec_regression"], "smoke")
    with pytest.raises(ConfigError, match="mass_regression"):
        run_study(apply_study_overrides(config, ["regression.loss.name=bce"]), tmp_path / "a")
    with pytest.raises(ConfigError, match="training_sets"):
        run_study(apply_study_overrides(config, ["training_sets=flat,wide"]), tmp_path / "b")
    calibration = load_study_config(CONFIGS["codec_calibration"], "smoke")
    with pytest.raises(ConfigError, match="calibration.data.inputs"):
        run_study(apply_study_overrides(calibration, ["calibration.data.inputs=particles"]), tmp_path / "c")
    for path in CONFIGS.values():
        with pytest.raises(ConfigError, match="no preset"):
            load_study_config(path, "huge")
        assert load_study_config(path, "full").seeds == (0, 1, 2, 3, 4)
        assert len(load_study_config(path).seeds) >= 3


def _without_timings(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key != "timings_seconds"}


def test_run_on_a_dask_cluster_gives_the_same_metrics(studies, cache, tmp_path):
    """``run --dask local:2``: every training in a Dask worker process, scoring here; the metrics
    equal the sequential run's (all but the wall times)."""
    pytest.importorskip("distributed")
    _, sequential = studies["codec_regression"]
    out = tmp_path / "dask"
    argv = ["run", str(CONFIGS["codec_regression"]), "--preset", "smoke", "--out", str(out)]
    assert cli_main([*argv, "--set", f"samples.cache_dir={cache}", "--dask", "local:2"]) == 0
    expected = json.loads((sequential / "metrics.json").read_text())
    assert _without_timings(json.loads((out / "metrics.json").read_text())) == _without_timings(expected)
    trained = sorted(path.parent.relative_to(out) for path in out.glob("seed*/*/scores.npz"))
    assert trained == sorted(
        path.parent.relative_to(sequential) for path in sequential.glob("seed*/*/scores.npz")
    )
    assert trained  # the workers wrote the run directories


def test_dask_and_multi_host_flags_exclude_each_other(capsys):
    argv = [
        "run",
        str(CONFIGS["codec_regression"]),
        "--out",
        "x",
        "--dask",
        "local:1",
        "--coordinator",
        "h:1",
    ]
    assert cli_main([*argv, "--num-processes", "2", "--process-id", "0"]) == 2
    assert "exclude each other" in capsys.readouterr().err
