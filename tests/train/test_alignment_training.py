"""The distribution-alignment term in pretraining and supervised training, on small synthetic
ROOT files: metrics, the loss decomposition, the unpaired alternate stream and clear errors."""

import numpy as np
import pytest

from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import write_root
from codec_jax.data.pipeline import with_alternate_stream
from codec_jax.errors import ConfigError
from codec_jax.train import finetune, pretrain
from codec_jax.train.loop import METRICS_FILE, read_metrics
from tests.helpers.train_toys import TINY, toy_sample


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("alignment_data")
    write_root(toy_sample(0, n=160, particles=8), root / "nominal.root")
    alternate = toy_sample(1, n=96, particles=8)
    write_root(alternate, root / "alternate.root")
    return root


def _overrides(files, weight):
    return [
        *TINY,
        f"data.train={files / 'nominal.root'}",
        f"data.alternate={files / 'alternate.root'}",
        "data.background_only=false",
        "training.epochs=2",
        "loss.alignment=sinkhorn",
        f"loss.alignment_weight={weight}",
        'loss.alignment_kwargs={"epsilon": 0.1}',
    ]


def test_pretraining_adds_the_weighted_alignment_term(files, tmp_path):
    config = apply_overrides(load_config("configs/example_pretrain.py", "smoke"), _overrides(files, 3.0))
    pretrain(config, tmp_path / "run")
    records = read_metrics(tmp_path / "run" / METRICS_FILE)
    assert len(records) == 2
    for record in records:
        assert record["train/alignment"] > 0
        # epoch means of a sum: loss = contrastive + weight * alignment
        np.testing.assert_allclose(
            record["train/loss"],
            record["train/contrastive_loss"] + 3.0 * record["train/alignment"],
            rtol=1e-4,
        )
        np.testing.assert_allclose(
            record["val/loss"], record["val/contrastive_loss"] + 3.0 * record["val/alignment"], rtol=1e-4
        )


def test_supervised_training_adds_the_alignment_term(files, tmp_path):
    config = apply_overrides(
        load_config("configs/example_finetune.py", "smoke"), [*_overrides(files, 0.5), "finetune.level=full"]
    )
    finetune(config, tmp_path / "run")
    record = read_metrics(tmp_path / "run" / METRICS_FILE)[-1]
    assert record["train/alignment"] > 0
    np.testing.assert_allclose(
        record["train/loss"], record["train/task_loss"] + 0.5 * record["train/alignment"], rtol=1e-4
    )


def test_zero_weight_trains_exactly_like_no_alignment(files, tmp_path):
    base = apply_overrides(load_config("configs/example_pretrain.py", "smoke"), _overrides(files, 0.0))
    plain = apply_overrides(base, ["loss.alignment=none", "data.alternate="])
    aligned = pretrain(base, tmp_path / "aligned")
    reference = pretrain(plain, tmp_path / "plain")
    a = read_metrics(tmp_path / "aligned" / METRICS_FILE)
    b = read_metrics(tmp_path / "plain" / METRICS_FILE)
    assert [r["train/contrastive_loss"] for r in a] == [r["train/loss"] for r in b]
    assert aligned.best_epoch == reference.best_epoch


def test_alignment_without_an_alternate_sample_is_refused(files, tmp_path):
    config = apply_overrides(
        load_config("configs/example_pretrain.py", "smoke"), [*_overrides(files, 1.0), "data.alternate="]
    )
    with pytest.raises(ConfigError, match="set data.alternate"):
        pretrain(config, tmp_path / "run")
    with pytest.raises(ConfigError, match="loss.alignment_weight=-1"):
        pretrain(
            apply_overrides(
                config, [f"data.alternate={files / 'alternate.root'}", "loss.alignment_weight=-1"]
            ),
            tmp_path / "run2",
        )


def test_the_alternate_stream_draws_every_alternate_jet_before_repeating():
    arrays = {"x": np.arange(10.0)}
    alternate = {"x": np.arange(100.0, 104.0), "mask": np.arange(4) % 2 == 0}
    stream = with_alternate_stream(arrays, alternate, seed=3)
    assert set(stream) == {"x", "x_alt", "mask_alt"}
    drawn = stream["x_alt"]
    assert len(drawn) == 10
    for start in (0, 4):  # each block of 4 rows is a permutation of the alternate jets
        assert sorted(drawn[start : start + 4]) == [100.0, 101.0, 102.0, 103.0]
    np.testing.assert_array_equal(stream["mask_alt"], alternate["mask"][(drawn - 100).astype(int)])
    np.testing.assert_array_equal(with_alternate_stream(arrays, alternate, seed=3)["x_alt"], drawn)
