"""Generate boosted-jet samples with Pythia 8 + FastJet: Z' (narrow or wide) signal and QCD.

A job of ``n_jets`` selected jets is cut into chunks of ``chunk_jets`` jets. Each chunk has its own
Pythia seed (derived from the job seed and the chunk index, all distinct, in 1..900000000), so:

* the output depends only on the job seed, never on ``workers`` or on how chunks were scheduled;
* ``--shard i/N`` runs chunks ``i, i + N, i + 2N, ...`` of the same job: the N shard files together
  hold exactly the jets of the unsharded job;
* :func:`generate_to_file` stores each finished chunk next to the output and reuses it when the
  same command is run again, so a crash loses at most the chunks in flight.

Per chunk: Pythia (``nextBatch``) -> :func:`codec_jax.data.jet_selection.select_jets` (FastJet
anti-kT, one call per batch of events) -> :mod:`codec_jax.data.substructure` on all constituents
-> a :class:`codec_jax.jets.JetSample` with absolute features ``(pt, eta, phi, energy)`` and up to
``max_particles`` pT-ordered constituents.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, as_completed
from importlib import metadata as importlib_metadata
from pathlib import Path

import awkward as ak
import numpy as np
from tqdm.auto import tqdm

from codec_jax.data.generation_plan import Chunk, GenerationConfig, parse_shard, plan_chunks
from codec_jax.data.io import read_root, write_root
from codec_jax.data.jet_selection import concatenate_selected, select_jets
from codec_jax.data.pythia_settings import DEFAULT_NARROW_MASS, VARIANTS, WIDE_MASS_RANGE
from codec_jax.data.substructure import jet_substructure
from codec_jax.errors import CodecJaxError, ConfigError, DataError
from codec_jax.faults import kill_point
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample, concatenate

__all__ = [
    "GenerationConfig",
    "Chunk",
    "ChunkResult",
    "plan_chunks",
    "generate_chunk",
    "generate",
    "generate_sample",
    "generate_to_file",
    "parse_shard",
]

#: A chunk gives up when its selection efficiency is hopeless (jets wanted x this, + 1000 events).
_MAX_EVENTS_PER_JET = 50


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    """A generated chunk and how it was made: ``n_events`` Pythia events up to the last kept jet,
    ``timings`` in seconds."""

    chunk: Chunk
    sample: JetSample
    n_events: int
    timings: dict[str, float]


# --------------------------------------------------------------------------- one chunk
_PYTHIA_CACHE: dict[tuple[str, ...], object] = {}


def _pythia_for(config: GenerationConfig, seed: int):
    """A Pythia instance initialised with ``seed``; the object is reused within a process."""
    lines = config.settings(seed)
    key = tuple(line for line in lines if not line.startswith("Random:seed"))
    pythia = _PYTHIA_CACHE.get(key)
    if pythia is None:
        pythia = _new_pythia(lines)
        _PYTHIA_CACHE.clear()  # keep one configuration per process
        _PYTHIA_CACHE[key] = pythia
    _initialise(pythia, seed, lines)
    return pythia


def _new_pythia(lines: list[str]):
    """A Pythia instance that has read ``lines`` (not initialised yet)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in lines:
        if not pythia.readString(line):
            raise ConfigError(f"Pythia rejected the setting {line!r}")
    return pythia


def _initialise(pythia, seed: int, lines: list[str]) -> None:
    """(Re-)initialise ``pythia`` with the random ``seed``, quietly; :class:`ConfigError` with the
    end of Pythia's log if it fails (``lines``: its settings, for the message)."""
    pythia.readString(f"Random:seed = {seed}")
    succeeded, log = _init_silently(pythia)
    if not succeeded:
        raise ConfigError(f"Pythia initialisation failed with settings {lines}; its log ends: {log[-2000:]}")


def _init_silently(pythia) -> tuple[bool, str]:
    """``pythia.init()`` with the C++ standard output captured (``Print:quiet`` does not silence
    the Vincia banner); returns (success, captured text)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 1)
        try:
            succeeded = pythia.init()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        log = capture.read().decode(errors="replace")
    return bool(succeeded), log


def _pad(values, width: int) -> np.ndarray:
    """Awkward ``[n, var]`` -> NumPy ``[n, width]`` float64, zero-padded or truncated."""

    return np.asarray(ak.fill_none(ak.pad_none(values, width, clip=True), 0.0), dtype=np.float64)


def _to_sample(config: GenerationConfig, selected, timings: dict[str, float]) -> JetSample:

    counts = np.asarray(ak.num(selected.constituents), dtype=np.int64)
    width = max(int(counts.max(initial=0)), config.max_particles)
    c = selected.constituents
    px, py, pz, energy = (_pad(c[name], width) for name in ("px", "py", "pz", "E"))
    mask = np.arange(width)[None, :] < counts[:, None]
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(mask, np.arcsinh(pz / np.where(mask, pt, 1.0)), 0.0)
    phi = np.where(mask, np.arctan2(py, px), 0.0)
    start = time.perf_counter()
    substructure = jet_substructure(pt, eta, phi, energy, mask)
    timings["substructure"] += time.perf_counter() - start
    keep = config.max_particles
    parts = np.stack([pt, eta, phi, energy], axis=-1)[:, :keep]
    jets = {
        "pt": selected.pt,
        "eta": selected.eta,
        "phi": selected.phi,
        "mass": selected.mass,
        **substructure,
        "n_particles": counts,
        "label": np.full(len(counts), config.label),
        "truth_mass": selected.truth_mass,
    }
    extra = {"truth_dr": selected.truth_dr.astype(np.float32)}
    return JetSample.from_arrays(parts, mask[:, :keep], ABSOLUTE_FEATURES, jets, extra=extra)


def _next_batch_size(
    config: GenerationConfig,
    chunk: Chunk,
    n_done: int,
    n_events: int,
    efficiency: float,
    what: str = "jets selected",
) -> int:
    """Events to generate next for the ``chunk.n_jets - n_done`` jets still missing, at the measured
    ``efficiency`` (jets per event); :class:`CodecJaxError` once ``n_events`` events were spent and
    the selection looks hopeless."""
    if n_events > _MAX_EVENTS_PER_JET * chunk.n_jets + 1000:
        raise CodecJaxError(
            f"only {n_done} {what} in {n_events} events (pt_min={config.pt_min} GeV, "
            f"pthat_min={config.pthat_min} GeV, eta_max={config.eta_max}): raise pthat_min or lower pt_min"
        )
    wanted = int(np.ceil((chunk.n_jets - n_done) / max(efficiency, 0.02) * 1.05)) + 2
    return min(wanted, config.events_per_batch)


def generate_chunk(config: GenerationConfig, chunk: Chunk) -> ChunkResult:
    """Generate one chunk in this process: exactly ``chunk.n_jets`` selected jets."""

    timings = {"pythia_init": 0.0, "pythia": 0.0, "fastjet": 0.0, "substructure": 0.0}
    start = time.perf_counter()
    pythia = _pythia_for(config, chunk.seed)
    timings["pythia_init"] = time.perf_counter() - start
    batches, batch_sizes, n_selected = [], [], 0
    efficiency = 0.9  # first guess (typical for the default cuts), then measured
    while n_selected < chunk.n_jets:
        size = _next_batch_size(config, chunk, n_selected, sum(batch_sizes), efficiency)
        start = time.perf_counter()
        events = pythia.nextBatch(size)
        timings["pythia"] += time.perf_counter() - start
        start = time.perf_counter()
        selected = select_jets(
            events,
            truth=config.process == "zprime",
            photon_recoil=config.recoil == "photon",
            radius=config.jet_radius,
            pt_min=config.pt_min,
            eta_max=config.eta_max,
        )
        timings["fastjet"] += time.perf_counter() - start
        batches.append(selected)
        batch_sizes.append(len(events))
        n_selected += len(selected)
        efficiency = n_selected / sum(batch_sizes)
    selected = concatenate_selected(batches, batch_sizes).head(chunk.n_jets)
    # Events after the last kept jet were generated but not needed: not counted.
    n_events = int(selected.event_index[-1]) + 1
    sample = _to_sample(config, selected, timings)
    return ChunkResult(chunk=chunk, sample=sample, n_events=n_events, timings=timings)


def _run_chunk(task: tuple[GenerationConfig, Chunk]) -> ChunkResult:
    return generate_chunk(*task)


# --------------------------------------------------------------------------- a whole job
def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("codec_jax", "pythia8mc", "fastjet", "awkward", "numpy", "uproot"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def _metadata(config: GenerationConfig, shard: tuple[int, int], results: list[ChunkResult]) -> dict:
    settings = [line for line in config.settings(config.seed) if not line.startswith("Random:seed")]
    n_events = sum(r.n_events for r in results)
    n_jets = sum(len(r.sample) for r in results)
    mass = config.mass
    if config.process == "zprime" and config.width_mode == "narrow" and mass is None:
        mass = DEFAULT_NARROW_MASS
    return {
        "generator": "codec_jax.data.generate (Pythia 8 + FastJet)",
        "config": {**dataclasses.asdict(config), "mass": mass},
        "wide_mass_range": list(WIDE_MASS_RANGE) if config.width_mode == "wide" else None,
        "variant_description": VARIANTS[config.variant].description,
        "pythia_settings": settings,
        "seed": config.seed,
        "shard": f"{shard[0]}/{shard[1]}",
        "chunk_seeds": {str(r.chunk.index): r.chunk.seed for r in results},
        "n_events": n_events,
        "selection_efficiency": n_jets / n_events if n_events else 0.0,
        "jets": "anti-kT E-scheme on visible final-state particles (no neutrinos), pT-ordered constituents",
        "substructure": "msd: soft drop beta=0 z_cut=0.1 R0=0.8 (C/A); n2: beta=1; tau21: beta=1, exclusive-kT axes",
        "caveat": "forced-width cross-sections are unphysical: never use them as weights",
        "versions": _versions(),
    }


def _run_chunks(
    config: GenerationConfig,
    chunks: list[Chunk],
    workers: int,
    progress: bool,
    run: Callable = _run_chunk,
    executor: Executor | None = None,
) -> Iterator:
    """Yield chunk results as they finish (any order): ``run((config, chunk))`` for each chunk,
    submitted to ``executor`` when given (a Dask cluster's, a process pool, ...), else in
    ``workers`` spawned processes if more than one (``run`` must then be picklable). Results need a
    ``chunk`` attribute (the progress bar counts its jets)."""

    bar = tqdm(total=sum(c.n_jets for c in chunks), unit="jet", disable=not progress, desc=config.process)
    try:
        if executor is not None:
            futures = [executor.submit(run, (config, chunk)) for chunk in chunks]
            for future in as_completed(futures):
                result = future.result()
                bar.update(result.chunk.n_jets)
                yield result
            return
        if workers == 1 or len(chunks) <= 1:
            for chunk in chunks:
                result = run((config, chunk))
                bar.update(result.chunk.n_jets)
                yield result
            return
        # "spawn": the parent may have JAX (threads) loaded; forking it is unsafe.
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(chunks))) as pool:
            for result in pool.imap_unordered(run, [(config, c) for c in chunks]):
                bar.update(result.chunk.n_jets)
                yield result
    finally:
        bar.close()


def _check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer; got {workers!r}")
    return workers


def _assemble(config: GenerationConfig, shard, results: list[ChunkResult]) -> JetSample:
    results = sorted(results, key=lambda r: r.chunk.index)
    sample = concatenate([r.sample for r in results])
    return sample.replace(metadata=_metadata(config, shard, results))


def generate(
    config: GenerationConfig,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = False,
    executor: Executor | None = None,
) -> tuple[JetSample, list[ChunkResult]]:
    """Run the chunks of ``shard`` in memory (on ``executor`` when given, e.g. a Dask cluster's:
    :mod:`codec_jax.executors`); returns the sample and the per-chunk results. The sample does
    not depend on where the chunks ran."""
    _check_workers(workers)
    chunks = plan_chunks(config, shard)
    if not chunks:
        raise ConfigError(f"shard {shard[0]}/{shard[1]} has no chunks: the job has fewer chunks than shards")
    results = list(_run_chunks(config, chunks, workers, progress, executor=executor))
    return _assemble(config, shard, results), results


def generate_sample(
    process: str,
    *,
    n_jets: int,
    seed: int = 1,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = False,
    **options,
) -> JetSample:
    """Generate a sample in memory.

    ``options`` are the remaining :class:`GenerationConfig` fields (``variant``, ``width_mode``,
    ``mass``, ``recoil``, ``pt_min``, ``eta_max``, ``jet_radius``, ``pthat_min``,
    ``max_particles``, ``chunk_jets``, ``events_per_batch``).

    Example::

        sample = generate_sample("zprime", n_jets=1000, mass=100.0, seed=7, workers=4)
        sample.parts.shape  # [1000, 100, 4]: pt, eta, phi, energy
    """
    try:
        config = GenerationConfig(process=process, n_jets=n_jets, seed=seed, **options)
    except TypeError as error:
        raise ConfigError(f"generate_sample: {error}") from None
    return generate(config, workers=workers, shard=shard, progress=progress)[0]


# --------------------------------------------------------------------------- to a file, resumable
def _chunk_dir(path: Path) -> Path:
    return path.with_name(path.name + ".chunks")


def generate_to_file(
    config: GenerationConfig,
    path: str | os.PathLike,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Generate and write a ROOT file atomically; resumable after a crash. The chunks run on
    ``executor`` when given (a Dask cluster's, a process pool, ...: :mod:`codec_jax.executors`),
    else in ``workers`` local processes; the file is the same either way.

    Each finished chunk is written to ``<path>.chunks/`` as soon as it is done; running the same
    job again reuses those chunks. The directory is removed once ``path`` is written. A chunk
    directory left by a *different* job raises :class:`ConfigError`; an empty one without its job
    description (a start killed before writing it) is taken as this job's own.
    """

    _check_workers(workers)
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"{path}: the output directory {path.parent} does not exist")
    chunks = plan_chunks(config, shard)
    if not chunks:
        raise ConfigError(f"shard {shard[0]}/{shard[1]} has no chunks: the job has fewer chunks than shards")
    chunk_dir = _chunk_dir(path)
    identity = json.dumps({"config": dataclasses.asdict(config), "shard": list(shard)}, sort_keys=True)
    identity_file = chunk_dir / "job.json"
    # A directory without job.json and without chunks is this job's own start, killed between
    # creating the directory and writing job.json (chunks are only written after job.json).
    unfinished_start = (
        chunk_dir.is_dir() and not identity_file.exists() and not any(chunk_dir.glob("chunk_*"))
    )
    if chunk_dir.exists() and not unfinished_start:
        if not identity_file.is_file() or identity_file.read_text() != identity:
            raise ConfigError(
                f"{chunk_dir} holds chunks of a different job; remove it or choose another output file"
            )
    else:
        chunk_dir.mkdir(exist_ok=True)
        tmp = identity_file.with_suffix(".tmp")
        tmp.write_text(identity)
        tmp.replace(identity_file)

    def chunk_file(chunk: Chunk) -> Path:
        return chunk_dir / f"chunk_{chunk.index:06d}_{chunk.seed}.root"

    results = []
    for chunk in chunks:
        if chunk_file(chunk).is_file():
            sample = read_root(chunk_file(chunk), max_particles=config.max_particles)
            events = int(sample.metadata.get("n_events", 0))
            results.append(
                ChunkResult(chunk=chunk, sample=sample.replace(metadata={}), n_events=events, timings={})
            )
    todo = [c for c in chunks if not chunk_file(c).is_file()]
    for result in _run_chunks(config, todo, workers, progress, executor=executor):
        write_root(result.sample.with_metadata(n_events=result.n_events), chunk_file(result.chunk))
        results.append(result)
        kill_point("generate:chunk_written")
    written = write_root(_assemble(config, shard, results), path)
    shutil.rmtree(chunk_dir)
    return written
