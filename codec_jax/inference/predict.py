"""Apply a trained tagger to ntuples: ``codec-jax predict RUN --data FILES --out scores.root``.

The input files are ROOT files in codec_jax's schema (:mod:`codec_jax.data.io`, TTree ``jets``),
read ``chunk_size`` jets at a time, so memory does not grow with the file size. Each chunk is
prepared exactly as the run prepared its own jets (its input fields, ``max_particles`` and
feature standardisation, stored in the checkpoint) and scored in fixed-size batches.

Output: one ROOT file with a TTree ``scores``, one entry per input jet, in input order (files in
the order given, a glob's matches sorted by name):

=====================  =========  =====================================================
branch                 type       meaning
=====================  =========  =====================================================
``score``              float32    the head's output: the logit for a BCE tagger, the
                                  regressed value for a mass regression (classifier runs)
``probability``        float32    ``sigmoid(score)`` (runs trained with ``bce``)
``latent_0`` ...       float32    the encoder's representation, ``[d_repr]`` branches
                                  (``latent=True``; also for pretraining runs)
``file_index``         int32      position of the jet's file in ``files`` (metadata)
``entry``              int64      entry number of the jet in its file
``<observer>``         as input   each ``observers`` branch copied from the input
=====================  =========  =====================================================

The ``metadata`` TObjString holds the run directory, its loss and epoch, the input files and
their entry counts. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import uproot
from tqdm.auto import tqdm

from codec_jax.data.io import read_root, root_entries
from codec_jax.errors import ConfigError, DataError
from codec_jax.files import atomic_path, expand_paths, refuse_overwriting_inputs
from codec_jax.inference.export import OnnxTagger
from codec_jax.inference.scoring import ClassifierScorer
from codec_jax.inference.trained import TrainedRun, load_trained_run

__all__ = ["PredictionSummary", "expand_inputs", "predict_files"]

#: Branch names the output writes itself; an observer may not take one of them.
_RESERVED = ("score", "probability", "file_index", "entry")


@dataclasses.dataclass(frozen=True)
class PredictionSummary:
    """What :func:`predict_files` wrote: ``out``, the input ``files`` and their ``entries``, the
    output ``branches``, the run's ``kind`` and the ``seconds`` spent."""

    out: Path
    files: tuple[Path, ...]
    entries: tuple[int, ...]
    branches: tuple[str, ...]
    kind: str
    seconds: float

    @property
    def n_jets(self) -> int:
        return int(sum(self.entries))


def expand_inputs(patterns: Sequence[str | os.PathLike]) -> list[Path]:
    """Files from paths and glob patterns, in the order given (a pattern's matches sorted);
    :func:`codec_jax.files.expand_paths` for ``--data``.

    Raises:
        DataError: a pattern matches nothing, or a path is not a file.
        ConfigError: no input at all.
    """
    return expand_paths(patterns, what="--data")


def _observer_arrays(path: Path, tree: str, observers: Sequence[str], start: int, stop: int) -> dict:
    """The ``observers`` branches of entries ``[start, stop)``; flat numeric branches only."""

    if not observers:
        return {}
    with uproot.open(path) as file:
        ttree = file[tree]
        missing = [name for name in observers if name not in ttree.keys()]
        if missing:
            raise DataError(
                f"{path}: observer branch(es) {missing} not in TTree {tree!r} (found {sorted(ttree.keys())})"
            )
        arrays = ttree.arrays(list(observers), entry_start=start, entry_stop=stop, library="np")
    for name, values in arrays.items():
        if values.dtype.kind not in "fiub":
            raise DataError(
                f"{path}: observer branch {name!r} is not a flat numeric branch (dtype {values.dtype}); "
                "only one number per jet can be copied"
            )
    return arrays


def _chunks(entries: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, entries, chunk_size):
        yield start, min(start + chunk_size, entries)


def _chunk_branches(
    run: TrainedRun, scorer: ClassifierScorer, sample, *, latent: bool, onnx: OnnxTagger | None = None
) -> dict[str, np.ndarray]:
    """The prediction branches of one chunk of jets (the score, and for a pretraining run's ONNX
    export the latents, from ONNX Runtime when ``onnx`` is given)."""

    branches: dict[str, np.ndarray] = {}
    if run.kind == "classifier":
        score = onnx.outputs(sample) if onnx is not None else scorer.score(run.params, run.items, sample)
        branches["score"] = score.astype(np.float32)
        if run.loss_name == "bce":
            branches["probability"] = (1.0 / (1.0 + np.exp(-score))).astype(np.float32)
    if latent:
        from_onnx = onnx is not None and onnx.output == "latent"
        representation = onnx.outputs(sample) if from_onnx else scorer.embed(run.params, run.items, sample)
        for index in range(representation.shape[1]):
            branches[f"latent_{index}"] = representation[:, index].astype(np.float32)
    return branches


def _check_onnx(run: TrainedRun, onnx: OnnxTagger) -> None:
    expected = "score" if run.kind == "classifier" else "latent"
    if onnx.output != expected or onnx.max_particles != run.max_particles:
        raise ConfigError(
            f"{onnx.path} (output {onnx.output!r}, {onnx.max_particles} particles) is not an export of "
            f"{run.run_dir} (a {run.kind} run: {expected!r}, {run.max_particles} particles)"
        )


def _check_request(run: TrainedRun, observers: Sequence[str], latent: bool, chunk_size: int) -> None:
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    if run.kind == "pretraining" and not latent:
        raise ConfigError(
            f"{run.run_dir} is a pretraining run (loss {run.loss_name!r}): it has no trained head to "
            "score with; ask for its representation with --latent, or predict with a fine-tuned run"
        )
    clashes = [name for name in observers if name in _RESERVED or name.startswith("latent_")]
    if clashes:
        raise ConfigError(
            f"observer branch(es) {clashes} would overwrite output branches {_RESERVED} / latent_*"
        )
    if len(set(observers)) != len(observers):
        raise ConfigError(f"observer branches listed twice: {list(observers)}")


def predict_files(
    run_dir: str | os.PathLike,
    data: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    observers: Sequence[str] = (),
    latent: bool = False,
    chunk_size: int = 50_000,
    tree: str = "jets",
    batch_size: int = 512,
    progress: bool = True,
    onnx: str | os.PathLike | None = None,
) -> PredictionSummary:
    """Score every jet of ``data`` with the run in ``run_dir`` and write ``out`` (see the module
    docstring for the branches).

    Args:
        run_dir: a trained run directory (classifier, or pretraining with ``latent=True``).
        data: ROOT files or glob patterns (codec_jax schema, TTree ``tree``).
        out: the output ROOT file (written atomically; its folder is created).
        observers: flat input branches to copy, e.g. ``("jet_pt", "jet_msd")``.
        latent: also write the encoder's representation (``latent_<i>``).
        chunk_size: jets read and held in memory at a time.
        tree: the input TTree.
        batch_size: jets per network call (the last batch of a chunk is padded).
        progress: show a progress bar over the jets.
        onnx: score with this ONNX export of the run (:mod:`codec_jax.inference.export`) through
            ONNX Runtime instead of JAX (the same branches; latents of a classifier run still
            come from JAX).

    Raises:
        DataError: missing or unreadable input, schema errors (naming file and branch), a missing
            or non-numeric observer branch.
        ConfigError: a pretraining run without ``latent``, bad options.
        CheckpointError: ``run_dir`` holds no usable checkpoint.
    """

    start_time = time.perf_counter()
    files = expand_inputs(data)
    observers = tuple(observers)
    entries = tuple(root_entries(path, tree=tree) for path in files)
    run: TrainedRun | None = None
    scorer = ClassifierScorer(batch_size=batch_size)
    tagger = None if onnx is None else OnnxTagger(onnx, batch_size=batch_size)
    out = Path(out)
    refuse_overwriting_inputs(files, files=[out])
    written: tuple[str, ...] = ()
    bar = tqdm(total=sum(entries), unit="jet", desc="predict", disable=not progress)
    with atomic_path(out) as tmp, uproot.recreate(tmp) as output:
        for file_index, (path, n_entries) in enumerate(zip(files, entries, strict=True)):
            for start, stop in _chunks(n_entries, chunk_size):
                if run is None:
                    first = read_root(path, tree=tree, entry_start=0, entry_stop=1)
                    run = load_trained_run(run_dir, first)
                    _check_request(run, observers, latent, chunk_size)
                    if tagger is not None:
                        _check_onnx(run, tagger)
                sample = read_root(
                    path, max_particles=run.max_particles, tree=tree, entry_start=start, entry_stop=stop
                )
                branches = _chunk_branches(run, scorer, sample, latent=latent, onnx=tagger)
                branches["file_index"] = np.full(stop - start, file_index, np.int32)
                branches["entry"] = np.arange(start, stop, dtype=np.int64)
                branches.update(_observer_arrays(path, tree, observers, start, stop))
                if not written:
                    written = tuple(branches)
                    output.mktree("scores", {name: values.dtype for name, values in branches.items()})
                output["scores"].extend(branches)
                bar.update(stop - start)
        bar.close()
        if run is None:
            raise DataError(f"the input files {[str(p) for p in files]} hold no jets")
        output["metadata"] = json.dumps(
            {
                "run_dir": str(run.run_dir),
                "kind": run.kind,
                "loss": run.loss_name,
                "epoch": run.items.get("progress", {}).get("epoch"),
                "files": [str(path) for path in files],
                "entries": list(entries),
                "tree": tree,
                "onnx": None if onnx is None else str(onnx),
                "score": "head output (logit for bce)" if run.kind == "classifier" else None,
            }
        )
    return PredictionSummary(
        out=out,
        files=tuple(files),
        entries=entries,
        branches=written,
        kind=run.kind,
        seconds=time.perf_counter() - start_time,
    )
