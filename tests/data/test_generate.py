"""Pythia 8 + FastJet generation: physics, selection logic, reproducibility, errors and the CLI.

Samples are small (about a hundred jets) and shared through module-scoped fixtures.
"""

from __future__ import annotations

import json
import math

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from codec_jax import cli  # noqa: E402
from codec_jax.data import generate as gen  # noqa: E402
from codec_jax.data import io  # noqa: E402
from codec_jax.data.io import read_root  # noqa: E402
from codec_jax.data.jet_selection import select_jets  # noqa: E402
from codec_jax.data.pythia_settings import VARIANTS, pythia_settings  # noqa: E402
from codec_jax.data.substructure import sample_substructure  # noqa: E402
from codec_jax.errors import ConfigError, DataError  # noqa: E402
from codec_jax.jets import JET_FIELDS  # noqa: E402

pytestmark = pytest.mark.generate


# --------------------------------------------------------------------------- shared samples
@pytest.fixture(scope="module")
def narrow_zprime():
    return gen.generate_sample("zprime", n_jets=120, seed=101, mass=100.0, chunk_jets=60)


@pytest.fixture(scope="module")
def qcd():
    return gen.generate_sample("qcd", n_jets=100, seed=102)


def _assert_samples_equal(a, b):
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.parts, b.parts)
    np.testing.assert_array_equal(a.mask, b.mask)
    for field in JET_FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    np.testing.assert_array_equal(a.extra["truth_dr"], b.extra["truth_dr"])


# --------------------------------------------------------------------------- physics
def test_narrow_zprime_soft_drop_mass_peaks_at_the_mass_and_qcd_is_far_below(narrow_zprime, qcd):
    assert abs(np.median(narrow_zprime.msd) - 100.0) < 15.0
    assert np.all((narrow_zprime.truth_mass > 89.9) & (narrow_zprime.truth_mass < 110.1))
    assert np.median(qcd.msd) < 50.0
    # Two-prong signal jets have lower N2 and tau21 than QCD jets.
    assert np.median(narrow_zprime.n2) < np.median(qcd.n2)
    assert np.median(narrow_zprime.tau21) < np.median(qcd.tau21)


def test_wide_zprime_truth_mass_spans_50_to_250_gev():
    sample = gen.generate_sample("zprime", n_jets=100, seed=103, width_mode="wide")
    assert sample.truth_mass.min() < 50.0 and sample.truth_mass.max() > 250.0
    assert np.all((sample.truth_mass >= 29.9) & (sample.truth_mass <= 320.1))
    # Light bosons decay inside the jet, heavy ones often do not: truth_dr ~ 2 m / pT.
    light, heavy = sample.truth_mass < 100, sample.truth_mass > 200
    assert np.median(sample.extra["truth_dr"][light]) < np.median(sample.extra["truth_dr"][heavy])


def test_fsr_variants_differ_in_multiplicity_beyond_statistical_error():
    low = gen.generate_sample("qcd", n_jets=120, seed=104, variant="fsr_low")
    high = gen.generate_sample("qcd", n_jets=120, seed=105, variant="fsr_high")
    difference = high.n_particles.mean() - low.n_particles.mean()
    error = math.hypot(
        low.n_particles.std() / math.sqrt(len(low)), high.n_particles.std() / math.sqrt(len(high))
    )
    assert difference > 3.0 * error
    assert "TimeShower:alphaSvalue = 0.150" in high.metadata["pythia_settings"]
    assert "TimeShower:alphaSvalue = 0.118" in low.metadata["pythia_settings"]


@pytest.mark.parametrize("variant", ["had_alt", "vincia"])
def test_other_variants_run_quietly(variant, capfd):
    sample = gen.generate_sample("qcd", n_jets=3, seed=106, variant=variant, events_per_batch=3)
    assert len(sample) == 3 and sample.metadata["config"]["variant"] == variant
    assert all(line in sample.metadata["pythia_settings"] for line in VARIANTS[variant].settings)
    captured = capfd.readouterr()
    assert "VINCIA" not in captured.out and "PYTHIA" not in captured.out


# --------------------------------------------------------------------------- sample content
def test_sample_layout_selection_and_labels(narrow_zprime, qcd):
    for sample, label in ((narrow_zprime, 1), (qcd, 0)):
        assert sample.parts.shape == (len(sample), 100, 4)
        assert sample.feature_names == ("pt", "eta", "phi", "energy")
        assert np.all(sample.label == label)
        assert np.all(sample.pt > 400.0) and np.all(np.abs(sample.eta) < 2.5)
        pt = sample.feature("pt")
        assert np.all(np.diff(pt, axis=1) <= 0)  # pT-ordered, zero padding at the end
        np.testing.assert_array_equal(sample.mask.sum(axis=1), np.minimum(sample.n_particles, 100))
        np.testing.assert_array_equal(sample.mask, pt > 0)
    assert np.all(narrow_zprime.extra["truth_dr"] > 0)
    assert np.all(qcd.extra["truth_dr"] == -1.0) and np.all(qcd.truth_mass == 0)


def test_jet_kinematics_and_substructure_agree_with_the_stored_constituents(narrow_zprime):
    complete = narrow_zprime[narrow_zprime.n_particles <= 100]
    assert len(complete) > 0.8 * len(narrow_zprime)
    pt, eta, phi, energy = (
        complete.feature(name).astype(np.float64) for name in ("pt", "eta", "phi", "energy")
    )
    px, py, pz = (np.sum(pt * f, axis=1) for f in (np.cos(phi), np.sin(phi), np.sinh(eta)))
    np.testing.assert_allclose(np.hypot(px, py), complete.pt, rtol=1e-4)
    mass = np.sqrt(np.maximum(energy.sum(axis=1) ** 2 - px**2 - py**2 - pz**2, 0))
    np.testing.assert_allclose(mass, complete.mass, rtol=2e-3, atol=0.5)
    recomputed = sample_substructure(complete)  # from float32 constituents
    np.testing.assert_allclose(recomputed["msd"], complete.msd, rtol=2e-3, atol=0.5)
    np.testing.assert_allclose(recomputed["n2"], complete.n2, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(recomputed["tau21"], complete.tau21, rtol=2e-3, atol=1e-4)
    with pytest.raises(DataError, match="absolute features"):
        sample_substructure(complete.to_relative())


def test_metadata_records_settings_seed_and_versions(narrow_zprime):
    meta = narrow_zprime.metadata
    assert meta["seed"] == 101 and meta["config"]["variant"] == "nominal"
    assert "23:m0 = 100" in meta["pythia_settings"] and "23:doForceWidth = on" in meta["pythia_settings"]
    assert set(meta["chunk_seeds"]) == {"0", "1"} and len(set(meta["chunk_seeds"].values())) == 2
    assert meta["versions"]["pythia8mc"].startswith("8.")
    assert meta["n_events"] >= len(narrow_zprime)


# --------------------------------------------------------------------------- selection logic
def _event(particles):
    """An awkward event like ``nextBatch`` output from (id, status, mother1, pt, eta, phi) tuples."""
    rows = [(90, -11, 0, 0.0, 0.0, 0.0), (2212, -12, 0, 0.0, 0.0, 0.0), (2212, -12, 0, 0.0, 0.0, 0.0)]
    rows += [(21, -21, 1, 0.0, 0.0, 0.0), (21, -21, 2, 0.0, 0.0, 0.0)] + list(particles)
    prt = []
    for pid, status, mother, pt, eta, phi in rows:
        p = {
            "px": pt * math.cos(phi),
            "py": pt * math.sin(phi),
            "pz": pt * math.sinh(eta),
            "e": pt * math.cosh(eta),
        }
        prt.append({"id": pid, "status": status, "mother1": mother, "p": p})
    return {"prt": prt}


def _spray(mother, pt, eta, phi, n=5, spread=0.05):
    """``n`` final-state pions of total pT ``pt`` around (eta, phi)."""
    return [
        (211, 91, mother, pt / n, eta + spread * math.cos(k), phi + spread * math.sin(k)) for k in range(n)
    ]


def test_selection_excludes_the_photon_and_neutrinos_and_truth_matches_the_boson():
    photon_event = _event(
        [(22, 23, 3, 600.0, 0.0, 0.0), (1, -23, 3, 550.0, 0.2, 3.0), (12, 91, 6, 900.0, -1.0, 1.5)]
        + _spray(6, 550.0, 0.2, 3.0)
    )
    events = ak.Array([photon_event])
    with_photon = select_jets(events, truth=False, photon_recoil=False)
    without_photon = select_jets(events, truth=False, photon_recoil=True)
    np.testing.assert_allclose(with_photon.pt, [600.0], rtol=1e-9)  # neutrino (900 GeV) invisible
    np.testing.assert_allclose(without_photon.pt, [550.0], rtol=2e-3)  # vector sum of the spray
    assert ak.num(without_photon.constituents).tolist() == [5]

    # Z -> q qbar (250 GeV each, 0.3 apart in phi) recoiling against a harder 700 GeV gluon jet.
    z_event = _event(
        [(23, -22, 3, 0.0, 0.0, 0.0), (1, -23, 5, 250.0, 0.5, 1.0), (-1, -23, 5, 250.0, 0.5, 1.3)]
        + [(21, -23, 3, 700.0, -0.5, -2.0)]
        + _spray(6, 250.0, 0.5, 1.0, n=3, spread=0.02)
        + _spray(7, 250.0, 0.5, 1.3, n=3, spread=0.02)
        + _spray(9, 700.0, -0.5, -2.0)
    )
    selected = select_jets(ak.Array([z_event, photon_event]), truth=True, photon_recoil=False)
    assert len(selected) == 1  # the photon event has no boson
    expected_mass = math.sqrt(2 * 250.0 * 250.0 * (1 - math.cos(0.3)))
    np.testing.assert_allclose(selected.truth_mass, [expected_mass], rtol=1e-9)
    np.testing.assert_allclose(selected.truth_dr, [0.3], rtol=1e-9)
    assert 480.0 < selected.pt[0] < 500.0  # the boson jet, not the leading gluon jet
    leading = select_jets(ak.Array([z_event]), truth=False, photon_recoil=False)
    np.testing.assert_allclose(leading.pt, [700.0], rtol=2e-3)


# --------------------------------------------------------------------------- reproducibility
@pytest.fixture(scope="module")
def small_config():
    return gen.GenerationConfig(process="qcd", n_jets=12, seed=42, chunk_jets=6, events_per_batch=10)


@pytest.fixture(scope="module")
def small_sample(small_config):
    return gen.generate(small_config)[0]


def test_same_seed_same_sample_whatever_the_workers_and_shards(small_config, small_sample):
    _assert_samples_equal(gen.generate(small_config, workers=2)[0], small_sample)
    first, second = (gen.generate(small_config, shard=(i, 2))[0] for i in range(2))
    assert len(first) == len(second) == 6
    _assert_samples_equal(first, small_sample[:6])
    _assert_samples_equal(second, small_sample[6:])
    other = gen.generate_sample("qcd", n_jets=6, seed=43, chunk_jets=6, events_per_batch=10)
    assert not np.array_equal(other.pt, small_sample.pt[:6])


def test_plan_chunks_seeds_are_distinct_and_in_range():
    config = gen.GenerationConfig(process="qcd", n_jets=1050, seed=5, chunk_jets=10)
    chunks = gen.plan_chunks(config)
    seeds = [c.seed for c in chunks]
    assert len(chunks) == 105 and sum(c.n_jets for c in chunks) == 1050
    assert len(set(seeds)) == len(seeds) and all(1 <= s <= 900_000_000 for s in seeds)
    assert [c.index for c in gen.plan_chunks(config, (3, 4))] == list(range(3, 105, 4))


def test_generate_to_file_resumes_from_finished_chunks(tmp_path, small_config, small_sample, monkeypatch):
    out = tmp_path / "qcd.root"
    real_write = io.write_root
    calls = []

    def crash_on_final_write(sample, path, **kwargs):
        if path == out:
            raise RuntimeError("simulated crash")
        return real_write(sample, path, **kwargs)

    monkeypatch.setattr(gen, "write_root", crash_on_final_write)
    with pytest.raises(RuntimeError, match="simulated crash"):
        gen.generate_to_file(small_config, out, progress=False)
    assert not out.exists() and len(list((tmp_path / "qcd.root.chunks").glob("chunk_*.root"))) == 2
    monkeypatch.setattr(gen, "write_root", real_write)
    monkeypatch.setattr(gen, "generate_chunk", lambda *args: calls.append(args))
    gen.generate_to_file(small_config, out, progress=False)
    assert calls == []  # nothing regenerated
    assert not (tmp_path / "qcd.root.chunks").exists()
    _assert_samples_equal(read_root(out, max_particles=100), small_sample)
    other = gen.GenerationConfig(process="qcd", n_jets=12, seed=7, chunk_jets=6)
    chunk_dir = tmp_path / "qcd.root.chunks"
    chunk_dir.mkdir()
    (chunk_dir / "chunk_000000_1.root").write_bytes(b"someone else's chunk")
    with pytest.raises(ConfigError, match="different job"):
        gen.generate_to_file(other, out, progress=False)
    # killed between creating the directory and writing job.json: the rerun takes it as its own
    (chunk_dir / "chunk_000000_1.root").unlink()

    def stop(*args, **kwargs):
        raise RuntimeError("reached generation")

    monkeypatch.setattr(gen, "_run_chunks", stop)
    with pytest.raises(RuntimeError, match="reached generation"):
        gen.generate_to_file(other, out, progress=False)
    assert json.loads((chunk_dir / "job.json").read_text())["config"]["seed"] == 7


# --------------------------------------------------------------------------- errors and CLI
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"process": "wprime"}, "process must be one of"),
        ({"process": "qcd", "variant": "herwig"}, "variant must be one of"),
        ({"process": "qcd", "width_mode": "wide"}, "apply to process 'zprime' only"),
        ({"process": "zprime", "width_mode": "wide", "mass": 100.0}, "narrow"),
        ({"process": "zprime", "mass": 5.0}, "mass must be between"),
        ({"process": "qcd", "seed": 0}, "seed must be an integer in 1..900000000"),
        ({"process": "qcd", "seed": 900_000_001}, "seed must be"),
        ({"process": "qcd", "n_jets": 0}, "n_jets must be a positive integer"),
        ({"process": "qcd", "max_particles": 0}, "max_particles"),
        ({"process": "qcd", "recoil": "lepton"}, "recoil must be one of"),
        ({"process": "qcd", "pthat_min": -1.0}, "pthat_min must be positive"),
    ],
)
def test_bad_arguments_raise_clear_errors(options, message):
    options = {"n_jets": 10, **options}
    with pytest.raises(ConfigError, match=message):
        gen.GenerationConfig(**options)


def test_bad_shard_workers_and_options_raise_clear_errors(small_config):
    for text in ("2/2", "a/b", "1"):
        with pytest.raises(ConfigError, match="shard"):
            gen.parse_shard(text)
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        gen.generate(small_config, workers=0)
    with pytest.raises(ConfigError, match="has no chunks"):
        gen.generate(small_config, shard=(2, 3))
    with pytest.raises(ConfigError, match="unexpected keyword"):
        gen.generate_sample("qcd", n_jets=5, colour="red")


def test_pythia_settings_are_inspectable():
    lines = pythia_settings("zprime", seed=9, recoil="photon", variant="had_alt", mass=150.0)
    assert "Random:seed = 9" in lines and "WeakBosonAndParton:ffbar2gmZgm = on" in lines
    assert "23:m0 = 150" in lines and "23:mMin = 135" in lines and "23:mMax = 165" in lines
    assert all(setting in lines for setting in VARIANTS["had_alt"].settings)
    assert "PromptPhoton:all = on" in pythia_settings("qcd", seed=9, recoil="photon")
    combined = pythia_settings("qcd", seed=9, variant="fsr_had_alt")
    assert all(s in combined for s in VARIANTS["fsr_high"].settings + VARIANTS["had_alt"].settings)


def test_cli_writes_a_readable_file(tmp_path, capsys):
    out = tmp_path / "sig.root"
    argv = ["generate", "--process", "zprime", "--mass", "120", "--jets", "5", "--seed", "3"]
    status = cli.main(
        [*argv, "--max-particles", "30", "--recoil", "photon", "--no-progress", "--out", str(out)]
    )
    assert status == 0 and "wrote" in capsys.readouterr().out
    sample = read_root(out, max_particles=30)
    assert len(sample) == 5 and sample.max_particles == 30 and np.all(sample.label == 1)
    assert sample.metadata["config"]["mass"] == 120.0 and sample.metadata["config"]["recoil"] == "photon"
    assert np.all((sample.truth_mass > 107.9) & (sample.truth_mass < 132.1))
    assert cli.main(["generate", "--process", "qcd", "--jets", "5", "--seed", "0", "--out", str(out)]) == 2
    assert "seed must be an integer" in capsys.readouterr().err
