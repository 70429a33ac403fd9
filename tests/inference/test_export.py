"""ONNX export (``codec-jax export``) against JAX: the same scores through ONNX Runtime to 1e-5
for Deep Sets, the Interaction Network and ParT, latents of a pretraining run, the sidecar, and
clear errors. The export runs in the export environment (``make export-env``; ``make test``
creates it and sets CODEC_JAX_REQUIRE_EXPORT=1, so there a missing environment fails)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot

from codec_jax.cli import main
from codec_jax.config import apply_overrides, load_config
from codec_jax.data.io import write_root
from codec_jax.errors import ConfigError
from codec_jax.inference.export import EXPORT_PYTHON_VARIABLE, export_onnx
from codec_jax.train import finetune, pretrain
from tests.helpers.train_toys import TINY, toy_sample

REPO = Path(__file__).resolve().parents[2]
HAVE_EXPORT_ENV = (REPO / ".venv-export" / "bin" / "python").is_file() or bool(
    os.environ.get(EXPORT_PYTHON_VARIABLE)
)
pytestmark = pytest.mark.skipif(
    not HAVE_EXPORT_ENV and not os.environ.get("CODEC_JAX_REQUIRE_EXPORT"),
    reason="no export environment (make export-env)",
)

ENCODERS = {
    "deepsets": 'model.encoder_kwargs={"particle_dims": [8], "jet_dims": [8], "output_dim": 8}',
    "interaction": 'model.encoder_kwargs={"edge_dims": [8], "node_dims": [8], "jet_dims": [8], "output_dim": 8}',
    "part": 'model.encoder_kwargs={"embed_dim": 8, "num_heads": 2, "num_layers": 1, "num_class_layers": 1, "mlp_dim": 16, "pair_dims": [8], "output_dim": 8}',
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    write_root(toy_sample(20, n=200, particles=8), root / "train.root")
    write_root(toy_sample(21, n=150, particles=8), root / "test.root")
    return root


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # .venv-export is found relative to the working directory


def _classifier(data: Path, encoder: str) -> Path:
    out = data / f"classifier_{encoder}"
    if not out.exists():
        config = load_config("configs/example_finetune.py", "smoke")
        overrides = [
            *TINY,
            f"model.encoder={encoder}",
            ENCODERS[encoder],
            f"data.train={data / 'train.root'}",
        ]
        finetune(apply_overrides(config, [*overrides, "finetune.level=full", "training.epochs=1"]), out)
    return out


def _pretrained(data: Path, out: Path) -> Path:
    config = load_config("configs/example_pretrain.py", "smoke")
    overrides = [
        *TINY,
        f"data.train={data / 'train.root'}",
        "data.background_only=false",
        "training.epochs=1",
    ]
    pretrain(apply_overrides(config, overrides), out)
    return out


def _predict(run: Path, data: Path, out: Path, *extra: str) -> int:
    """``codec-jax predict RUN`` on the test file; returns the exit status."""
    return main(["predict", str(run), "--data", str(data / "test.root"), "--out", str(out), *extra])


def _scores(path: Path, branch: str = "score") -> np.ndarray:
    with uproot.open(path) as file:
        return file["scores"][branch].array(library="np")


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_onnx_scores_equal_jax_scores(data, tmp_path, encoder):
    run = _classifier(data, encoder)
    onnx_path = tmp_path / "tagger.onnx"
    assert main(["export", str(run), "--out", str(onnx_path)]) == 0
    assert _predict(run, data, tmp_path / "jax.root") == 0
    assert _predict(run, data, tmp_path / "onnx.root", "--onnx", str(onnx_path)) == 0
    jax_scores, onnx_scores = _scores(tmp_path / "jax.root"), _scores(tmp_path / "onnx.root")
    assert len(jax_scores) == 150 and np.std(jax_scores) > 0
    np.testing.assert_allclose(onnx_scores, jax_scores, atol=1e-5, rtol=0)
    sidecar = json.loads((tmp_path / "tagger.json").read_text())
    assert sidecar["inputs"]["particles"]["shape"] == ["batch", 8, 3]
    assert list(sidecar["inputs"]["particles"]["features"]) == ["pt_rel", "eta_rel", "phi_rel"]
    assert sidecar["max_particles"] == 8 and "score" in sidecar["output"]


def test_a_pretraining_run_exports_its_latent_space(data, tmp_path):
    run = _pretrained(data, tmp_path / "pretrain")
    onnx_path, sidecar = export_onnx(run, tmp_path / "encoder.onnx")
    assert "latent" in json.loads(sidecar.read_text())["output"]
    assert _predict(run, data, tmp_path / "jax.root", "--latent") == 0
    assert _predict(run, data, tmp_path / "onnx.root", "--latent", "--onnx", str(onnx_path)) == 0
    for index in range(8):
        np.testing.assert_allclose(
            _scores(tmp_path / "onnx.root", f"latent_{index}"),
            _scores(tmp_path / "jax.root", f"latent_{index}"),
            atol=1e-5,
        )


def test_clear_errors(data, tmp_path, monkeypatch, capsys):
    run = _classifier(data, "deepsets")
    latent_onnx, _ = export_onnx(_pretrained(data, tmp_path / "pre"), tmp_path / "latent.onnx")
    # an export of another run with another output is refused before scoring
    assert _predict(run, data, tmp_path / "o.root", "--onnx", str(latent_onnx)) == 2
    assert "is not an export of" in capsys.readouterr().err
    monkeypatch.setenv(EXPORT_PYTHON_VARIABLE, str(tmp_path / "no_python"))
    with pytest.raises(ConfigError, match="make export-env"):
        export_onnx(run, tmp_path / "t.onnx")
