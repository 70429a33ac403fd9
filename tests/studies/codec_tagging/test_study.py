"""The CoDec tagging study: smoke preset end to end, metrics against independent computations
(also recomputed from ``test_scores.root``), same-class pairs, the 1/JSD floor and sculpting
checks, claims as data, the penalty-scan batch, and config handling.

The end-to-end run uses the shared, already generated smoke samples (``codec_smoke_cache``, with
the small QCD sculpting sample) and a subset of the models covering every kind (supervised
taggers on the peaky and flat sets, a flat contrastive model with same-class pairs and
augmentations, MoDe[0], a MoDe[0] scan model, N2, N2_DDT and N2_DDT at the working point), through
the ``codec-jax run`` command line, so that the file stays within a few minutes on two loaded CPU
cores (the whole smoke preset runs in ~1.5 min on a loaded machine).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from codec_jax.cli import main as cli_main
from codec_jax.data.io import read_root
from codec_jax.errors import ConfigError, DataError
from codec_jax.pairing.same_class import same_class_pairs
from codec_jax.studies import apply_study_overrides, load_study_config, run_study, study_to_json
from codec_jax.studies.codec_tagging import MODELS, mass_bin_edges, model_spec, scan_model_name
from codec_jax.studies.codec_tagging import study as study_module
from codec_jax.studies.codec_tagging.evaluation import TaggingTestSet, tagger_metrics
from codec_jax.studies.common.scores_file import read_test_scores, score_branch
from tests.helpers.smoke_reference import assert_matches_reference

pytestmark = pytest.mark.slow  # end-to-end study runs: left out of `make test-fast`

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "codec_tagging.py"
PRESETS = ("smoke", "demo", "full")
SMOKE_MODELS = (
    "supervised_peaky",
    "supervised_flat_1d",
    "vicreg_flat",
    "mode0_flat",
    "mode0_flat_w10",
    "n2",
    "n2_ddt",
    "n2_ddt_wp",
)
PLOTS = (
    "roc.png",
    "rejection_vs_inv_jsd.png",
    "qcd_mass_after_cuts.png",
    "qcd_efficiency_vs_mass.png",
    "latent_mass_correlation.png",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, codec_smoke_cache):
    out = tmp_path_factory.mktemp("codec_tagging") / "study"
    overrides = [f"samples.cache_dir={codec_smoke_cache}", f"models={','.join(SMOKE_MODELS)}"]
    config = apply_study_overrides(load_study_config(CONFIG, "smoke"), overrides)
    argv = ["run", str(CONFIG), "--preset", "smoke", "--out", str(out)]
    for override in overrides:
        argv += ["--set", override]
    assert cli_main(argv) == 0
    return config, out


def _test_jets(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """label, weight, soft-drop mass and N2 of the study's test jets, read from its ROOT file."""
    test = read_root(out / "data" / "test.root")
    return test.label, test.weight.astype(np.float64), test.msd.astype(np.float64), test.n2


# --------------------------------------------------------------------------- independent references
def _weighted_auc(scores, labels, weights):
    s, b = labels == 1, labels == 0
    greater = scores[s][:, None] > scores[b][None, :]
    ties = scores[s][:, None] == scores[b][None, :]
    pair_weights = weights[s][:, None] * weights[b][None, :]
    return float(np.sum(pair_weights * (greater + 0.5 * ties)) / np.sum(pair_weights))


def _cut_at_signal_efficiency(scores, labels, weights, efficiency):
    """The highest candidate threshold keeping at least ``efficiency`` of the signal weight."""
    signal = labels == 1
    for threshold in np.sort(np.unique(scores[signal]))[::-1]:
        if weights[signal & (scores >= threshold)].sum() >= efficiency * weights[signal].sum() * (1 - 1e-12):
            return threshold
    raise AssertionError("no threshold found")


def _r_and_inverse_jsd(scores, labels, weights, mass, edges, efficiency):
    cut = _cut_at_signal_efficiency(scores, labels, weights, efficiency)
    bkg = labels == 0
    passing = bkg & (scores >= cut)
    rejection = weights[bkg].sum() / weights[passing].sum()
    failing = bkg & (scores < cut)
    p, _ = np.histogram(mass[passing], edges, weights=weights[passing])
    q, _ = np.histogram(mass[failing], edges, weights=weights[failing])
    return rejection, 1.0 / jensenshannon(p / p.sum(), q / q.sum()) ** 2


# --------------------------------------------------------------------------- end to end
def test_smoke_metrics_equal_those_recorded_before_the_layout_move(smoke):
    _, out = smoke
    assert_matches_reference("codec_tagging", json.loads((out / "metrics.json").read_text()))


def test_smoke_writes_every_report_file(smoke):
    config, out = smoke
    for name in (
        "metrics.json",
        "report.md",
        "config.json",
        "pairs_flat_1d.npz",
        "n2_ddt_map.json",
        "n2_ddt_wp50_map.json",
        "n2_ddt_wp30_map.json",
        "test_scores.root",
        *PLOTS,
    ):
        assert (out / name).is_file(), name
    import matplotlib.image

    for name in PLOTS:
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 300, name
        assert image[..., :3].std() > 0.05, f"{name} is blank"
    assert json.loads((out / "config.json").read_text()) == json.loads(study_to_json(config))
    report = (out / "report.md").read_text()
    for model in SMOKE_MODELS:
        assert f"| {model} |" in report
    edges = mass_bin_edges(config)
    assert (
        f"{len(edges) - 1} equal bins of the soft-drop mass from {edges[0]:g} to {edges[-1]:g} GeV" in report
    )
    assert "1/JSD floor of the test jets" in report and "1/JSD floor of the sculpting sample" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["binning"]["edges"] == pytest.approx(edges.tolist())
    assert sorted(metrics["runs"]) == sorted(SMOKE_MODELS)
    assert sorted(metrics["runs"]["vicreg_flat"]) == ["0"] and sorted(metrics["runs"]["n2"]) == ["fixed"]
    assert metrics["samples"]["sculpting"]["source"] == "dedicated QCD sample"
    assert metrics["sculpting_inv_jsd_floor"]["mean"] > 0 and metrics["sculpting_inv_jsd_floor"]["std"] > 0
    # Claims as data, each quoted in the report with its verdict and n_sigma.
    ids = [claim["id"] for claim in metrics["claims"]]
    assert {
        "n2_ddt_wp:vs:n2",
        "supervised_flat_1d:vs:supervised_peaky",
        "vicreg_flat:vs:supervised_flat_1d",
        "vicreg_flat:vs:mode0_at_matched_r50",
        "vicreg_flat:auc_vs_mode0_at_matched_decorrelation",
    } <= set(ids)
    assert metrics["claim_matches"]["vicreg_flat:vs:mode0_at_matched_r50"]["model"] in ("mode0_flat_w10",)
    for claim in metrics["claims"]:
        assert {"id", "statement", "effect", "error", "n_sigma", "verdict", "rule"} <= set(claim)
        assert claim["verdict"] in ("supported", "contradicted", "inconclusive")
        assert f"**{claim['verdict']}**" in report and claim["statement"] in report
        if claim["id"] != "n2_ddt_wp:vs:n2":  # one seed: the training noise is unknown
            assert claim["verdict"] == "inconclusive" and claim["n_sigma"] is None
    assert metrics["penalty_batch"]["batch_size"] % 16 == 0
    assert metrics["penalty_batch"]["background_per_step_minus_3_sigma"] >= 24
    assert set(metrics["ddt_working_points"]) == {"n2_ddt_wp50", "n2_ddt_wp30"}


def test_reported_metrics_match_an_independent_computation(smoke):
    """AUC, R50, R30 and 1/JSD50 of a trained model and of N2, recomputed from the stored scores."""
    config, out = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    labels, weights, mass, n2 = _test_jets(out)
    edges = np.asarray(metrics["binning"]["edges"])
    with np.load(out / "seed0" / "vicreg_flat" / "scores.npz") as stored:
        vicreg = stored["test"]
    for model, seed, scores in (("vicreg_flat", "0", vicreg), ("n2", "fixed", -n2.astype(np.float64))):
        run = metrics["runs"][model][seed]
        assert run["auc"] == pytest.approx(_weighted_auc(scores, labels, weights), abs=1e-9)
        for efficiency in (0.5, 0.3):
            rejection, inverse_jsd = _r_and_inverse_jsd(scores, labels, weights, mass, edges, efficiency)
            assert run[f"r{round(100 * efficiency)}"] == pytest.approx(rejection, rel=1e-9)
            assert run[f"inv_jsd{round(100 * efficiency)}"] == pytest.approx(inverse_jsd, rel=1e-6)


def test_every_number_is_recomputed_from_test_scores_root(smoke):
    """AUC, R50 and 1/JSD50 (test jets) and 1/JSD50 of the sculpting jets of every model and seed,
    recomputed from ``test_scores.root`` alone, equal metrics.json."""
    config, out = smoke
    metrics = json.loads((out / "metrics.json").read_text())
    trees = read_test_scores(out / "test_scores.root")
    test, sculpting = trees["test"], trees["sculpting"]
    edges = np.asarray(metrics["binning"]["edges"])
    assert set(np.unique(test["sample"])) == {0, 1} and set(np.unique(sculpting["sample"])) == {2}
    assert np.all(sculpting["label"] == 0) and np.all(sculpting["weight"] == 1)
    checked = 0
    for model, by_seed in metrics["runs"].items():
        for seed, run in by_seed.items():
            branch = score_branch(model, seed)
            scores, labels, weights = test[branch], test["label"], test["weight"]
            assert run["auc"] == pytest.approx(_weighted_auc(scores, labels, weights), abs=1e-9)
            rejection, inverse_jsd = _r_and_inverse_jsd(scores, labels, weights, test["jet_msd"], edges, 0.5)
            assert run["r50"] == pytest.approx(rejection, rel=1e-9)
            assert run["inv_jsd50"] == pytest.approx(inverse_jsd, rel=1e-6)
            # The sculpting jets at the cut keeping 50% of the test Z' jets.
            both = np.concatenate([scores[labels == 1], sculpting[branch]])
            both_labels = np.concatenate(
                [np.ones(np.sum(labels == 1), int), np.zeros(len(sculpting[branch]), int)]
            )
            both_weights = np.concatenate([weights[labels == 1], sculpting["weight"]])
            both_mass = np.concatenate([test["jet_msd"][labels == 1], sculpting["jet_msd"]])
            rejection, inverse_jsd = _r_and_inverse_jsd(
                both, both_labels, both_weights, both_mass, edges, 0.5
            )
            assert run["sculpting_r50"] == pytest.approx(rejection, rel=1e-9)
            assert run["sculpting_inv_jsd50"] == pytest.approx(inverse_jsd, rel=1e-6)
            checked += 1
    assert checked == len(SMOKE_MODELS)
    # n2_ddt_wp's second working point uses its own map, stored under n2_ddt_wp@30.
    assert score_branch("n2_ddt_wp@30", "fixed") in test


def test_latent_space_is_4d_and_its_mass_correlation_is_reported(smoke):
    config, out = smoke
    labels, _, mass, _ = _test_jets(out)
    with np.load(out / "seed0" / "vicreg_flat" / "scores.npz") as stored:
        latent = stored["latent"]
    assert latent.shape == (len(labels), config.latent_dim) == (len(labels), 4)
    reported = json.loads((out / "metrics.json").read_text())["runs"]["vicreg_flat"]["0"]["latent"]
    # Principal axes from an eigen-decomposition of the covariance; the correlation of an axis
    # with the mass (QCD jets, unit weights) does not depend on the axis's sign.
    variances, vectors = np.linalg.eigh(np.cov(latent, rowvar=False))
    order = np.argsort(variances)[::-1]
    axes = (latent - latent.mean(axis=0)) @ vectors[:, order]
    qcd = labels == 0
    expected = [abs(np.corrcoef(axes[qcd, d], mass[qcd])[0, 1]) for d in range(latent.shape[1])]
    assert reported["qcd_pearson"] == pytest.approx(expected, abs=1e-9)
    assert reported["variance_fraction"] == pytest.approx(variances[order] / variances.sum(), abs=1e-12)
    assert all(0.0 <= value <= 1.0 for value in reported["qcd_distance"])


def test_rerun_reuses_finished_runs(smoke):
    config, out = smoke
    before = json.loads((out / "metrics.json").read_text())
    stamps = {
        path: path.stat().st_mtime_ns
        for path in (
            out / "seed0" / "vicreg_flat" / "scores.npz",
            out / "seed0" / "pretrain-vicreg_flat" / "finished.json",
        )
    }
    after = run_study(config, out)
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert after["runs"] == before["runs"]
    with pytest.raises(ConfigError, match="different config"):
        run_study(apply_study_overrides(config, ["latent_dim=3"]), out)


# --------------------------------------------------------------------------- metrics on large samples
@pytest.fixture(scope="module")
def falling_qcd():
    """20,000 QCD jets with a falling mass spectrum and 20,000 Z' jets flat in mass."""
    rng = np.random.default_rng(5)
    n = 20_000
    mass = np.concatenate([rng.uniform(40, 200, n), 40 + rng.exponential(35.0, n)])
    labels = np.concatenate([np.ones(n, int), np.zeros(n, int)])
    inside = mass < 200
    return rng, labels[inside], mass[inside]


def test_mass_independent_score_reaches_the_floor_and_mass_score_sculpts(falling_qcd):
    rng, labels, mass = falling_qcd
    test = TaggingTestSet(labels, np.ones(len(labels)), mass, np.linspace(40, 200, 9))
    independent = rng.normal(size=len(labels)) + 1.0 * labels  # a tagger blind to mass
    result = tagger_metrics(independent, test, floor_trials=40, seed=1)
    floor, spread = result["inv_jsd50_floor"], result["inv_jsd50_floor_std"]
    assert abs(result["inv_jsd50"] - floor) < 4 * spread
    rejection, inverse_jsd = _r_and_inverse_jsd(independent, labels, test.weight, mass, test.bin_edges, 0.5)
    assert result["r50"] == pytest.approx(rejection) and result["inv_jsd50"] == pytest.approx(inverse_jsd)
    sculpting = tagger_metrics(mass, test, floor_trials=5)  # the score is the mass itself
    assert sculpting["inv_jsd50"] < 5.0 < floor / 20
    # Efficiency versus mass: flat for the blind tagger, a step for the mass cut.
    flat = np.asarray(result["curves"]["eff_vs_mass"], dtype=float)
    assert np.all(np.abs(flat - flat.mean()) < 5 * np.asarray(result["curves"]["eff_vs_mass_unc"]))
    assert sculpting["curves"]["eff_vs_mass"][0] == 0.0 and sculpting["curves"]["eff_vs_mass"][-1] == 1.0


# --------------------------------------------------------------------------- same-class pairs
def test_same_class_pairs_have_one_class_and_different_partners():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 500)
    mass = rng.uniform(40, 200, 500)
    edges = np.linspace(40, 200, 9)
    for partner_mass in ("any", "different"):
        pairs = same_class_pairs(
            3, labels, mass, pairs_per_jet=3, mass_edges=edges, partner_mass=partner_mass
        )
        assert len(pairs) == 1500
        assert np.array_equal(pairs.nominal_index, np.repeat(np.arange(500), 3))
        assert np.all(labels[pairs.nominal_index] == labels[pairs.alternate_index])
        assert np.all(pairs.nominal_index != pairs.alternate_index)
        cells = np.digitize(mass, edges[1:-1])
        other_cell = cells[pairs.nominal_index] != cells[pairs.alternate_index]
        assert pairs.settings["other_cell_fraction"] == pytest.approx(other_cell.mean())
        if partner_mass == "different":
            assert other_cell.all()
        else:  # random partners: about 7/8 in another of 8 equal cells
            assert 0.8 < other_cell.mean() < 0.95
        again = same_class_pairs(
            3, labels, mass, pairs_per_jet=3, mass_edges=edges, partner_mass=partner_mass
        )
        assert np.array_equal(again.alternate_index, pairs.alternate_index)
    # A class inside one mass cell keeps same-class partners (there is no other cell to draw from).
    one_cell = same_class_pairs(0, labels, np.full(500, 100.0), mass_edges=edges, partner_mass="different")
    assert np.all(labels[one_cell.nominal_index] == labels[one_cell.alternate_index])
    with pytest.raises(DataError, match="class 1 has 1 jet"):
        same_class_pairs(0, np.array([0, 0, 1]))
    with pytest.raises(ConfigError, match="needs the jet mass"):
        same_class_pairs(0, labels, partner_mass="different")


# --------------------------------------------------------------------------- configs
def test_penalty_batch_holds_enough_qcd_jets_per_step():
    """The smallest multiple of 16 with >= background_per_step QCD jets at -3 sigma."""

    class Sets:
        def __init__(self, n_train, n_validation, fraction):
            label = lambda n: (np.arange(n) >= round(fraction * n)).astype(int)  # noqa: E731
            self.sets = {
                "flat_1d": {"train": _Labels(label(n_train)), "validation": _Labels(label(n_validation))}
            }

    config = load_study_config(CONFIG)
    found = study_module.penalty_batch(config, Sets(8000, 2000, 0.55))
    batch, fraction = found["batch_size"], found["background_fraction"]
    assert batch % 16 == 0 and fraction == pytest.approx(0.55)
    minus_3_sigma = lambda b: b * fraction - 3 * np.sqrt(b * fraction * (1 - fraction))  # noqa: E731
    assert minus_3_sigma(batch) >= 1024 > minus_3_sigma(batch - 16)
    assert found["validation"] == ("validation" if batch <= 2000 else "train")
    with pytest.raises(ConfigError, match="background_per_step"):
        study_module.penalty_batch(config, Sets(1500, 300, 0.55))


class _Labels:
    def __init__(self, label):
        self.label = label

    def __len__(self):
        return len(self.label)


def test_presets_and_config_errors():
    default, full = load_study_config(CONFIG), load_study_config(CONFIG, "full")
    assert default.samples.jets_per_cell > 0 and len(default.seeds) >= 5
    assert set(MODELS) <= set(default.models) and default.latent_dim == 4
    # The dedicated sculpting samples (the default one's cache file is fixed: 210,000 jets).
    assert default.samples.n_sculpting == 210_000 and full.samples.n_sculpting >= 760_000
    assert default.jsd_bins == full.jsd_bins == 8
    for preset in ("smoke", "demo"):
        assert 0 < load_study_config(CONFIG, preset).samples.n_sculpting <= 6000
    scans = [m for m in default.models if model_spec(m).penalty_weight is not None]
    assert {scan_model_name(p, w) for p in ("mode0", "disco") for w in (1, 10, 100)} <= set(scans)
    assert len([m for m in load_study_config(CONFIG, "smoke").models if m not in MODELS]) <= 2
    # The talk's VICReg weights as a preset option, alone or with a size.
    talk = {"sim_weight": 1.0, "var_weight": 1.0, "cov_weight": 5.0}
    assert load_study_config(CONFIG, "talk").pretrain.loss.kwargs == talk
    demo_talk = load_study_config(CONFIG, "demo+talk")
    assert demo_talk.pretrain.loss.kwargs == talk and demo_talk.samples.n_wide == 3000
    vicreg = {"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0}
    for preset in (None, *PRESETS):  # one place for the VICReg weights, the same in every size preset
        loss = load_study_config(CONFIG, preset).pretrain.loss
        assert (loss.name, loss.kwargs) == ("vicreg", vicreg)
    assert default.barlow_kwargs == {"off_diagonal_weight": 0.1}
    talk = apply_study_overrides(
        default, ['pretrain.loss.kwargs={"sim_weight": 1, "var_weight": 1, "cov_weight": 5}']
    )
    assert talk.pretrain.loss.kwargs == {"sim_weight": 1, "var_weight": 1, "cov_weight": 5}
    assert full.classifier.model.encoder == "interaction" and full.samples.n_qcd > default.samples.n_qcd
    smoke = load_study_config(CONFIG, "smoke")
    for overrides, message in (
        (["models=supervised_flat_1d,quantum"], "unknown \\['quantum'\\]"),
        (["positives=telepathy"], "positives="),
        (
            ["pretrain.loss.kwargs.lambda=3"],
            "pretrain.loss.kwargs \\['lambda'\\] are not arguments of loss 'vicreg'",
        ),
        (["barlow_kwargs.lambda=3"], "barlow_kwargs -> loss.kwargs \\['lambda'\\] are not arguments"),
        (["pretrain.loss.name=ntxent"], "pretrain.loss.name='ntxent'"),
        (["working_points=0.5,1.5"], "working_points"),
        (["positives=augment", "augmentations="], "augments the views"),
        (["models=mode0_flat_wten"], "unknown \\['mode0_flat_wten'\\]"),
        (["partner_mass=close"], "partner_mass="),
        (["claims.threshold=0"], "claims.threshold"),
        (["penalty_scan.mode_kwargs.bins=4"], "penalty_scan \\(mode0_flat_w10\\)"),
    ):
        with pytest.raises(ConfigError, match=message):
            run_study(apply_study_overrides(smoke, overrides), "/nonexistent/never/written")
    for preset in ("huge", "demo+full", "demo+loud"):
        with pytest.raises(ConfigError, match="no preset"):
            load_study_config(CONFIG, preset)


def test_pretrain_loss_kwargs_set_on_the_command_line_reach_the_pretraining_run(
    tmp_path, codec_smoke_cache, monkeypatch
):
    """``--set pretrain.loss.kwargs.sim_weight=5`` is the VICReg weight the pretraining runs with
    (the study stops after it: the head is not trained)."""

    class Pretrained(Exception):
        pass

    def stop(*args, **kwargs):
        raise Pretrained

    monkeypatch.setattr(study_module, "finetune_and_score", stop)
    overrides = [
        f"samples.cache_dir={codec_smoke_cache}",
        "models=vicreg_flat",
        "pretrain.training.epochs=1",
        "pretrain.loss.kwargs.sim_weight=5",
    ]
    config = apply_study_overrides(load_study_config(CONFIG, "smoke"), overrides)
    with pytest.raises(Pretrained):
        run_study(config, tmp_path / "study")
    run_config = json.loads(
        (tmp_path / "study" / "seed0" / "pretrain-vicreg_flat" / "config.json").read_text()
    )
    assert run_config["loss"] == {
        **run_config["loss"],
        "name": "vicreg",
        "kwargs": {"sim_weight": 5, "var_weight": 25.0, "cov_weight": 1.0},
    }
