"""Throughput of ``codec-jax predict`` (jets/s) against reading the same files alone.

Writes ``--files`` synthetic ROOT files of ``--jets`` jets each (30 particles), trains a supervised
tagger for one epoch per encoder (Deep Sets and the MACK Interaction Network, default sizes), then
times, in the same run:

* reading: the chunked ROOT reader alone (the floor any prediction pays);
* scoring: the network on the jets already in memory (``ClassifierScorer``);
* predict: the whole command (read, prepare, score, write ``scores`` with two observers).

* onnxruntime: the same network exported with ``codec-jax export`` (when the export environment
  exists, ``make export-env``), scored by ONNX Runtime on the jets in memory (``OnnxTagger``) and
  through ``predict --onnx``.
Prints jets/s of each and the ratio predict / reading (how much the network costs on top of the
I/O), and ONNX Runtime / JAX. Usage::

    python benchmarks/predict.py [--jets 20000] [--files 2] [--chunk 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from codec_jax.config import Config, DataConfig, FinetuneConfig, LossConfig, ModelConfig, TrainingConfig
from codec_jax.data.io import read_root, root_entries, write_root
from codec_jax.data.synthetic import make_jets
from codec_jax.errors import ConfigError
from codec_jax.inference import ClassifierScorer, load_trained_run, predict_files
from codec_jax.inference.export import OnnxTagger, export_onnx, export_python
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample
from codec_jax.train import finetune

PARTICLES = 30


def synthetic_sample(seed: int, n_jets: int) -> JetSample:
    """Absolute-feature jets: two-prong "signal" (label 1) and one-prong-ish "background"."""
    rng = np.random.default_rng(seed)
    pt, xy = make_jets(rng, n_jets, PARTICLES)
    jet_eta = rng.uniform(-1.5, 1.5, n_jets).astype(np.float32)
    eta = np.where(pt > 0, xy[..., 0] + jet_eta[:, None], 0.0)
    phi = np.where(pt > 0, xy[..., 1], 0.0)
    energy = pt * np.cosh(eta)
    parts = np.stack([pt, eta, phi, energy], axis=-1).astype(np.float32)
    label = rng.integers(0, 2, n_jets)
    jets = {"pt": pt.sum(axis=1), "eta": jet_eta, "msd": rng.uniform(40, 200, n_jets), "label": label}
    return JetSample.from_arrays(parts, pt > 0, ABSOLUTE_FEATURES, jets)


def train_tagger(folder: Path, encoder: str, train_file: Path) -> Path:
    config = Config(
        name=f"predict_bench_{encoder}",
        model=ModelConfig(encoder=encoder, head_dims=(64, 32)),
        data=DataConfig(train=(str(train_file),), max_particles=PARTICLES, target="label"),
        loss=LossConfig(name="bce"),
        training=TrainingConfig(epochs=1, batch_size=256, progress=False, devices=1),
        finetune=FinetuneConfig(level="full"),
    )
    out = folder / encoder
    finetune(config, out)
    return out


def whole_predict(run_dir: Path, files: list[Path], out: Path, chunk: int, onnx: Path | None = None):
    """``predict_files`` with two observers (JAX, or ONNX Runtime with ``onnx``)."""
    return predict_files(
        run_dir,
        [str(path) for path in files],
        out,
        observers=("jet_pt", "jet_msd"),
        chunk_size=chunk,
        progress=False,
        onnx=onnx,
    )


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} jets/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000, help="jets per input file")
    parser.add_argument("--files", type=int, default=2, help="input files")
    parser.add_argument("--chunk", type=int, default=10_000, help="jets read at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [
            write_root(synthetic_sample(i, args.jets), folder / f"in{i}.root") for i in range(args.files)
        ]
        train_file = write_root(synthetic_sample(99, 4_000), folder / "train.root")
        n_total = args.files * args.jets
        print(f"{args.files} files x {args.jets} jets, {PARTICLES} particles, chunk {args.chunk}")
        start = time.perf_counter()
        for path in files:
            for first in range(0, root_entries(path), args.chunk):
                read_root(path, max_particles=PARTICLES, entry_start=first, entry_stop=first + args.chunk)
        reading = time.perf_counter() - start
        print(f"reading only: {rate(n_total, reading)}")
        for encoder in ("deepsets", "interaction"):
            run_dir = train_tagger(folder, encoder, train_file)
            sample = read_root(files[0], max_particles=PARTICLES)
            run = load_trained_run(run_dir, sample)
            scorer = ClassifierScorer()
            scorer.score(run.params, run.items, sample[:512])  # compile
            start = time.perf_counter()
            scorer.score(run.params, run.items, sample)
            scoring = time.perf_counter() - start
            summary = whole_predict(run_dir, files, folder / f"scores_{encoder}.root", args.chunk)
            print(
                f"{encoder:12s} scoring in memory: {rate(len(sample), scoring)}; predict (read + score + "
                f"write, incl. loading and compiling): {rate(summary.n_jets, summary.seconds)}; "
                f"predict / reading only = {(n_total / summary.seconds) / (n_total / reading):.2f}"
            )
            try:
                export_python()
            except ConfigError as error:
                print(f"{encoder:12s} onnxruntime: skipped ({error})")
                continue
            onnx_path, _ = export_onnx(run_dir, folder / f"{encoder}.onnx")
            tagger = OnnxTagger(onnx_path)
            tagger.outputs(sample[:512])
            start = time.perf_counter()
            tagger.outputs(sample)
            onnx_scoring = time.perf_counter() - start
            onnx_summary = whole_predict(
                run_dir, files, folder / f"scores_{encoder}_onnx.root", args.chunk, onnx_path
            )
            print(
                f"{encoder:12s} onnxruntime in memory: {rate(len(sample), onnx_scoring)} "
                f"({scoring / onnx_scoring:.2f}x JAX); predict --onnx: {rate(onnx_summary.n_jets, onnx_summary.seconds)}"
            )


if __name__ == "__main__":
    main()
