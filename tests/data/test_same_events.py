"""Same-hard-event nominal/alternate samples: pairing, the shared hard process, reproducibility, files.

Samples are tiny (tens of jets) and shared through module-scoped fixtures.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from codec_jax.data import same_events as se  # noqa: E402
from codec_jax.data.generation_plan import GenerationConfig  # noqa: E402
from codec_jax.data.shared_hard_process import (  # noqa: E402
    CHECKED_INFO,
    HardEvent,
    SharedShowers,
    check_shared_hard_process,
)
from codec_jax.errors import CodecJaxError, ConfigError, DataError  # noqa: E402
from codec_jax.jets import wrap_phi  # noqa: E402

pytestmark = pytest.mark.generate


# --------------------------------------------------------------------------- shared samples
@pytest.fixture(scope="module")
def qcd_config():
    return GenerationConfig(process="qcd", n_jets=10, seed=21, chunk_jets=5, events_per_batch=12)


@pytest.fixture(scope="module")
def qcd_pair(qcd_config):
    return se.generate_same_events(qcd_config, "fsr_had_alt")


@pytest.fixture(scope="module")
def zprime_pair():
    config = GenerationConfig(
        process="zprime", n_jets=30, seed=22, mass=100.0, chunk_jets=30, events_per_batch=40
    )
    return se.generate_same_events(config, "fsr_had_alt")


def _assert_samples_equal(a, b):
    def arrays(sample):
        extra = {f"extra[{key}]": value for key, value in sample.extra.items()}
        return {"parts": sample.parts, "mask": sample.mask, **sample.jet_fields(), **extra}

    got, expected = arrays(a), arrays(b)
    assert got.keys() == expected.keys()
    for name, value in got.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


# --------------------------------------------------------------------------- pairs
def test_rows_are_pairs_of_the_same_hard_event(qcd_pair, zprime_pair):
    for nominal, alternate in (qcd_pair, zprime_pair):
        assert len(nominal) == len(alternate) > 0
        np.testing.assert_array_equal(nominal.extra["event"], alternate.extra["event"])
        assert nominal.extra["event"].dtype == np.int64
        assert np.all(np.diff(nominal.extra["event"]) > 0)  # unique, in event order
        hard_pt = nominal.extra["hard_parton_pt"]
        assert hard_pt.dtype == np.float64 and np.all(hard_pt > 450.0)  # pTHatMin
        assert hard_pt.tobytes() == alternate.extra["hard_parton_pt"].tobytes()  # bit-identical
        np.testing.assert_array_equal(nominal.extra["hard_parton_id"], alternate.extra["hard_parton_id"])
        # Matched axes: closer than R/2, and pair_dr is that distance.
        dr = np.hypot(nominal.eta - alternate.eta, wrap_phi(nominal.phi - alternate.phi))
        assert np.all(dr < 0.4)
        np.testing.assert_allclose(nominal.extra["pair_dr"], dr, rtol=1e-5, atol=1e-6)
        # Each sample is selected like an ordinary one.
        for sample in (nominal, alternate):
            assert np.all(sample.pt > 400.0) and np.all(np.abs(sample.eta) < 2.5)
            assert sample.feature_names == ("pt", "eta", "phi", "energy")
    nominal, alternate = qcd_pair
    assert list(nominal.extra["event"] // se.EVENT_STRIDE) == [0] * 5 + [1] * 5  # chunk index
    assert np.all(nominal.label == 0) and np.all(nominal.truth_mass == 0)
    assert set(nominal.extra["hard_parton_id"]) <= {21, *range(-5, 0), *range(1, 6)}


def test_alternate_showers_differ_in_constituents(qcd_pair, zprime_pair):
    for a, b in (qcd_pair, zprime_pair):
        same_count = a.n_particles == b.n_particles
        same_pts = np.all(a.feature("pt") == b.feature("pt"), axis=1)
        assert np.mean(same_count) < 0.2 and not np.any(same_pts)


def test_zprime_pairs_are_boson_jets_near_the_mass(zprime_pair):
    nominal, alternate = zprime_pair
    assert np.all(nominal.extra["hard_parton_id"] == 23)
    assert np.all((nominal.truth_mass > 89.9) & (nominal.truth_mass < 110.1))
    np.testing.assert_allclose(nominal.truth_mass, alternate.truth_mass, rtol=1e-5)  # one decay
    for sample in zprime_pair:
        merged = sample.extra["truth_dr"] < 0.6
        assert merged.sum() > 10 and abs(np.median(sample.msd[merged]) - 100.0) < 15.0
        assert np.all(sample.label == 1)


def test_metadata_counts_pairs_and_dropped_jets(qcd_pair, zprime_pair):
    for nominal, alternate in (qcd_pair, zprime_pair):
        info = nominal.metadata["same_events"]
        counts = info["counts"]
        assert counts["pairs"] == len(nominal) and counts["events"] == nominal.metadata["n_events"]
        assert counts["nominal_selected"] == (
            counts["pairs"] + counts["partner_too_far"] + counts["nominal_without_partner_jet"]
        )
        assert info["nominal_dropped_fraction"] == pytest.approx(
            1 - len(nominal) / counts["nominal_selected"]
        )
        assert 0.0 <= info["alternate_dropped_fraction"] < 1.0
        assert nominal.metadata["config"]["variant"] == "nominal" and info["role"] == "nominal"
        assert alternate.metadata["config"]["variant"] == "fsr_had_alt"
        assert alternate.metadata["same_events"]["role"] == "alternate"
        assert "TimeShower:alphaSvalue = 0.150" in alternate.metadata["pythia_settings"]["shower"]
        assert "PartonLevel:all = off" in nominal.metadata["pythia_settings"]["hard_process"]
    # QCD: the two leading jets have equal pT at the hard level and often swap places.
    assert qcd_pair[0].metadata["same_events"]["counts"]["partner_too_far"] > 0


# --------------------------------------------------------------------------- the shared hard process
def _record(process):
    """(id, status, mothers, colours, scale, polarisation) and (px, py, pz, e) of every entry."""
    entries = [process[i] for i in range(process.size())]
    return [
        (
            (p.id(), p.status(), p.mother1(), p.mother2(), p.col(), p.acol(), p.scale(), p.pol()),
            (p.px(), p.py(), p.pz(), p.e()),
        )
        for p in entries
    ]


def test_showering_instances_use_the_hard_process_record():
    config = GenerationConfig(process="zprime", n_jets=3, seed=24, mass=100.0)
    showers = SharedShowers(config, "fsr_had_alt")
    showers.initialise(12345)
    for _ in range(3):
        hard = showers.hard_events(1)
        nominal, alternate = showers.shower(hard)
        records = [_record(showers.instances[role][0].process) for role in ("nominal", "alternate")]
        assert records[0] == records[1]  # bit-identical hard process in both showers
        expected = _record(showers.hard.process)
        assert [row[0] for row in records[0]] == [row[0] for row in expected]
        np.testing.assert_allclose([row[1] for row in records[0]], [row[1] for row in expected], rtol=1e-12)
        assert sum(row[0][0] == 23 for row in records[0]) == 1  # the boson and its decay came along
        assert len(nominal[0].prt) > 100 and len(alternate[0].prt) > 100  # showered and hadronised
        assert nominal[0].info.pT2Hat == alternate[0].info.pT2Hat


def test_a_shower_that_regenerated_the_hard_process_is_caught():
    kinematics = (0.1, 0.2, 250000.0, 1200.0)  # x1, x2, pT2Hat, mHat of the hard-process instance
    hard = [
        HardEvent(
            particles=(), scale=500.0, alpha_em=0.0078, alpha_s=0.1, id_x=(), pdf=(), kinematics=kinematics
        )
    ]
    info = dict(zip(CHECKED_INFO, kinematics))
    good = ak.Array([{"info": info}])
    check_shared_hard_process(hard, good, good)
    other = ak.Array([{"info": {**info, "pT2Hat": 260000.0}}])
    with pytest.raises(CodecJaxError, match="different hard-process pT2Hat"):
        check_shared_hard_process(hard, good, other)
    with pytest.raises(CodecJaxError, match="did not shower the shared hard process"):
        check_shared_hard_process(hard, other, other)
    failed = ak.Array([None, {"info": info}])[:1]  # a failed shower (None) is not compared
    check_shared_hard_process(hard, failed, good)


# --------------------------------------------------------------------------- reproducibility
def test_same_output_whatever_the_workers_and_shards(qcd_config, qcd_pair):
    for got, expected in zip(se.generate_same_events(qcd_config, "fsr_had_alt", workers=2), qcd_pair):
        _assert_samples_equal(got, expected)
    first, second = (se.generate_same_events(qcd_config, "fsr_had_alt", shard=(i, 2)) for i in range(2))
    for k in range(2):
        assert len(first[k]) == len(second[k]) == 5
        _assert_samples_equal(first[k], qcd_pair[k][:5])
        _assert_samples_equal(second[k], qcd_pair[k][5:])


def test_vincia_alternate_runs_quietly(capfd):
    config = GenerationConfig(process="qcd", n_jets=2, seed=25, events_per_batch=6)
    nominal, alternate = se.generate_same_events(config, "vincia")
    np.testing.assert_array_equal(nominal.extra["event"], alternate.extra["event"])
    assert "PartonShowers:model = 2" in alternate.metadata["pythia_settings"]["shower"]
    captured = capfd.readouterr()
    assert "VINCIA" not in captured.out and "PYTHIA" not in captured.out


# --------------------------------------------------------------------------- files and errors
def test_files_are_written_as_a_set_and_read_back(tmp_path, qcd_pair, zprime_pair):
    paths = tmp_path / "nominal.root", tmp_path / "alternate.root"
    assert se.write_same_events(*qcd_pair, *paths) == paths
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alternate.root", "nominal.root"]  # no leftovers
    nominal, alternate = se.read_same_events(*paths, max_particles=100)
    _assert_samples_equal(nominal, qcd_pair[0])
    _assert_samples_equal(alternate, qcd_pair[1])
    assert nominal.metadata["same_events"]["partner_file"] == "alternate.root"
    assert alternate.metadata["same_events"]["partner_file"] == "nominal.root"

    with pytest.raises(DataError, match="row 0 has event"):
        se.write_same_events(qcd_pair[0], qcd_pair[1][::-1], *paths)
    with pytest.raises(DataError, match="10 nominal jets but 30 alternate"):
        se.write_same_events(qcd_pair[0], zprime_pair[1], tmp_path / "a.root", tmp_path / "b.root")
    with pytest.raises(ConfigError, match="same file"):
        se.write_same_events(*qcd_pair, paths[0], paths[0])
    se.write_same_events(zprime_pair[0], zprime_pair[0], tmp_path / "z.root", tmp_path / "z2.root")
    with pytest.raises(DataError, match="nominal.root \\+ .*z.root"):
        se.read_same_events(paths[0], tmp_path / "z.root")


def test_bad_arguments_raise_clear_errors(qcd_config):
    with pytest.raises(ConfigError, match="alternate_variant must be one of"):
        se.generate_same_events(qcd_config, "herwig")
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        se.generate_same_events(qcd_config, "fsr_high", workers=0)
    with pytest.raises(ConfigError, match="has no chunks"):
        se.generate_same_events(qcd_config, "fsr_high", shard=(2, 3))


def test_command_line_writes_the_pair_of_files(tmp_path, capsys):
    from codec_jax.cli import main

    nominal, alternate = tmp_path / "qcd_nominal.root", tmp_path / "qcd_alt.root"
    argv = ["generate", "--process", "qcd", "--jets", "12", "--chunk-jets", "12", "--max-particles", "20"]
    argv += ["--seed", "5", "--no-progress", "--same-events-alternate", "fsr_had_alt"]
    assert main([*argv, "--out", str(nominal), "--alternate-out", str(alternate)]) == 0
    assert "row i of both" in capsys.readouterr().out
    a, b = se.read_same_events(nominal, alternate)
    assert len(a) == len(b) == 12
    np.testing.assert_array_equal(a.extra["event"], b.extra["event"])
    assert main([*argv, "--out", str(tmp_path / "x.root")]) == 2  # --alternate-out missing
