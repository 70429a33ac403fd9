"""Config files, presets, typed dotted overrides, unknown keys and the JSON round trip."""

import json

import pytest

from codec_jax.config import Config, apply_overrides, from_dict, load_config, to_json
from codec_jax.errors import ConfigError


def test_example_configs_load_with_and_without_preset():
    full = load_config("configs/example_pretrain.py")
    smoke = load_config("configs/example_pretrain.py", "smoke")
    assert isinstance(full, Config) and full.model.encoder == "interaction"
    assert smoke.model.encoder == "deepsets" and smoke.training.epochs == 3
    finetune = load_config("configs/example_finetune.py", "smoke")
    assert finetune.finetune.level == "epochs:1" and finetune.loss.name == "bce"
    with pytest.raises(ConfigError, match="no preset 'huge'"):
        load_config("configs/example_pretrain.py", "huge")


def test_overrides_are_parsed_by_field_type():
    config = load_config("configs/example_pretrain.py")
    new = apply_overrides(
        config,
        [
            "training.epochs=3",
            "optimizer.learning_rate=2e-4",
            "training.progress=false",
            "data.train=a.root, b.root",
            "model.projector_dims=[32, 16]",
            "model.encoder_kwargs.output_dim=8",
            'loss.augmentation_kwargs={"smear": {"strength": 0.2}}',
            "loss.augmentation_kwargs.smear.pt_scale=1000",
            "name=my run",
        ],
    )
    assert new.training.epochs == 3 and isinstance(new.training.epochs, int)
    assert new.optimizer.learning_rate == pytest.approx(2e-4)
    assert new.training.progress is False
    assert new.data.train == ("a.root", "b.root")
    assert new.model.projector_dims == (32, 16)
    assert new.model.encoder_kwargs == {"output_dim": 8}
    assert new.loss.augmentation_kwargs == {"smear": {"strength": 0.2, "pt_scale": 1000}}
    assert new.name == "my run"
    assert config.training.epochs == 50 and config.data.train != new.data.train  # the original is untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epoch=3", "unknown config key 'training.epoch'"),
        ("trainer.epochs=3", "unknown config section 'trainer'"),
        ("training.epochs=three", "'training.epochs' expects an int"),
        ("training.epochs=2.5", "'training.epochs' expects an int"),
        ("optimizer.learning_rate=fast", "'optimizer.learning_rate' expects a float"),
        ("training.progress=maybe", "'training.progress' expects a bool"),
        ("model.projector_dims=a,b", r"'model.projector_dims\[0\]' expects an int"),
        ("model.encoder_kwargs=[1]", "'model.encoder_kwargs' expects a mapping"),
        ("training.epochs", "must look like section.field=value"),
        ("training.epochs.x=1", "is not a mapping"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), [override])


def test_json_round_trip_and_unknown_fields():
    config = apply_overrides(load_config("configs/example_finetune.py"), ["model.head_dims=8,4"])
    text = to_json(config)
    assert from_dict(json.loads(text)) == config
    with pytest.raises(ConfigError, match="unknown config key 'model.depth'"):
        from_dict({"model": {"depth": 3}})


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.py")
    no_function = tmp_path / "no_function.py"
    no_function.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="must define get_config"):
        load_config(no_function)
    wrong_type = tmp_path / "wrong_type.py"
    wrong_type.write_text("def get_config(preset=None):\n    return {'epochs': 3}\n")
    with pytest.raises(ConfigError, match="returned dict"):
        load_config(wrong_type)


def test_a_typo_in_a_config_file_is_an_error_not_ignored(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(
        "from codec_jax.config import Config\n"
        "def get_config(preset=None):\n"
        "    config = Config()\n"
        "    config.training.epochz = 3\n"
        "    return config\n"
    )
    with pytest.raises(ConfigError, match="TrainingConfig has no field 'epochz'"):
        load_config(path)
    from codec_jax.studies import load_study_config

    study = load_study_config("configs/mack.py", "smoke")
    with pytest.raises(ConfigError, match="SamplesConfig has no field 'n_jetz'"):
        study.samples.n_jetz = 10
    study.samples.n_jets = 10  # a real field is still assignable
    assert study.samples.n_jets == 10


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=0", r"training.epochs=0 is out of range: expected >= 1"),
        ("training.epochs=-1", r"training.epochs=-1 is out of range"),
        ("training.seed=-1", r"training.seed=-1 is out of range: expected >= 0"),
        ("training.batch_size=0", r"training.batch_size=0"),
        (
            "data.validation_fraction=1.5",
            r"data.validation_fraction=1.5 is out of range: expected in \[0, 1\)",
        ),
        ("optimizer.learning_rate=-0.001", r"optimizer.learning_rate=-0.001 is out of range: expected >= 0"),
    ],
)
def test_values_out_of_range_are_refused_before_training(override, message, tmp_path):
    from codec_jax.config import check_values
    from codec_jax.train import pretrain

    config = apply_overrides(load_config("configs/example_pretrain.py", "smoke"), [override])
    with pytest.raises(ConfigError, match=message):
        check_values(config)
    with pytest.raises(ConfigError, match=message):  # the engine checks before touching any file
        pretrain(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    check_values(load_config("configs/example_pretrain.py", "smoke"))  # the example is in range
