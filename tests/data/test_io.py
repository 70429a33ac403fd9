"""ROOT and JetNet I/O: exact round trips, schema checks, atomic writes."""

import json

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from codec_jax.data.io import read_jetnet, read_root, write_jetnet, write_root
from codec_jax.errors import DataError
from codec_jax.jets import JET_FIELDS, JetSample
from tests.helpers.samples import make_sample


@pytest.fixture
def sample():
    return make_sample(n=50, p=12, seed=5).with_metadata(process="test", seed=5)


def test_root_round_trip_is_exact(tmp_path, sample):
    path = write_root(sample, tmp_path / "s.root")
    back = read_root(path)
    assert back.parts.shape == sample.parts.shape
    np.testing.assert_array_equal(back.parts, sample.parts)
    np.testing.assert_array_equal(back.mask, sample.mask)
    for field in JET_FIELDS:
        np.testing.assert_array_equal(getattr(back, field), getattr(sample, field), err_msg=field)
    np.testing.assert_array_equal(back.extra["truth_dr"], sample.extra["truth_dr"])
    assert back.metadata["process"] == "test" and back.metadata["seed"] == 5
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_read_with_padding_and_truncation(tmp_path, sample):
    path = write_root(sample, tmp_path / "s.root")
    wide = read_root(path, max_particles=20)
    np.testing.assert_array_equal(wide.parts[:, :12], sample.parts)
    narrow = read_root(path, max_particles=3)
    np.testing.assert_array_equal(narrow.parts, sample.parts[:, :3])
    assert len(read_root(path, entry_stop=7)) == 7


def test_relative_sample_written_as_absolute(tmp_path, sample):
    rel = sample.to_relative()
    back = read_root(write_root(rel, tmp_path / "r.root")).to_relative()
    np.testing.assert_allclose(back.parts, rel.parts, atol=2e-5)


def _rewrite_without(tmp_path, sample, drop=None, replace=None):
    """Write a file with the standard schema but one branch dropped or replaced."""
    write_root(sample, tmp_path / "good.root")
    with uproot.open(tmp_path / "good.root") as file:
        arrays = file["jets"].arrays(library="ak")
    fields = {name: arrays[name] for name in arrays.fields if name != "npart"}
    if drop:
        fields.pop(drop)
    if replace:
        fields.update(replace)
    part = ak.zip({key[5:]: fields.pop(key) for key in list(fields) if key.startswith("part_")})
    out = tmp_path / "bad.root"
    with uproot.recreate(out) as file:
        file.mktree(
            "jets", {"part": part.type.content, **{k: ak.to_numpy(v).dtype for k, v in fields.items()}}
        )
        file["jets"].extend({"part": part, **{k: ak.to_numpy(v) for k, v in fields.items()}})
    return out


def test_missing_branch_is_named(tmp_path, sample):
    path = _rewrite_without(tmp_path, sample, drop="jet_msd")
    with pytest.raises(DataError, match=r"bad\.root.*jet_msd"):
        read_root(path)


def test_nan_and_wrong_dtype_are_named(tmp_path, sample):
    bad_mass = sample.mass.copy()
    bad_mass[3] = np.nan
    path = _rewrite_without(tmp_path, sample, replace={"jet_mass": bad_mass})
    with pytest.raises(DataError, match=r"jet_mass.*NaN"):
        read_root(path)
    path = _rewrite_without(tmp_path, sample, replace={"label": np.where(sample.label == 1, 1.5, 0.5)})
    with pytest.raises(DataError, match=r"label.*integer"):
        read_root(path)


def test_empty_missing_and_non_root_files(tmp_path, sample):
    with pytest.raises(DataError, match="no such file"):
        read_root(tmp_path / "absent.root")
    (tmp_path / "text.root").write_text("not root")
    with pytest.raises(DataError, match="not a readable ROOT file"):
        read_root(tmp_path / "text.root")
    empty = write_root(sample[np.zeros(len(sample), bool)], tmp_path / "empty.root")
    with pytest.raises(DataError, match="no entries"):
        read_root(empty)
    with pytest.raises(DataError, match="no TTree named 'other'"):
        read_root(write_root(sample, tmp_path / "s.root"), tree="other")


def test_failed_write_leaves_nothing(tmp_path, sample):
    bad = sample.replace(extra={"matrix": np.zeros((len(sample), 2))})
    with pytest.raises(DataError, match="matrix"):
        write_root(bad, tmp_path / "x.root")
    assert list(tmp_path.iterdir()) == []


def test_metadata_is_json(tmp_path, sample):
    path = write_root(sample.with_metadata(settings=["a = 1", "b = 2"]), tmp_path / "m.root")
    with uproot.open(path) as file:
        assert json.loads(str(file["metadata"]))["settings"] == ["a = 1", "b = 2"]


def test_jetnet_round_trip_and_labels(tmp_path, sample):
    rel = sample.to_relative()
    path = write_jetnet(rel, tmp_path / "w.hdf5", jet_type=3)
    back = read_jetnet(path)
    np.testing.assert_allclose(back.parts, rel.parts, atol=1e-6)
    np.testing.assert_array_equal(back.mask, rel.mask)
    np.testing.assert_allclose(back.pt, rel.pt, rtol=1e-6)
    assert np.all(back.label == 1) and np.all(back.extra["jet_type"] == 3)
    q = read_jetnet(write_jetnet(rel, tmp_path / "q.hdf5", jet_type=1))
    assert np.all(q.label == 0)
    assert np.all(read_jetnet(path, label=0).label == 0)
    assert read_jetnet(path, max_particles=30).parts.shape == (len(rel), 30, 3)


def test_jetnet_sorts_unordered_particles(tmp_path):
    particles = np.zeros((2, 4, 4), np.float32)
    particles[0, :3] = [[0.1, 0.0, 0.2, 1], [0.0, 0.1, 0.5, 1], [0.2, 0.2, 0.3, 1]]
    particles[1, :2] = [[0.0, 0.0, 0.4, 1], [0.1, 0.1, 0.6, 1]]
    jets = np.array([[3, 500, 0.1, 80, 3], [3, 600, -0.2, 90, 2]], np.float32)
    with h5py.File(tmp_path / "u.h5", "w") as handle:
        handle["particle_features"] = particles
        handle["jet_features"] = jets
    sample = read_jetnet(tmp_path / "u.h5")
    np.testing.assert_allclose(sample.feature("pt_rel")[0, :3], [0.5, 0.3, 0.2])
    np.testing.assert_allclose(sample.feature("eta_rel")[0, :3], [0.0, 0.2, 0.1])
    assert sample.mask.tolist() == [[True, True, True, False], [True, True, False, False]]


def test_jetnet_bad_layout(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as handle:
        handle["particle_features"] = np.zeros((3, 4, 4))
    with pytest.raises(DataError, match="jet_features"):
        read_jetnet(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "nan.h5", "w") as handle:
        handle["particle_features"] = np.full((3, 4, 4), np.nan)
        handle["jet_features"] = np.zeros((3, 5))
    with pytest.raises(DataError, match="particle_features.*NaN"):
        read_jetnet(tmp_path / "nan.h5")


def _with_particle(tmp_path, sample, branch, jet, value):
    """The sample's file with ``branch`` of the first constituent of ``jet`` set to ``value``."""
    with uproot.open(write_root(sample, tmp_path / "good.root")) as file:
        values = file["jets"].arrays([branch], library="ak")[branch]
    flat = ak.to_numpy(ak.flatten(values)).copy()
    flat[int(ak.sum(ak.num(values, axis=1)[:jet]))] = value
    return _rewrite_without(tmp_path, sample, replace={branch: ak.unflatten(flat, ak.num(values, axis=1))})


@pytest.mark.parametrize(
    ("branch", "value", "message"),
    [
        ("part_pt", -3.0, r"'part_pt' has a negative value \(-3\) in jet 7"),
        ("part_energy", -1.0, r"'part_energy' has a negative value \(-1\) in jet 7"),
        ("part_energy", 1e-3, r"'part_energy': energy 0.001 below \|p\| .* in jet 7"),
    ],
)
def test_unphysical_constituents_are_refused_naming_branch_and_jet(tmp_path, sample, branch, value, message):
    with pytest.raises(DataError, match=message):
        read_root(_with_particle(tmp_path, sample, branch, 7, value))


def test_negative_jet_pt_and_empty_jets(tmp_path, sample):
    jet_pt = sample.pt.copy()
    jet_pt[11] = -5.0
    with pytest.raises(DataError, match=r"'jet_pt' is negative \(-5\) in jet 11"):
        read_root(_rewrite_without(tmp_path, sample, replace={"jet_pt": jet_pt}))
    empty = sample.mask.copy()
    empty[[4, 9]] = False  # two jets without constituents
    hollow = JetSample.from_arrays(
        sample.parts * empty[..., None],
        empty,
        sample.feature_names,
        {f: getattr(sample, f) for f in JET_FIELDS},
    )
    path = write_root(hollow, tmp_path / "hollow.root")
    with pytest.raises(DataError, match=r"jet 4 has no constituents .*2 such jets.*drop_empty=True"):
        read_root(path)
    kept = read_root(path, drop_empty=True)
    assert len(kept) == len(sample) - 2 and kept.metadata["dropped_empty_jets"] == 2
    np.testing.assert_array_equal(kept.pt, np.delete(sample.pt, [4, 9]))
    with pytest.raises(DataError, match=r"jet 9 has no constituents"):  # entry numbers count from the file
        read_root(path, entry_start=5, entry_stop=20)
