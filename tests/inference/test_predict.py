"""``codec-jax predict``: scores of a trained run on ROOT files, chunked, in input order.

The reference scores come from the parameters the training returned in memory, applied with
``model.apply`` to the whole sample read at once -- not through the checkpoint, the chunked
reader or the scorer that ``predict`` uses.
"""

import json

import numpy as np
import pytest
import uproot

from codec_jax import cli
from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import read_root, write_root
from codec_jax.data.pipeline import Standardizer, model_inputs
from codec_jax.errors import CheckpointError, ConfigError, DataError
from codec_jax.inference import expand_inputs, predict_files, read_run_items
from codec_jax.inference import predict as predict_module
from codec_jax.models import build_model
from codec_jax.train import finetune
from tests.helpers.train_toys import TINY, toy_sample

SIZES = (37, 52, 25)


@pytest.fixture(scope="module")
def ntuples(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    for index, n in enumerate(SIZES):
        write_root(toy_sample(10 + index, n=n, particles=8), root / f"part{index}.root")
    write_root(toy_sample(9, n=200, particles=8), root / "train.root")
    return root


def _config(ntuples, epochs=2):
    config = load_config("configs/example_finetune.py", "smoke")
    overrides = [
        *TINY,
        f"data.train={ntuples / 'train.root'}",
        "finetune.level=full",
        f"training.epochs={epochs}",
    ]
    return apply_overrides(config, overrides)


@pytest.fixture(scope="module")
def supervised(ntuples):
    """(run directory, the trained parameters as returned in memory)."""
    out = ntuples / "supervised"
    result = finetune(_config(ntuples), out)
    return out, result.state.params


def _reference(run_dir, params, path):
    """Logits and representation of every jet of ``path`` from the in-memory parameters."""
    items = read_run_items(run_dir)
    data = items["config"]["data"]
    sample = read_root(path, max_particles=data["max_particles"])
    arrays, _ = model_inputs(
        sample, inputs=data["inputs"], max_particles=data["max_particles"], jet_features=data["jet_features"]
    )
    mask = arrays["mask"]
    x = Standardizer.from_json(items["normalisation"]).apply(arrays["x"], mask)
    model = build_model(
        "deepsets",
        encoder_kwargs={"particle_dims": [8], "jet_dims": [8], "output_dim": 8},
        projector_dims=(8, 4),
        head_dims=(8,),
    )
    logits = model.apply({"params": params}, x, mask, method="classify")[:, 0]
    latent = model.apply({"params": params}, x, mask, method="embed")
    return np.asarray(logits), np.asarray(latent), sample


def _read(path):
    with uproot.open(path) as file:
        return file["scores"].arrays(library="np"), json.loads(str(file["metadata"]))


def test_scores_equal_the_trained_network_on_every_jet(supervised, ntuples, tmp_path):
    run_dir, params = supervised
    out = tmp_path / "one.root"
    summary = predict_files(
        run_dir, [ntuples / "part1.root"], out, latent=True, chunk_size=16, progress=False
    )
    scores, metadata = _read(out)
    logits, latent, sample = _reference(run_dir, params, ntuples / "part1.root")
    assert summary.n_jets == SIZES[1] == len(scores["score"])
    np.testing.assert_allclose(scores["score"], logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores["probability"], 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.stack([scores[f"latent_{i}"] for i in range(latent.shape[1])], axis=1),
        latent,
        rtol=1e-5,
        atol=1e-5,
    )
    assert summary.kind == "classifier" and metadata["loss"] == "bce" and metadata["entries"] == [SIZES[1]]
    assert np.array_equal(scores["entry"], np.arange(SIZES[1]))
    # the jets the network saw are the file's, in its order (a label-sensitive check of the order)
    assert np.array_equal(sample.label, read_root(ntuples / "part1.root").label)


def test_a_glob_equals_the_files_one_by_one_with_their_observers(supervised, ntuples, tmp_path):
    run_dir, _ = supervised
    whole = tmp_path / "glob.root"
    summary = predict_files(
        run_dir,
        [str(ntuples / "part*.root")],
        whole,
        observers=("jet_pt", "jet_msd", "label"),
        chunk_size=10,
        progress=False,
    )
    assert [path.name for path in summary.files] == ["part0.root", "part1.root", "part2.root"]
    assert summary.entries == SIZES
    together, _ = _read(whole)
    parts = []
    for index in range(3):
        one = tmp_path / f"file{index}.root"
        predict_files(run_dir, [ntuples / f"part{index}.root"], one, chunk_size=1000, progress=False)
        parts.append(_read(one)[0])
        with uproot.open(ntuples / f"part{index}.root") as file:
            inputs = file["jets"].arrays(["jet_pt", "jet_msd", "label"], library="np")
        rows = together["file_index"] == index
        for name, values in inputs.items():  # observers copied unchanged, in input order
            assert np.array_equal(together[name][rows], values)
    np.testing.assert_allclose(
        together["score"], np.concatenate([p["score"] for p in parts]), rtol=1e-6, atol=1e-6
    )
    assert np.array_equal(together["file_index"], np.repeat(np.arange(3), SIZES))


def test_memory_is_bounded_by_the_chunk(supervised, ntuples, tmp_path, monkeypatch):
    """No read holds more than ``chunk_size`` jets (the whole file is never read at once)."""
    run_dir, _ = supervised
    sizes = []
    original = predict_module.read_root

    def counting(*args, **kwargs):
        sample = original(*args, **kwargs)
        sizes.append(len(sample))
        return sample

    monkeypatch.setattr(predict_module, "read_root", counting)
    predict_files(run_dir, [ntuples / "part1.root"], tmp_path / "chunked.root", chunk_size=7, progress=False)
    assert max(sizes) <= 7 and sum(sizes[1:]) == SIZES[1]  # the first read is the 1-jet example


def test_the_command_line_writes_the_file(supervised, ntuples, tmp_path, capsys):
    run_dir, _ = supervised
    out = tmp_path / "cli.root"
    argv = ["predict", str(run_dir), "--data", str(ntuples / "part0.root"), str(ntuples / "part2.root")]
    assert cli.main([*argv, "--out", str(out), "--observers", "jet_msd", "--chunk", "20"]) == 0
    scores, metadata = _read(out)
    assert len(scores["score"]) == SIZES[0] + SIZES[2] and "jet_msd" in scores
    assert f"{SIZES[0] + SIZES[2]} jets from 2 file(s)" in capsys.readouterr().out
    assert metadata["files"][1].endswith("part2.root")


def test_a_pretraining_run_gives_its_representation_only(ntuples, tmp_path):
    out = tmp_path / "pretrain"
    argv = ["pretrain", "--config", "configs/example_pretrain.py", "--preset", "smoke", "--out", str(out)]
    for override in [
        *TINY,
        f"data.train={ntuples / 'train.root'}",
        "data.background_only=false",
        "training.epochs=1",
    ]:
        argv += ["--set", override]
    assert cli.main(argv) == 0
    with pytest.raises(ConfigError, match="pretraining run .*--latent"):
        predict_files(out, [ntuples / "part0.root"], tmp_path / "no.root", progress=False)
    assert not (tmp_path / "no.root").exists()
    predict_files(out, [ntuples / "part0.root"], tmp_path / "latent.root", latent=True, progress=False)
    scores, metadata = _read(tmp_path / "latent.root")
    assert "score" not in scores and metadata["kind"] == "pretraining"
    latent = np.stack([scores[f"latent_{i}"] for i in range(8)], axis=1)
    assert latent.shape == (SIZES[0], 8) and np.all(np.isfinite(latent)) and latent.std(axis=0).max() > 0


def test_bad_requests_are_clear_errors(supervised, ntuples, tmp_path):
    run_dir, _ = supervised
    part0 = ntuples / "part0.root"
    with pytest.raises(DataError, match="matches no file"):
        expand_inputs([str(ntuples / "nothing*.root")])
    with pytest.raises(DataError, match="no such input file"):
        expand_inputs([str(ntuples / "missing.root")])
    with pytest.raises(DataError, match=r"observer branch\(es\) \['jet_ptt'\] not in TTree"):
        predict_files(run_dir, [part0], tmp_path / "a.root", observers=("jet_ptt",), progress=False)
    with pytest.raises(DataError, match="'part_pt' is not a flat numeric branch"):
        predict_files(run_dir, [part0], tmp_path / "b.root", observers=("part_pt",), progress=False)
    with pytest.raises(ConfigError, match="would overwrite output branches"):
        predict_files(run_dir, [part0], tmp_path / "c.root", observers=("score",), progress=False)
    with pytest.raises(ConfigError, match="is the input .*part0.root: it would be overwritten"):
        predict_files(run_dir, [part0], part0, progress=False)
    with pytest.raises(CheckpointError):
        predict_files(tmp_path, [part0], tmp_path / "d.root", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written is left behind
    assert read_root(part0).n_jets == SIZES[0]  # the input is untouched
