"""Config files written by an earlier version, and studies extended with more models or seeds:
fields added later read as their defaults; a study directory accepts changes only in the fields
that choose runs (EXTENSIBLE_FIELDS), and refuses the rest, naming them."""

import json

import pytest

from codec_jax import config as config_lib
from codec_jax.errors import ConfigError
from codec_jax.studies.common.cached_runs import prepare_study_dir
from codec_jax.studies.common.config import apply_study_overrides, load_study_config
from codec_jax.train.rundir import check_run_dir, write_config


def _without_alignment(values: dict) -> dict:
    loss = {k: v for k, v in values["loss"].items() if not k.startswith("alignment")}
    return {**values, "loss": loss}


def test_a_field_missing_from_an_old_config_reads_as_its_default():
    config = config_lib.Config()
    old = _without_alignment(json.loads(config_lib.to_json(config)))
    assert config_lib.same_config(old, config)
    assert not config_lib.same_config(old, config_lib.apply_overrides(config, ["loss.alignment=sinkhorn"]))
    assert config_lib.with_added_defaults(old, config)["loss"]["alignment_kwargs"] == {}


def test_a_run_written_before_a_field_existed_still_resumes(tmp_path):
    config = config_lib.Config()
    write_config(tmp_path, config)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_without_alignment(json.loads(path.read_text()))))
    assert check_run_dir(tmp_path, config, resume=True) == tmp_path
    with pytest.raises(ConfigError, match=r"loss.alignment'"):
        check_run_dir(tmp_path, config_lib.apply_overrides(config, ["loss.alignment=sinkhorn"]), resume=True)


def test_a_study_is_extended_by_models_and_seeds_but_not_by_other_fields(tmp_path):
    config = load_study_config("configs/mack.py", "smoke")
    assert prepare_study_dir(config, tmp_path) == []
    assert prepare_study_dir(config, tmp_path) == []
    more = apply_study_overrides(config, ["seeds=0,1", "pretrainings=aug_only,ot_align"])
    assert prepare_study_dir(more, tmp_path) == ["pretrainings", "seeds"]
    assert json.loads((tmp_path / "config.json").read_text())["seeds"] == [0, 1]
    for override, field in (("samples.n_jets=300", "samples"), ("alignment_weight=2", "alignment_weight")):
        with pytest.raises(ConfigError, match=rf"\['{field}'\] differ"):
            prepare_study_dir(apply_study_overrides(more, [override]), tmp_path)


def test_a_study_config_written_before_a_field_existed_is_the_same_study(tmp_path):
    config = load_study_config("configs/mack.py", "smoke")
    prepare_study_dir(config, tmp_path)
    path = tmp_path / "config.json"
    values = json.loads(path.read_text())
    for key in ("alignment", "alignment_weight", "alignment_kwargs"):
        del values[key]
    values["pretrain"] = _without_alignment(values["pretrain"])
    path.write_text(json.dumps(values))
    assert prepare_study_dir(config, tmp_path) == []
