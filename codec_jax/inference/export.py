"""``codec-jax export RUN --out tagger.onnx``: a trained network as ONNX, for ONNX Runtime in
experiment software (CMSSW, Athena), and ``codec-jax predict RUN --onnx tagger.onnx`` to check it.

The graph (converted by jax2onnx in its own environment, :mod:`codec_jax.models.onnx`) takes the
raw relative features and the mask and bakes in the run's feature standardisation:

* ``particles [batch, P, 3]`` float32: ``pt_rel`` (constituent pT / jet pT), ``eta_rel``
  (constituent eta - jet eta), ``phi_rel`` (constituent phi - jet phi, wrapped into [-pi, pi)) of
  the P leading constituents by pT, zero-padded -- :func:`codec_jax.data.pipeline.particle_inputs`;
* ``mask [batch, P]`` float32: 1 for a real constituent, 0 for padding;
* output ``score [batch]``: the head's output (the logit of a BCE tagger; probability =
  sigmoid(score)), or ``latent [batch, d]`` for a pretraining run (the encoder's representation).

A sidecar ``tagger.json`` records these names, the feature definitions, P, the standardisation,
the run and its epoch. The export environment is found through ``CODEC_JAX_EXPORT_PYTHON`` (a
Python executable) or ``.venv-export/bin/python`` in the working directory (``make
export-env`` creates it: jax2onnx pins orbax-checkpoint < 0.11.37, older than codec_jax uses).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import codec_jax
from codec_jax.data.pipeline import particle_inputs
from codec_jax.data.synthetic import make_jets, relative_sample
from codec_jax.errors import ConfigError, DataError
from codec_jax.files import atomic_path, refuse_overwriting_inputs
from codec_jax.inference.scoring import read_run_items
from codec_jax.inference.trained import load_trained_run
from codec_jax.jets import RELATIVE_FEATURES, JetSample
from codec_jax.models.onnx import flatten_params

__all__ = ["EXPORT_PYTHON_VARIABLE", "DEFAULT_OPSET", "export_python", "export_onnx", "OnnxTagger"]

EXPORT_PYTHON_VARIABLE = "CODEC_JAX_EXPORT_PYTHON"
#: ONNX opset of the exported graphs (ONNX Runtime >= 1.14 runs it).
DEFAULT_OPSET = 18
_FEATURE_DEFINITIONS = {
    "pt_rel": "constituent pT / jet pT",
    "eta_rel": "constituent eta - jet eta",
    "phi_rel": "constituent phi - jet phi, wrapped into [-pi, pi)",
}


def export_python() -> str:
    """The Python executable of the export environment (``CODEC_JAX_EXPORT_PYTHON``, else
    ``.venv-export/bin/python``), checked to import jax2onnx.

    Raises:
        ConfigError: no such executable, or it cannot import jax2onnx (the message says how to
            create the environment).
    """
    python = os.environ.get(EXPORT_PYTHON_VARIABLE) or str(Path(".venv-export") / "bin" / "python")
    how = (
        "ONNX export runs jax2onnx in its own environment (it pins orbax-checkpoint < 0.11.37): "
        f"create it with `make export-env`, or point {EXPORT_PYTHON_VARIABLE} at a Python with "
        "jax, flax and jax2onnx"
    )
    if not Path(python).is_file():
        raise ConfigError(f"{python} does not exist. {how}")
    check = subprocess.run([python, "-c", "import jax2onnx"], capture_output=True, text=True)
    if check.returncode != 0:
        raise ConfigError(f"{python} cannot import jax2onnx. {how}")
    return python


def _example(max_particles: int) -> JetSample:
    """Two synthetic jets: enough to initialise a particle network of ``max_particles``."""
    pt, xy = make_jets(np.random.default_rng(0), 2, max_particles)
    return relative_sample(pt, xy)


def export_onnx(
    run_dir: str | os.PathLike, out: str | os.PathLike, *, opset: int = DEFAULT_OPSET
) -> tuple[Path, Path]:
    """Export the trained network of ``run_dir`` to ``out`` (ONNX) and ``out`` with ``.json``
    (the sidecar); both written atomically. Returns the two paths.

    Raises:
        ConfigError: a run on jet-level inputs (only particle networks are exported), no export
            environment.
        CheckpointError: ``run_dir`` holds no usable checkpoint.
        DataError: the conversion failed (the converter's last message is quoted).
    """
    out = Path(out)
    sidecar = out.with_suffix(".json")
    refuse_overwriting_inputs([run_dir], files=[out, sidecar])
    items = read_run_items(run_dir)
    data = items["config"]["data"]
    if data["inputs"] != "particles":
        raise ConfigError(
            f"{run_dir} reads jet-level features (data.inputs={data['inputs']!r}); "
            "export supports particle networks (data.inputs='particles')"
        )
    python = export_python()
    run = load_trained_run(run_dir, _example(int(data["max_particles"])))
    output = "score" if run.kind == "classifier" else "latent"
    spec = {
        "model": items["config"]["model"],
        "mean": list(map(float, items["normalisation"]["mean"])),
        "std": list(map(float, items["normalisation"]["std"])),
        "max_particles": int(data["max_particles"]),
        "output": output,
        "opset": int(opset),
    }
    with tempfile.TemporaryDirectory(prefix="codec_jax_export_") as spec_dir:
        (Path(spec_dir) / "spec.json").write_text(json.dumps(spec))
        np.savez(Path(spec_dir) / "params.npz", **flatten_params(run.params))
        with atomic_path(out) as tmp:
            env = {**os.environ, "PYTHONPATH": str(Path(codec_jax.__file__).resolve().parents[1])}
            result = subprocess.run(
                [python, "-m", "codec_jax.models.onnx", spec_dir, str(tmp)],
                capture_output=True,
                text=True,
                env=env,
            )
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise DataError(f"ONNX export of {run_dir} failed: {last}")
    description = {
        "format": "codec_jax ONNX tagger",
        "inputs": {
            "particles": {
                "shape": ["batch", spec["max_particles"], len(RELATIVE_FEATURES)],
                "dtype": "float32",
                "features": {name: _FEATURE_DEFINITIONS[name] for name in RELATIVE_FEATURES},
                "order": "constituents sorted by decreasing pT, zero-padded",
            },
            "mask": {
                "shape": ["batch", spec["max_particles"]],
                "dtype": "float32",
                "meaning": "1 = real particle",
            },
        },
        "output": {
            output: "head output: the logit for a BCE tagger (probability = sigmoid)"
            if output == "score"
            else "encoder representation"
        },
        "max_particles": spec["max_particles"],
        "standardisation": {"mean": spec["mean"], "std": spec["std"], "applied": "inside the graph"},
        "run_dir": str(Path(run_dir).resolve()),
        "epoch": items.get("progress", {}).get("epoch"),
        "loss": items["config"]["loss"]["name"],
        "opset": spec["opset"],
    }
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(description, indent=1))
    return out, sidecar


class OnnxTagger:
    """An exported tagger run by ONNX Runtime on :class:`JetSample` chunks.

    Args:
        path: the ``.onnx`` file of :func:`export_onnx`.
        batch_size: jets per session call.
    """

    def __init__(self, path: str | os.PathLike, batch_size: int = 512) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ConfigError(
                "predicting with --onnx needs onnxruntime: pip install 'codec_jax[onnx]'"
            ) from None
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such ONNX file")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise DataError(
                f"{self.path}: not a loadable ONNX model ({' '.join(str(error).split())[:200]})"
            ) from None
        inputs = {node.name: node.shape for node in self.session.get_inputs()}
        if set(inputs) != {"particles", "mask"}:
            raise DataError(f"{self.path}: expected inputs 'particles' and 'mask', found {sorted(inputs)}")
        self.max_particles = int(inputs["mask"][1])
        self.output = self.session.get_outputs()[0].name
        self.batch_size = batch_size

    def outputs(self, sample: JetSample) -> np.ndarray:
        """``[n_jets]`` scores (or ``[n_jets, d]`` latents) of ``sample``, float64."""
        x, mask = particle_inputs(sample, self.max_particles)
        x, mask = x.astype(np.float32), mask.astype(np.float32)
        results = [
            self.session.run(
                None, {"particles": x[i : i + self.batch_size], "mask": mask[i : i + self.batch_size]}
            )[0]
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(results).astype(np.float64)
