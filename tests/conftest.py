"""Test set-up: 8 fake CPU devices (set before JAX is imported) and shared small samples."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import dataclasses  # noqa: E402
import fcntl  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def codec_smoke_cache(tmp_path_factory):
    """A generation cache holding the CoDec smoke samples (``CodecSamplesConfig.smoke()``) and
    the small QCD sculpting sample of the tagging study's smoke preset.

    The directory sits next to the per-worker temporary roots, so pytest-xdist workers share it;
    a file lock makes the first worker generate while the others wait, then reuse the files.
    """
    from pathlib import Path

    from codec_jax.studies import load_study_config
    from codec_jax.studies.common.codec_samples import CodecSamplesConfig, raw_samples, sculpting_sample

    root = tmp_path_factory.getbasetemp().parent
    cache = root / "codec_smoke_cache"
    tagging = load_study_config(Path(__file__).resolve().parents[1] / "configs" / "codec_tagging.py", "smoke")
    with open(root / "codec_smoke_cache.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            raw_samples(dataclasses.replace(CodecSamplesConfig.smoke(), cache_dir=str(cache)), progress=False)
            sculpting_sample(dataclasses.replace(tagging.samples, cache_dir=str(cache)), progress=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return cache
