"""Readers of the public jet sets on small synthetic files written in each schema (nothing is
downloaded), checked against NumPy computations of the same quantities, and read_root's aliases,
cut and optional fields."""

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from codec_jax.data.io import read_root, write_root
from codec_jax.data.public_sets import read_jetclass, read_jetclass2, read_top_tagging
from codec_jax.errors import DataError
from tests.helpers.public_sets import four_momenta, write_jetclass
from tests.helpers.samples import make_sample


def _leading_pt(counts, px, py):
    """NumPy reference: the constituents' pT per jet, sorted decreasing."""
    pt = np.hypot(px, py)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [np.sort(pt[s : s + c])[::-1] for s, c in zip(starts, counts)]


@pytest.fixture
def jetclass_file(tmp_path):
    path = tmp_path / "jetclass.root"
    written = write_jetclass(path, 20, seed=1)
    return path, written["branches"], written["counts"], (written["px"], written["py"]), written["classes"]


def test_jetclass(jetclass_file):
    path, branches, counts, (px, py), classes = jetclass_file
    sample = read_jetclass(path, max_particles=8)
    assert sample.parts.shape == (20, 8, 4) and sample.feature_names == ("pt", "eta", "phi", "energy")
    for jet, expected in enumerate(_leading_pt(counts, px, py)):
        np.testing.assert_allclose(sample.parts[jet, : min(8, len(expected)), 0], expected[:8], rtol=1e-6)
    np.testing.assert_array_equal(sample.label, (classes != 0).astype(int))
    np.testing.assert_array_equal(sample.extra["class_index"], classes)
    np.testing.assert_allclose(sample.msd, branches["jet_sdmass"], rtol=1e-6)
    np.testing.assert_allclose(sample.tau21, branches["jet_tau2"] / branches["jet_tau1"], rtol=1e-6)
    momentum = branches["jet_pt"] * np.cosh(branches["jet_eta"])
    np.testing.assert_allclose(sample.mass, np.sqrt(branches["jet_energy"] ** 2 - momentum**2), rtol=1e-5)
    top = read_jetclass(path, signal_classes=["Tbqq", "Tbl"])
    np.testing.assert_array_equal(top.label, np.isin(classes, [8, 9]).astype(int))


def test_jetclass2(tmp_path):
    rng = np.random.default_rng(2)
    n = 15
    counts, px, py, pz, energy = four_momenta(rng, n)
    table = ak.Array(
        {
            "part_px": ak.unflatten(px, counts),
            "part_py": ak.unflatten(py, counts),
            "part_pz": ak.unflatten(pz, counts),
            "part_energy": ak.unflatten(energy, counts),
            "jet_pt": rng.uniform(300, 900, n),
            "jet_eta": rng.uniform(-2, 2, n),
            "jet_phi": rng.uniform(-3, 3, n),
            "jet_energy": rng.uniform(1500, 2000, n),
            "jet_sdmass": rng.uniform(20, 300, n),
            "jet_label": rng.integers(0, 5, n),
        }
    )
    path = tmp_path / "Res2P_0000.parquet"
    ak.to_parquet(table, path)
    sample = read_jetclass2(path)
    assert sample.parts.shape[:2] == (n, counts.max())
    np.testing.assert_array_equal(sample.n_particles, counts)
    np.testing.assert_array_equal(sample.label, (ak.to_numpy(table["jet_label"]) != 0).astype(int))
    np.testing.assert_allclose(sample.msd, ak.to_numpy(table["jet_sdmass"]), rtol=1e-6)
    for jet, expected in enumerate(_leading_pt(counts, px, py)):
        np.testing.assert_allclose(sample.parts[jet, : len(expected), 0], expected, rtol=1e-6)
    ak.to_parquet(table[["part_px", "jet_pt"]], tmp_path / "other.parquet")
    with pytest.raises(DataError, match=r"not a JetClass-II file: missing \['part_py'"):
        read_jetclass2(tmp_path / "other.parquet")


def _write_top_tagging(path, four, is_top):
    """The pandas fixed layout: group 'table' with block0_items (names) and block0_values."""
    n_slots = four.shape[1]
    names = [f"{c}_{i}" for i in range(n_slots) for c in ("E", "PX", "PY", "PZ")] + ["is_signal_new"]
    values = np.concatenate([four.reshape(len(four), -1), is_top[:, None]], axis=1).astype(np.float32)
    with h5py.File(path, "w") as handle:
        group = handle.create_group("table")
        group["axis0"] = np.array(names, dtype="S")
        group["block0_items"] = np.array(names, dtype="S")
        group["block0_values"] = values


def test_top_tagging(tmp_path):
    rng = np.random.default_rng(3)
    n, slots = 10, 20
    four = np.zeros((n, slots, 4))
    counts = rng.integers(3, slots + 1, n)
    for jet, count in enumerate(counts):
        c, px, py, pz, energy = four_momenta(rng, 1, max_count=max(int(count), 3))
        k = int(c[0])
        four[jet, :k] = np.stack([energy, px, py, pz], axis=-1)
    is_top = rng.integers(0, 2, n).astype(float)
    path = tmp_path / "test.h5"
    _write_top_tagging(path, four, is_top)
    sample = read_top_tagging(path)
    np.testing.assert_array_equal(sample.label, is_top.astype(int))
    total = four.astype(np.float32).astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(sample.pt, np.hypot(total[:, 1], total[:, 2]), rtol=1e-6)
    np.testing.assert_allclose(
        sample.mass, np.sqrt(np.maximum(total[:, 0] ** 2 - (total[:, 1:] ** 2).sum(1), 0)), rtol=1e-4
    )
    real = four[..., 0] > 0
    np.testing.assert_array_equal(sample.n_particles, real.sum(axis=1))


def test_each_reader_refuses_a_file_of_another_schema(tmp_path):
    own = write_root(make_sample(n=5, p=4, seed=0), tmp_path / "own.root")
    with pytest.raises(DataError, match="not a JetClass file: no TTree 'tree' .*use read_root"):
        read_jetclass(own)
    with pytest.raises(DataError, match="not a readable parquet file"):
        read_jetclass2(own)
    with h5py.File(tmp_path / "jetnet.h5", "w") as handle:
        handle["particle_features"] = np.zeros((2, 3, 4))
    with pytest.raises(DataError, match="not a top-tagging file: .*use read_jetnet"):
        read_top_tagging(tmp_path / "jetnet.h5")


# --------------------------------------------------------------------------- your own ntuples
def _foreign_ntuple(tmp_path):
    """A file with codec_jax's particle branches but other jet branch names and no weight/truth."""
    sample = make_sample(n=30, p=6, seed=4)
    write_root(sample, tmp_path / "own.root")
    with uproot.open(tmp_path / "own.root") as file:
        arrays = file["jets"].arrays(library="ak")
    renamed = {name: arrays[name] for name in arrays.fields if name.startswith("part_")}
    renamed.update(
        fj_pt=ak.to_numpy(arrays["jet_pt"]),
        fj_eta=ak.to_numpy(arrays["jet_eta"]),
        fj_phi=ak.to_numpy(arrays["jet_phi"]),
        fj_sdmass=ak.to_numpy(arrays["jet_msd"]),
        fj_isZ=ak.to_numpy(arrays["label"]),
    )
    parts = ak.zip({key[5:]: renamed.pop(key) for key in list(renamed) if key.startswith("part_")})
    with uproot.recreate(tmp_path / "foreign.root") as file:
        file.mktree("jets", {"part": parts.type.content, **{k: v.dtype for k, v in renamed.items()}})
        file["jets"].extend({"part": parts, **renamed})
    return sample, tmp_path / "foreign.root"


def test_read_root_with_aliases_a_cut_and_optional_fields(tmp_path):
    sample, path = _foreign_ntuple(tmp_path)
    aliases = {
        "jet_pt": "fj_pt",
        "jet_eta": "fj_eta",
        "jet_phi": "fj_phi",
        "jet_msd": "fj_sdmass",
        "label": "fj_isZ",
    }
    optional = ("mass", "n2", "tau21", "n_particles", "truth_mass", "weight")
    with pytest.warns(UserWarning, match="missing; filled with defaults"):
        read = read_root(path, aliases=aliases, optional=optional)
    np.testing.assert_allclose(read.msd, sample.msd, rtol=1e-6)
    np.testing.assert_array_equal(read.label, sample.label)
    np.testing.assert_array_equal(read.weight, np.ones(len(sample)))
    assert set(read.metadata["filled_missing"]) == {
        "jet_mass",
        "jet_n2",
        "jet_tau21",
        "jet_nparts",
        "truth_mass",
        "weight",
    }
    threshold = float(np.median(sample.pt))
    with pytest.warns(UserWarning):
        selected = read_root(path, aliases=aliases, optional=optional, cut=f"fj_pt > {threshold!r}")
    kept = sample.pt[sample.pt.astype(np.float32) > np.float32(threshold)]
    assert 0 < len(selected) < len(sample) and selected.metadata["cut"].startswith("fj_pt")
    np.testing.assert_allclose(np.sort(selected.pt), np.sort(kept), rtol=1e-6)
    with pytest.raises(DataError, match=r"missing branch\(es\) \['jet_pt'"):
        read_root(path)
    with pytest.raises(DataError, match="cannot evaluate aliases .*no_such_branch"):
        read_root(path, aliases={**aliases, "jet_msd": "no_such_branch * 2"}, optional=optional)
