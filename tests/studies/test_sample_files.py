"""The MACK and CoDec studies read their samples from public-set files or your own ntuples
through config (samples.source / samples.files): labels by role, seeded subsets, clear errors."""

import numpy as np
import pytest

from codec_jax.data.io import write_root
from codec_jax.data.public_sets import read_jetclass
from codec_jax.errors import ConfigError
from codec_jax.studies.common.codec_samples import raw_samples
from codec_jax.studies.common.config import apply_study_overrides, load_study_config
from codec_jax.studies.mack.samples import study_samples
from tests.helpers.public_sets import write_jetclass
from tests.helpers.samples import make_sample


def test_mack_reads_jetclass_files_through_its_config(tmp_path):
    overrides = ["samples.source=jetclass", "samples.n_jets=25"]
    for index, name in enumerate(("zprime_nominal", "zprime_alternate", "qcd_nominal", "qcd_alternate")):
        classes = np.full(30, 6 if name.startswith("zprime") else 0)  # Zqq files and QCD files
        write_jetclass(tmp_path / f"{name}.root", 30, seed=index, classes=classes)
        overrides.append(f"samples.files.{name}={tmp_path / f'{name}.root'}")
    config = apply_study_overrides(load_study_config("configs/mack.py", "smoke"), overrides)
    loaded = study_samples(config.samples)
    for name, sample in loaded.items():
        assert len(sample) == 25 and sample.parts.shape[1] == config.samples.max_particles
        assert (sample.label == int(name.startswith("zprime"))).all()
        full = read_jetclass(tmp_path / f"{name}.root", max_particles=config.samples.max_particles)
        assert np.isin(sample.pt, full.pt).all()  # a subset of the file's jets, unchanged
    missing = apply_study_overrides(config, ["samples.files={}"])
    with pytest.raises(ConfigError, match=r"needs samples.files paths for \['zprime_nominal'"):
        study_samples(missing.samples)


def test_codec_reads_its_samples_from_root_files(tmp_path):
    config = load_study_config("configs/codec_tagging.py", "smoke")
    files = {}
    for index, name in enumerate(("wide", "qcd", *(f"narrow_{m:g}" for m in config.samples.peaky_masses))):
        files[name] = str(write_root(make_sample(n=80, p=6, seed=index), tmp_path / f"{name}.root"))
    overrides = ["samples.source=root", *[f"samples.files.{k}={v}" for k, v in files.items()]]
    config = apply_study_overrides(config, overrides)
    raw = raw_samples(config.samples, names=["wide", "qcd"])
    for name, splits in raw.items():
        jets = sum(len(split) for split in splits.values())
        assert jets == min(80, config.samples.n_wide if name == "wide" else config.samples.n_qcd)
        assert all((split.label == int(name != "qcd")).all() for split in splits.values())
    with pytest.raises(ConfigError, match="samples.source='hepdata'"):
        raw_samples(apply_study_overrides(config, ["samples.source=hepdata"]).samples)
