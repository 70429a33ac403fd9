"""Pretrain -> fine-tune through the CLI and the run functions, on small synthetic ROOT files.

The pretraining run goes through ``codec-jax pretrain``; the fine-tuning levels are checked on
the encoder parameters: restored bit for bit, unchanged when ``frozen``, changed by ``full``,
changed in epoch 1 only by ``epochs:1``.
"""

import json

import jax
import numpy as np
import pytest

from codec_jax import cli
from codec_jax.checkpoint import Checkpointer, restore_encoder
from codec_jax.config import apply_overrides, from_dict, load_config
from codec_jax.data.io import write_root
from codec_jax.errors import CheckpointError, ConfigError
from codec_jax.models import build_model
from codec_jax.pairing import PairSet, save_pairs
from codec_jax.train import create_state, finetune, finetune_optimizer, optimizer_from_config, pretrain
from tests.helpers.train_toys import TINY, toy_sample


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b), strict=True))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_data")
    write_root(toy_sample(0, n=160, particles=8), root / "train.root")
    return root


def _pretrain_argv(files, out):
    argv = ["pretrain", "--config", "configs/example_pretrain.py", "--preset", "smoke", "--out", str(out)]
    overrides = [
        *TINY,
        f"data.train={files / 'train.root'}",
        "data.background_only=false",
        "training.epochs=2",
    ]
    for override in overrides:
        argv += ["--set", override]
    return argv


@pytest.fixture(scope="module")
def pretrained(files):
    out = files / "pretrain"
    assert cli.main(_pretrain_argv(files, out)) == 0
    with Checkpointer(out / "checkpoints", read_only=True) as checkpointer:
        assert checkpointer.all_epochs() == [1, 2]
    return out


def _finetune_config(files, level, epochs=2):
    config = load_config("configs/example_finetune.py", "smoke")
    return apply_overrides(
        config,
        [*TINY, f"data.train={files / 'train.root'}", f"finetune.level={level}", f"training.epochs={epochs}"],
    )


@pytest.fixture(scope="module")
def saved_encoder(pretrained):
    """(encoder restored by restore_encoder, a fresh template of the same model)."""
    model = build_model(
        "deepsets",
        encoder_kwargs={"particle_dims": [8], "jet_dims": [8], "output_dim": 8},
        projector_dims=(8, 4),
        head_dims=(8,),
    )
    params = model.init(jax.random.key(5), np.zeros((1, 8, 3), np.float32), np.ones((1, 8), bool))["params"]
    restored, json_items = restore_encoder(pretrained, params)
    assert json_items["progress"]["epoch"] == 2
    assert _equal(restored["head"], params["head"])  # only the encoder subtree is replaced
    return restored["encoder"], params


def test_restored_encoder_equals_the_saved_one_bit_for_bit(pretrained, saved_encoder, files):
    encoder, template = saved_encoder
    # the whole saved state, read through the other restore path (the one --resume uses)
    config = from_dict(json.loads((pretrained / "config.json").read_text()))
    tx = optimizer_from_config(config.optimizer, steps_per_epoch=4, epochs=2)
    abstract = jax.eval_shape(lambda: create_state(template, tx))
    with Checkpointer(pretrained / "checkpoints", read_only=True) as checkpointer:
        saved = checkpointer.restore(abstract).state
    assert _equal(encoder, saved.params["encoder"])
    # frozen fine-tuning starts from it and never changes it
    result = finetune(_finetune_config(files, "frozen", epochs=1), files / "ft_frozen", pretrained=pretrained)
    assert _equal(result.state.params["encoder"], saved.params["encoder"])
    assert not _equal(result.state.params["head"], template["head"])
    resolved = json.loads((files / "ft_frozen" / "config.json").read_text())
    assert resolved["model"]["encoder_kwargs"]["output_dim"] == 8  # inherited from the pretraining run
    assert result.compilations == {"train": 1, "eval": 1}


def test_full_changes_the_encoder(pretrained, saved_encoder, files):
    encoder, _ = saved_encoder
    result = finetune(_finetune_config(files, "full", epochs=1), files / "ft_full", pretrained=pretrained)
    assert not _equal(result.state.params["encoder"], encoder)


def _saved_params(run_dir, epoch, template, level, steps_per_epoch):
    """Parameters of a fine-tuning run's checkpoint ``epoch`` (a full-state restore)."""
    config = from_dict(json.loads((run_dir / "config.json").read_text()))
    base = optimizer_from_config(config.optimizer, steps_per_epoch, config.training.epochs)
    tx = finetune_optimizer(base, level, steps_per_epoch)
    abstract = jax.eval_shape(lambda: create_state(template, tx))
    with Checkpointer(run_dir / "checkpoints", read_only=True) as checkpointer:
        return checkpointer.restore(abstract, epoch=epoch).state.params


def test_epochs_1_changes_the_encoder_in_epoch_1_only(pretrained, saved_encoder, files):
    encoder, template = saved_encoder
    out = files / "ft_epochs1"
    result = finetune(_finetune_config(files, "epochs:1", epochs=3), out, pretrained=pretrained)
    steps_per_epoch = result.history[0]["step"]
    after = {epoch: _saved_params(out, epoch, template, "epochs:1", steps_per_epoch) for epoch in (1, 2, 3)}
    assert not _equal(after[1]["encoder"], encoder)
    assert _equal(after[2]["encoder"], after[1]["encoder"])
    assert _equal(after[3]["encoder"], after[1]["encoder"])
    assert not _equal(after[2]["head"], after[1]["head"])  # the head keeps training
    assert not _equal(after[3]["head"], after[2]["head"])
    assert _equal(result.state.params["encoder"], after[1]["encoder"])


def test_wrong_or_missing_pretraining_directory_is_a_checkpoint_error(files, tmp_path):
    config = _finetune_config(files, "frozen")
    with pytest.raises(CheckpointError, match="does not exist"):
        finetune(config, tmp_path / "a", pretrained=tmp_path / "no_such_run")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoints/ subdirectory"):
        finetune(config, tmp_path / "b", pretrained=tmp_path / "empty_run")


def test_encoder_shape_mismatch_is_a_checkpoint_error(pretrained, saved_encoder):
    _, template = saved_encoder
    wider = jax.tree.map(lambda x: x, template)
    wider["encoder"]["output"]["kernel"] = np.zeros((8, 9), np.float32)
    with pytest.raises(
        CheckpointError, match=r"encoder/output/kernel has shape \(8, 8\) in the checkpoint but \(8, 9\)"
    ):
        restore_encoder(pretrained, wider)


def test_existing_run_directory_needs_resume(pretrained, capsys):
    argv = [
        "pretrain",
        "--config",
        "configs/example_pretrain.py",
        "--preset",
        "smoke",
        "--out",
        str(pretrained),
    ]
    assert cli.main(argv) == 2
    assert "already holds a run: pass --resume" in capsys.readouterr().err


def test_frozen_level_without_pretrained_encoder_is_rejected(files, tmp_path):
    with pytest.raises(ConfigError, match="needs a pretrained encoder"):
        finetune(_finetune_config(files, "frozen"), tmp_path / "run")


def test_pretraining_on_nominal_alternate_pairs(files, tmp_path):
    nominal = toy_sample(0, n=160, particles=8)  # the same jets as files/train.root
    write_root(toy_sample(1, n=120, particles=8), tmp_path / "alternate.root")
    rng = np.random.default_rng(0)
    nominal_index = rng.integers(0, 160, size=400)
    pairs = PairSet(nominal_index, rng.integers(0, 120, size=400), np.ones(400, np.float32), {"cutoff": 1.0})
    save_pairs(pairs, tmp_path / "pairs.npz")
    config = apply_overrides(
        load_config("configs/example_pretrain.py", "smoke"),
        [
            *TINY,
            f"data.train={files / 'train.root'}",
            f"data.alternate={tmp_path / 'alternate.root'}",
            f"data.pairs={tmp_path / 'pairs.npz'}",
            "data.background_only=true",
            "training.epochs=1",
        ],
    )
    result = pretrain(config, tmp_path / "run")
    n_background_pairs = int(np.sum(nominal.label[nominal_index] == 0))
    n_train = n_background_pairs - round(0.2 * n_background_pairs)
    assert result.history[0]["step"] == n_train // 32
    assert np.isfinite(result.history[0]["val/loss"])
    with pytest.raises(ConfigError, match="needs both data.alternate"):
        pretrain(apply_overrides(config, ["data.pairs="]), tmp_path / "run2")


class _Interrupt(Exception):
    pass


def _saved_pretrain_state(run_dir, template, epoch):
    config = from_dict(json.loads((run_dir / "config.json").read_text()))
    tx = optimizer_from_config(config.optimizer, steps_per_epoch=1, epochs=1)  # structure only
    abstract = jax.eval_shape(lambda: create_state(template, tx))
    with Checkpointer(run_dir / "checkpoints", read_only=True) as checkpointer:
        return checkpointer.restore(abstract, epoch=epoch).state


def test_cli_resume_after_an_interruption_matches_the_uninterrupted_run(pretrained, saved_encoder, files):
    _, template = saved_encoder
    out = files / "pretrain_interrupted"
    argv = _pretrain_argv(files, out)
    overrides = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
    config = apply_overrides(load_config("configs/example_pretrain.py", "smoke"), overrides)

    def stop(epoch, metrics):
        raise _Interrupt

    with pytest.raises(_Interrupt):
        pretrain(config, out, on_epoch_end=stop)
    assert cli.main([*argv, "--resume"]) == 0
    resumed = _saved_pretrain_state(out, template, 2)
    reference = _saved_pretrain_state(pretrained, template, 2)
    assert int(resumed.step) == int(reference.step)
    assert _equal(resumed.params, reference.params)
    assert _equal(resumed.opt_state, reference.opt_state)
    # a changed config cannot resume
    assert cli.main([*argv, "--resume", "--set", "training.epochs=3"]) == 2
