"""The MACK study end to end (smoke preset) and its config handling.

Generation is covered by tests/test_generate.py; here the sample cache is filled beforehand with
small synthetic jets (written where :func:`cached_sample_path` looks), so the study reuses them and
the test exercises everything after generation: split, EMD pairs, three pretrainings, ten
classifiers, scoring, metrics, report and plots -- through the ``codec-jax run`` command line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from codec_jax.cli import main as cli_main
from codec_jax.data.io import read_jetnet, read_root, write_jetnet, write_root
from codec_jax.data.synthetic import make_jets, perturb_jets
from codec_jax.errors import ConfigError
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample, wrap_phi
from codec_jax.studies import apply_study_overrides, load_study_config, run_study, study_to_json
from codec_jax.studies.common.generation import split_rows
from codec_jax.studies.mack import model_names
from codec_jax.studies.mack.compare import compare_mack_runs
from codec_jax.studies.mack.samples import SAMPLE_NAMES, cached_sample_path, study_samples
from tests.helpers.smoke_reference import assert_matches_reference

pytestmark = pytest.mark.slow  # end-to-end study runs: left out of `make test-fast`

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "mack.py"
PLOTS = (
    "roc_nominal_alternate.png",
    "fractional_change_qcd.png",
    "fractional_change_zprime.png",
    "pairing_vs_augmentations.png",
    "frontier_change_qcd_at_zprime_0.5.png",
    "frontier_change_qcd_at_qcd_0.1.png",
    "pair_differences.png",
)


def synthetic_sample(rng: np.random.Generator, n_jets: int, *, signal: bool, alternate: bool) -> JetSample:
    """Absolute-feature jets: Z' jets are wider than QCD jets; alternate jets are perturbed."""
    pt, xy = make_jets(rng, n_jets, 30, min_particles=8)
    if signal:
        xy = xy * 2.0
    if alternate:
        pt, xy = perturb_jets(rng, pt, xy, scale=0.1, smear=0.3)
    mask = pt > 0
    jet_eta = rng.uniform(-1.5, 1.5, n_jets).astype(np.float32)
    jet_phi = rng.uniform(-np.pi, np.pi, n_jets).astype(np.float32)
    eta = np.where(mask, xy[..., 0] + jet_eta[:, None], 0.0)
    phi = np.where(mask, wrap_phi(xy[..., 1] + jet_phi[:, None]), 0.0)
    parts = np.stack([pt, eta, phi, pt * np.cosh(eta)], axis=-1).astype(np.float32)
    jets = {"pt": pt.sum(axis=1), "eta": jet_eta, "phi": jet_phi, "label": np.full(n_jets, int(signal))}
    return JetSample.from_arrays(parts, mask, ABSOLUTE_FEATURES, jets)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Run the smoke preset once via the CLI on a pre-filled sample cache."""
    root = tmp_path_factory.mktemp("mack")
    cache, out = root / "cache", root / "study"
    overrides = [f"samples.cache_dir={cache}"]
    config = apply_study_overrides(load_study_config(CONFIG, "smoke"), overrides)
    rng = np.random.default_rng(7)
    cache.mkdir()
    for name, process, nominal in SAMPLE_NAMES:
        sample = synthetic_sample(
            rng, config.samples.n_jets, signal=process == "zprime", alternate=not nominal
        )
        write_root(sample, cached_sample_path(config.samples, name))
    mtimes = {path: path.stat().st_mtime_ns for path in cache.iterdir()}
    argv = ["run", str(CONFIG), "--preset", "smoke", "--out", str(out)]
    for override in overrides:
        argv += ["--set", override]
    assert cli_main(argv) == 0
    return config, out, mtimes


def test_smoke_writes_every_report_file(smoke):
    config, out, mtimes = smoke
    for name in ("metrics.json", "report.md", "config.json", "pairs.npz", "test_scores.root", *PLOTS):
        assert (out / name).is_file(), name
    import matplotlib.image

    for name in PLOTS:
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 300, name
        assert image[..., :3].std() > 0.05, f"{name} is blank"
    # The cached samples were reused, not regenerated.
    assert {path: path.stat().st_mtime_ns for path in mtimes} == mtimes
    assert json.loads((out / "config.json").read_text()) == json.loads(study_to_json(config))
    report = (out / "report.md").read_text()
    for model in model_names(config):
        assert f"| {model} |" in report  # the measurement table lists every model and control
    assert "## Claims" in report and "![frontier_change_qcd_at_zprime_0.5.png]" in report


def test_smoke_metrics_equal_those_recorded_before_the_layout_move(smoke):
    _, out, _ = smoke
    assert_matches_reference("mack", json.loads((out / "metrics.json").read_text()))


def test_metrics_per_model_and_seed(smoke):
    config, out, _ = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    models = model_names(config)
    # 12 MACK models (4 pretrainings incl. ot_align x 3 levels), supervised, their 12 noisy
    # controls, one ladder rung and the random encoder
    assert len(models) == 27 and sorted(metrics["runs"]) == sorted(models)
    keys = [
        "frac_change_qcd_at_zprime_eff_0.5",
        "frac_change_qcd_at_zprime_eff_0.3",
        "frac_change_zprime_at_qcd_eff_0.5",
        "frac_change_zprime_at_qcd_eff_0.3",
    ]
    for model in models:
        assert sorted(metrics["runs"][model]) == [str(seed) for seed in config.seeds]
        for run in metrics["runs"][model].values():
            for key in keys:
                assert key in run and (run[key] is None or np.isfinite(run[key]))
        assert metrics["summary"][model]["auc_nominal"]["n"] == len(config.seeds)
    assert metrics["pairs"]["emd"]["n_pairs"] > 0
    # The collapse check reports each pretraining's last val/variance and representation spread.
    for pretraining in config.pretrainings:
        rows = (out / "seed0" / f"pretrain-{pretraining}" / "metrics.jsonl").read_text().splitlines()
        last = json.loads(rows[-1])["val/variance"]
        # ot_align adds the alignment term (the others have none)
        assert ("train/alignment" in json.loads(rows[-1])) == (pretraining == "ot_align")
        health = metrics["pretraining_health"][pretraining]["0"]
        assert health["variance_term"] == pytest.approx(last) and 0.0 <= last <= 2.0
        dims = config.pretrain.model.encoder_kwargs["output_dim"]
        assert 1.0 <= health["encoder_participation_ratio"] <= dims
        assert 1.0 <= health["projector_participation_ratio"] <= config.pretrain.model.projector_dims[-1]
        assert health["projector_median_std"] > 0.0


def _mann_whitney_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    signal, background = scores[labels == 1], scores[labels == 0]
    greater = (signal[:, None] > background[None, :]).mean()
    ties = (signal[:, None] == background[None, :]).mean()
    return float(greater + 0.5 * ties)


def test_reported_metrics_match_the_stored_scores(smoke):
    """Recompute AUC and delta eps_QCD / eps_QCD from each run's scores.npz independently."""
    config, out, _ = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    labels = {}
    for domain in ("nominal", "alternate"):
        labels[domain] = np.concatenate(
            [read_root(out / "data" / f"{p}_{domain}_test.root").label for p in ("qcd", "zprime")]
        )
    for model in ("emd_pairs/frozen", "supervised"):
        with np.load(out / "seed0" / model.replace("/", "-") / "scores.npz") as scores:
            nominal, alternate = scores["nominal"], scores["alternate"]
        run = metrics["runs"][model]["0"]
        assert run["auc_nominal"] == pytest.approx(_mann_whitney_auc(nominal, labels["nominal"]), abs=1e-12)
        assert run["auc_alternate"] == pytest.approx(
            _mann_whitney_auc(alternate, labels["alternate"]), abs=1e-12
        )
        # Threshold: the largest cut keeping >= 50% of the nominal Z' jets.
        signal = np.sort(nominal[labels["nominal"] == 1])[::-1]
        threshold = signal[int(np.ceil(0.5 * len(signal))) - 1]
        eps_nominal = np.mean(nominal[labels["nominal"] == 0] >= threshold)
        eps_alternate = np.mean(alternate[labels["alternate"] == 0] >= threshold)
        expected = (eps_alternate - eps_nominal) / eps_nominal if eps_nominal > 0 else None
        reported = run["frac_change_qcd_at_zprime_eff_0.5"]
        assert (reported is None) == (expected is None)
        if expected is not None:
            assert reported == pytest.approx(expected, abs=1e-12)


def _threshold_keeping(scores: np.ndarray, fraction: float) -> float:
    """The highest score keeping at least ``fraction`` of ``scores`` (cut: score >= threshold)."""
    ordered = np.sort(scores)[::-1]
    return ordered[int(np.ceil(fraction * len(ordered))) - 1]


def test_every_number_is_recomputable_from_test_scores_root(smoke):
    """test_scores.root holds every model's per-jet scores; the supervised model's delta
    eps_QCD / eps_QCD at eps_Z' = 0.5 and the noisy control's AUC, recomputed independently,
    match metrics.json."""
    import uproot

    config, out, _ = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    with uproot.open(out / "test_scores.root") as file:
        trees = {name: file[name].arrays(library="np") for name in ("nominal", "alternate")}
    for model, seeds in metrics["runs"].items():
        for seed in seeds:
            branch = "score__" + model.replace("/", "_").replace(":", "_").replace("@", "_") + f"__seed{seed}"
            assert branch in trees["nominal"] and branch in trees["alternate"], branch
    nominal, alternate = trees["nominal"], trees["alternate"]
    branch = "score__supervised__seed0"
    cut = _threshold_keeping(nominal[branch][nominal["label"] == 1], 0.5)
    eps_nom = np.mean(nominal[branch][nominal["label"] == 0] >= cut)
    eps_alt = np.mean(alternate[branch][alternate["label"] == 0] >= cut)
    reported = metrics["runs"]["supervised"]["0"]["frac_change_qcd_at_zprime_eff_0.5"]
    assert reported == pytest.approx((eps_alt - eps_nom) / eps_nom, abs=1e-12)
    noisy = "score__noisy_supervised_emd_pairs_frozen__seed0"
    auc = _mann_whitney_auc(nominal[noisy], nominal["label"])
    assert metrics["runs"]["noisy_supervised@emd_pairs/frozen"]["0"]["auc_nominal"] == pytest.approx(
        auc, abs=1e-12
    )
    # jet branches: the test jets of the split files, in order
    labels = np.concatenate(
        [read_root(out / "data" / f"{p}_nominal_test.root").label for p in ("qcd", "zprime")]
    )
    np.testing.assert_array_equal(nominal["label"], labels)


def test_claims_are_data_with_a_fixed_rule(smoke):
    config, out, _ = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    claims = metrics["claims"]
    assert claims, "the study states its claims"
    ids = {claim["id"] for claim in claims}
    assert "emd_pairs/frozen:vs_noisy_control:change_qcd_at_zprime_0.5" in ids
    assert "emd_pairs/frozen:below_frontier:change_qcd_at_qcd_0.1" in ids
    for claim in claims:
        assert set(claim) >= {"id", "statement", "effect", "error", "n_sigma", "verdict", "rule"}
        assert claim["verdict"] in ("supported", "contradicted", "inconclusive")
        assert "3" in claim["rule"]
        if claim["n_sigma"] is not None:
            assert claim["n_sigma"] == pytest.approx(claim["effect"] / claim["error"])
        else:  # one seed: the training noise is unknown, nothing can be decided
            assert claim["verdict"] == "inconclusive" and claim["reason"]
    # every MACK model is measured against its noisy control, with the noise width stored
    widths = metrics["noise_widths"]["0"]
    assert set(widths) == {m for m in metrics["runs"] if "/" in m and not m.startswith(("noisy", "random"))}
    report = (out / "report.md").read_text()
    for claim in claims:
        assert f"**{claim['verdict']}**" in report


def test_rerun_reuses_finished_runs(smoke):
    config, out, _ = smoke
    before = json.loads((out / "metrics.json").read_text())
    scores = out / "seed0" / "supervised" / "scores.npz"
    stamp = scores.stat().st_mtime_ns
    after = run_study(config, out)
    assert scores.stat().st_mtime_ns == stamp
    assert after["runs"] == before["runs"]


def test_other_config_in_same_directory_is_refused(smoke):
    config, out, _ = smoke
    changed = apply_study_overrides(config, ["pairing.cutoff_quantile=0.5"])
    with pytest.raises(ConfigError, match="different config"):
        run_study(changed, out)


def test_overrides_are_typed_and_checked():
    config = load_study_config(CONFIG, "smoke")
    changed = apply_study_overrides(
        config,
        [
            "seeds=3,4",
            "samples.n_jets=50",
            "pairing.cutoff=30",
            "pairing.cutoff_quantile=none",
            "pairing.emd.R=0.8",
            "pairing.include_signal=yes",
            "pretrain.training.epochs=7",
            "augmentations=rotate",
            "working_points=0.4",
        ],
    )
    assert changed.seeds == (3, 4) and changed.samples.n_jets == 50 and changed.pairing.cutoff == 30.0
    assert changed.pairing.include_signal is True and changed.pretrain.training.epochs == 7
    assert changed.pairing.cutoff_quantile is None and changed.pairing.emd.R == 0.8
    assert changed.pairing.validate() is changed.pairing and config.pairing.emd.R == 1.0
    assert changed.augmentations == ("rotate",) and changed.working_points == (0.4,)
    assert config.seeds == (0,)  # the original is untouched
    with pytest.raises(ConfigError, match="samples.n_jet"):
        apply_study_overrides(config, ["samples.n_jet=5"])
    with pytest.raises(ConfigError, match="pretrain.training.epochs"):
        apply_study_overrides(config, ["pretrain.training.epochs=many"])
    with pytest.raises(ConfigError, match="no preset"):
        load_study_config(CONFIG, "huge")


def test_split_rows_partition_the_sample():
    rows = split_rows(3, 101, 0.2, 0.3)
    joined = np.concatenate([rows["train"], rows["validation"], rows["test"]])
    assert np.array_equal(np.sort(joined), np.arange(101))
    assert len(rows["validation"]) == 20 and len(rows["test"]) == 30
    assert np.array_equal(split_rows(3, 101, 0.2, 0.3)["test"], rows["test"])


def test_jetnet_variant_runs_on_small_jetnet_files(tmp_path):
    """MACK's JetNet variant (nominal q vs W, alternate g vs Z) on small files in the JetNet layout,
    with one pretraining and one fine-tuning level to keep the test short."""
    rng = np.random.default_rng(11)
    files = {}
    for name, jet_type, signal, alternate in (
        ("qcd_nominal", 1, False, False),
        ("zprime_nominal", 3, True, False),
        ("qcd_alternate", 0, False, True),
        ("zprime_alternate", 4, True, True),
    ):
        files[name] = write_jetnet(
            synthetic_sample(rng, 240, signal=signal, alternate=alternate),
            tmp_path / f"{name}.hdf5",
            jet_type=jet_type,
        )
    overrides = [f"samples.jetnet.{name}={path}" for name, path in files.items()]
    overrides += [
        "samples.source=jetnet",
        "samples.n_jets=200",
        "pretrainings=emd_pairs",
        "finetune_levels=frozen",
    ]
    config = apply_study_overrides(load_study_config(CONFIG, "smoke"), overrides)
    loaded = study_samples(config.samples)
    assert [len(sample) for sample in loaded.values()] == [200] * 4  # a subset of each 240-jet file
    assert all((loaded[name].label == int(name.startswith("zprime"))).all() for name in loaded)
    # The subset holds rows of the file, unchanged (relative features as JetNet stores them).
    full = read_jetnet(files["qcd_nominal"], max_particles=30)
    first = loaded["qcd_nominal"]
    row = int(np.flatnonzero(np.isclose(full.pt, first.pt[0]))[0])
    np.testing.assert_allclose(first.parts[0], full.parts[row], atol=1e-6)

    metrics = run_study(config, tmp_path / "study")
    assert sorted(metrics["runs"]) == sorted(model_names(config))
    assert {"emd_pairs/frozen", "supervised", "noisy_supervised@emd_pairs/frozen"} <= set(metrics["runs"])
    assert metrics["pairs"]["emd"]["n_pairs"] > 0
    # The reported AUC is that of the stored scores (an independent Mann-Whitney count), and the
    # supervised tagger separates the wider synthetic "W" jets from the "q" jets.
    test_labels = np.concatenate(
        [read_root(tmp_path / "study" / "data" / f"{p}_nominal_test.root").label for p in ("qcd", "zprime")]
    )
    with np.load(tmp_path / "study" / "seed0" / "supervised" / "scores.npz") as scores:
        auc = _mann_whitney_auc(scores["nominal"], test_labels)
    assert metrics["runs"]["supervised"]["0"]["auc_nominal"] == pytest.approx(auc, abs=1e-12)
    assert auc > 0.75
    assert (tmp_path / "study" / "report.md").is_file()
    # What the engine trained on (ROOT files of the split) are the JetNet jets, features unchanged.
    rows = split_rows(
        config.samples.seed + 2, 200, config.samples.validation_fraction, config.samples.test_fraction
    )
    trained = read_root(
        tmp_path / "study" / "data" / "qcd_nominal_train.root", max_particles=30
    ).to_relative()
    expected = loaded["qcd_nominal"][rows["train"]]
    np.testing.assert_allclose(trained.parts, expected.parts, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(trained.mask, expected.mask)


def test_compare_mack_runs_tabulates_each_variant(smoke, tmp_path):
    """The comparison repeats each labelled study's own numbers (summary, ratio to supervised, last
    variance term): the smoke study, and a copy of it whose metrics were changed on purpose (so a
    comparison that mixed up or averaged the variants would fail)."""
    _, out, _ = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    key = "frac_change_qcd_at_zprime_eff_0.5"
    changed = copy.deepcopy(metrics)
    for model in ("emd_pairs/frozen", "supervised"):
        entry = changed["summary"][model]
        entry["auc_nominal"]["mean"] += 0.1
        entry[key]["values"] = [None if v is None else 2.0 * v + 0.05 for v in entry[key]["values"]]
    changed["pretraining_health"]["emd_pairs"]["0"]["variance_term"] = 1.25
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps(changed))
    # The variance history is read from the pretraining's metrics.jsonl: end it at 1.25 too.
    lines = [json.loads(line) for line in (out / "seed0" / "pretrain-emd_pairs" / "metrics.jsonl").open()]
    lines[-1]["val/variance"] = 1.25
    (other / "seed0" / "pretrain-emd_pairs").mkdir(parents=True)
    (other / "seed0" / "pretrain-emd_pairs" / "metrics.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    result = compare_mack_runs({"a": out, "b": other}, tmp_path / "cmp")
    for label, source in (("a", metrics), ("b", changed)):
        variant = result["variants"][label]
        frozen = variant["models"]["emd_pairs/frozen"]
        summary = source["summary"]
        assert frozen["auc_nominal"]["mean"] == pytest.approx(
            summary["emd_pairs/frozen"]["auc_nominal"]["mean"]
        )
        sizes = [abs(v) for v in summary["emd_pairs/frozen"][key]["values"] if v is not None]
        reference = [abs(v) for v in summary["supervised"][key]["values"] if v is not None]
        assert sizes and reference and np.mean(reference) > 0, "the smoke study must define the ratio"
        assert frozen["ratio_to_supervised"] == pytest.approx(np.mean(sizes) / np.mean(reference))
        assert variant["final_variance_term"]["mean"] == pytest.approx(
            source["pretraining_health"]["emd_pairs"]["0"]["variance_term"]
        )
        assert variant["n_pairs"] == source["pairs"]["emd"]["n_pairs"]
    assert result["variants"]["a"]["models"] != result["variants"]["b"]["models"]
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert table.count("| emd_pairs/frozen |") == 2 and "| b |" in table
    for name in ("variance_term_history.png", "auc_vs_robustness.png"):
        assert (tmp_path / "cmp" / name).stat().st_size > 10_000
