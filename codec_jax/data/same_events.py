"""Same-hard-event nominal/alternate samples: every nominal jet has a known alternate partner.

For robustness studies (MACK: oracle positive pairs, how often EMD pairing finds the true partner)
the nominal and the alternate simulation shower and hadronise the *same* hard-scattering events
(:mod:`codec_jax.data.shared_hard_process`: one Pythia instance makes the hard process incl. the
Z' decay, two instances shower it with ``config.variant`` and ``alternate_variant``).

Selection, per event and per shower exactly as :mod:`codec_jax.data.generate` (FastJet anti-kT
via :func:`~codec_jax.data.jet_selection.select_jets`: at most one jet per event, the jet closest
to the boson for a Z', the leading jet for QCD; substructure, absolute features, ``truth_dr``).
A nominal and an alternate jet of the same event form a pair if their axes are closer than
``jet_radius / 2`` in (eta, phi) (phi wrapped). Jets without a partner -- only one shower selects a
jet, or the two selected jets are further apart (for QCD mostly the two leading jets swapping
places: the hard partons have equal pT, so about half of the QCD events) -- are dropped from both
samples; ``metadata["same_events"]`` counts them and gives the dropped fractions.

Output: two :class:`~codec_jax.jets.JetSample` of equal length, row ``i`` of both is one pair,
ordered by event. Extra per-jet fields (same values in both samples):

* ``event`` (int64): ``chunk index * 2**32 + hard event index within the chunk``, unique in a job;
* ``hard_parton_pt`` (float64): pT-hat of the hard 2 -> 2 process [GeV] (the pT of both outgoing
  partons / of the boson), read from each shower's own event info and checked to be bit-identical;
* ``hard_parton_id`` (int32): PDG id of the outgoing hard-process particle the nominal jet is
  matched to (the boson, 23, for a Z'; for QCD the parton nearest to the nominal jet axis);
* ``pair_dr`` (float32): the (eta, phi) distance between the nominal and alternate jet axes.

Chunks and seeds as in :mod:`codec_jax.data.generate` (``plan_chunks``: ``chunk_jets`` *pairs*
per chunk, the seeds hashed from the job seed), so the output depends only on ``config`` and
``alternate_variant``, never on ``workers`` or ``shard``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path

import awkward as ak
import numpy as np

from codec_jax.data.generate import (
    ChunkResult,
    _check_workers,
    _metadata,
    _next_batch_size,
    _run_chunks,
    _to_sample,
)
from codec_jax.data.generation_plan import Chunk, GenerationConfig, plan_chunks
from codec_jax.data.io import read_root, write_root
from codec_jax.data.jet_selection import SelectedJets, concatenate_selected, select_jets
from codec_jax.data.pythia_settings import VARIANTS, check_choice
from codec_jax.data.shared_hard_process import ROLES, HardEvent, SharedShowers, shared_showers, shower_seed
from codec_jax.errors import CodecJaxError, ConfigError, DataError
from codec_jax.jets import JetSample, concatenate, wrap_phi

__all__ = [
    "EVENT_STRIDE",
    "PAIR_FIELDS",
    "PairedChunkResult",
    "generate_same_events_chunk",
    "generate_same_events",
    "generate_same_events_to_files",
    "write_same_events",
    "read_same_events",
]

#: ``event = chunk index * EVENT_STRIDE + hard event index within the chunk``.
EVENT_STRIDE = 2**32
#: Extra fields a same-event sample carries (besides ``truth_dr``), equal in both samples.
PAIR_FIELDS: tuple[str, ...] = ("event", "hard_parton_pt", "hard_parton_id", "pair_dr")
#: First guess of pairs per hard event (then measured): QCD loses about half to leading-jet swaps.
_FIRST_EFFICIENCY = {"qcd": 0.5, "zprime": 0.85}
_BOSON_ID = 23
_PHOTON_ID = 22


@dataclasses.dataclass(frozen=True)
class PairedChunkResult:
    """A generated chunk: ``nominal[i]`` and ``alternate[i]`` are a pair; ``n_events`` hard events
    up to the last kept pair; ``counts`` of selected, paired and dropped jets; ``timings`` [s]."""

    chunk: Chunk
    nominal: JetSample
    alternate: JetSample
    n_events: int
    counts: dict[str, int]
    timings: dict[str, float]


@dataclasses.dataclass(frozen=True)
class _Batch:
    """The pairs of one batch of hard events, and per event which shower selected a jet."""

    jets: tuple[SelectedJets, SelectedJets]
    extra: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]


# --------------------------------------------------------------------------- one batch
def _select(config: GenerationConfig, events: ak.Array) -> SelectedJets:
    """``select_jets`` on the events that did not fail (None); ``event_index`` counts all events."""
    valid = np.asarray(~ak.is_none(events, axis=0))
    selected = select_jets(
        ak.drop_none(events, axis=0),
        truth=config.process == "zprime",
        photon_recoil=config.recoil == "photon",
        radius=config.jet_radius,
        pt_min=config.pt_min,
        eta_max=config.eta_max,
    )
    return dataclasses.replace(selected, event_index=np.flatnonzero(valid)[selected.event_index])


def _hard_parton_id(config: GenerationConfig, hard: HardEvent, eta: float, phi: float) -> int:
    """The outgoing hard-process particle a jet at (eta, phi) belongs to: the boson for a Z', else
    the nearest outgoing parton (photons excluded)."""
    if config.process == "zprime":
        return _BOSON_ID
    outgoing = [p for p in hard.particles if p[2] == 3 and p[0] != _PHOTON_ID]  # mother1 = entry 3

    def distance(particle) -> float:
        px, py, pz = particle[6:9]
        return float(np.hypot(np.arcsinh(pz / np.hypot(px, py)) - eta, wrap_phi(np.arctan2(py, px) - phi)))

    return int(min(outgoing, key=distance)[0])


def _pair_batch(config: GenerationConfig, hard: list[HardEvent], events: tuple[ak.Array, ak.Array]) -> _Batch:
    nominal, alternate = (_select(config, batch) for batch in events)
    _, i_nom, i_alt = np.intersect1d(
        nominal.event_index, alternate.event_index, assume_unique=True, return_indices=True
    )
    dr = np.hypot(
        nominal.eta[i_nom] - alternate.eta[i_alt], wrap_phi(nominal.phi[i_nom] - alternate.phi[i_alt])
    )
    close = dr < config.jet_radius / 2
    jets = (nominal.take(i_nom[close]), alternate.take(i_alt[close]))
    event_index = jets[0].event_index
    pt_hat = [np.sqrt(ak.to_numpy(ak.fill_none(batch.info.pT2Hat[event_index], np.nan))) for batch in events]
    if not np.array_equal(pt_hat[0], pt_hat[1]):
        raise CodecJaxError("nominal and alternate events of a pair report different pT-hat")
    parton_id = [
        _hard_parton_id(config, hard[i], eta, phi)
        for i, eta, phi in zip(event_index, jets[0].eta, jets[0].phi)
    ]
    n = len(hard)
    flags = {name: np.zeros(n, dtype=bool) for name in ("nominal_selected", "alternate_selected", "paired")}
    flags["nominal_selected"][nominal.event_index] = True
    flags["alternate_selected"][alternate.event_index] = True
    flags["paired"][event_index] = True
    flags["shower_failed"] = np.asarray(ak.is_none(events[0], axis=0) | ak.is_none(events[1], axis=0))
    extra = {
        "hard_parton_pt": pt_hat[0],
        "hard_parton_id": np.asarray(parton_id, dtype=np.int32),
        "pair_dr": dr[close].astype(np.float32),
    }
    return _Batch(jets=jets, extra=extra, flags=flags)


def _counts(flags: dict[str, np.ndarray]) -> dict[str, int]:
    both = flags["nominal_selected"] & flags["alternate_selected"]
    pairs = int(flags["paired"].sum())
    return {
        "events": len(both),
        "shower_failures": int(flags["shower_failed"].sum()),
        "nominal_selected": int(flags["nominal_selected"].sum()),
        "alternate_selected": int(flags["alternate_selected"].sum()),
        "pairs": pairs,
        "partner_too_far": int(both.sum()) - pairs,
        "nominal_without_partner_jet": int((flags["nominal_selected"] & ~both).sum()),
        "alternate_without_partner_jet": int((flags["alternate_selected"] & ~both).sum()),
    }


# --------------------------------------------------------------------------- one chunk
def generate_same_events_chunk(
    config: GenerationConfig, alternate_variant: str, chunk: Chunk
) -> PairedChunkResult:
    """Generate one chunk in this process: exactly ``chunk.n_jets`` pairs."""

    timings = {"pythia_init": 0.0, "hard_process": 0.0, "pythia": 0.0, "fastjet": 0.0, "substructure": 0.0}
    start = time.perf_counter()
    showers = shared_showers(config, alternate_variant)
    showers.initialise(chunk.seed)
    timings["pythia_init"] = time.perf_counter() - start
    batches, n_events, n_pairs = [], 0, 0
    efficiency = _FIRST_EFFICIENCY[config.process]
    while n_pairs < chunk.n_jets:
        size = _next_batch_size(config, chunk, n_pairs, n_events, efficiency, what="same-event jet pairs")
        start = time.perf_counter()
        hard = showers.hard_events(size)
        timings["hard_process"] += time.perf_counter() - start
        start = time.perf_counter()
        events = showers.shower(hard)
        timings["pythia"] += time.perf_counter() - start
        start = time.perf_counter()
        batches.append(_pair_batch(config, hard, events))
        timings["fastjet"] += time.perf_counter() - start
        n_events += len(hard)
        n_pairs += len(batches[-1].jets[0])
        efficiency = n_pairs / n_events
    sizes = [len(batch.flags["paired"]) for batch in batches]
    jets = [concatenate_selected([b.jets[k] for b in batches], sizes).head(chunk.n_jets) for k in range(2)]
    # Events after the last kept pair were generated but not needed: not counted.
    n_events = int(jets[0].event_index[-1]) + 1
    flags = {name: np.concatenate([b.flags[name] for b in batches])[:n_events] for name in batches[0].flags}
    extra = {
        name: np.concatenate([b.extra[name] for b in batches])[: chunk.n_jets] for name in batches[0].extra
    }
    extra["event"] = chunk.index * EVENT_STRIDE + jets[0].event_index.astype(np.int64)
    samples = []
    for selected in jets:
        sample = _to_sample(config, selected, timings)
        samples.append(sample.replace(extra={**sample.extra, **extra}))
    return PairedChunkResult(chunk, samples[0], samples[1], n_events, _counts(flags), timings)


def _run_paired_chunk(alternate_variant: str, task: tuple[GenerationConfig, Chunk]) -> PairedChunkResult:
    return generate_same_events_chunk(task[0], alternate_variant, task[1])


# --------------------------------------------------------------------------- a whole job
def _check_variant(alternate_variant: str) -> str:
    return check_choice("alternate_variant", alternate_variant, VARIANTS)


def _assemble(
    config: GenerationConfig, alternate_variant: str, shard, results: list[PairedChunkResult]
) -> tuple[JetSample, JetSample]:
    results = sorted(results, key=lambda r: r.chunk.index)
    counts = {key: sum(r.counts[key] for r in results) for key in results[0].counts}
    common = {
        "generator": "codec_jax.data.same_events (Pythia 8 + FastJet, shared hard process)",
        "nominal_variant": config.variant,
        "alternate_variant": alternate_variant,
        "event_numbering": f"event = chunk index * {EVENT_STRIDE} + hard event index within the chunk",
        "pairing": f"one jet per event and shower as in generate; a pair if dR(axes) < {config.jet_radius / 2:g}",
        "counts": counts,
        "nominal_dropped_fraction": 1.0 - counts["pairs"] / max(counts["nominal_selected"], 1),
        "alternate_dropped_fraction": 1.0 - counts["pairs"] / max(counts["alternate_selected"], 1),
        "shower_seeds": {
            str(r.chunk.index): {role: shower_seed(r.chunk.seed, role) for role in ROLES} for r in results
        },
    }
    lines = {
        name: [line for line in role_lines if not line.startswith("Random:seed")]
        for name, role_lines in SharedShowers.settings_of(config, alternate_variant, config.seed).items()
    }
    samples = []
    for role, variant in zip(ROLES, (config.variant, alternate_variant)):
        role_config = dataclasses.replace(config, variant=variant)
        chunk_results = [ChunkResult(r.chunk, getattr(r, role), r.n_events, r.timings) for r in results]
        metadata = _metadata(role_config, shard, chunk_results)
        metadata["generator"] = common["generator"]
        metadata["pythia_settings"] = {"hard_process": lines["hard_process"], "shower": lines[role]}
        metadata["same_events"] = {**common, "role": role}
        sample = concatenate([getattr(r, role) for r in results])
        samples.append(sample.replace(metadata=metadata))
    return samples[0], samples[1]


def generate_same_events(
    config: GenerationConfig,
    alternate_variant: str,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = False,
) -> tuple[JetSample, JetSample]:
    """Generate ``config.n_jets`` same-event pairs (those of ``shard``) in memory.

    ``config.variant`` is the nominal shower/hadronisation variant, ``alternate_variant`` (a key of
    :data:`~codec_jax.data.pythia_settings.VARIANTS`, may equal it: then the samples differ only by
    the random numbers of the showers) the alternate one. Returns ``(nominal, alternate)``; row
    ``i`` of both is the same hard event (see the module docstring).

    Example::

        config = GenerationConfig(process="qcd", n_jets=1000, seed=3)
        nominal, alternate = generate_same_events(config, "fsr_had_alt", workers=4)
        assert (nominal.extra["event"] == alternate.extra["event"]).all()
    """
    _check_variant(alternate_variant)
    _check_workers(workers)
    chunks = plan_chunks(config, shard)
    if not chunks:
        raise ConfigError(f"shard {shard[0]}/{shard[1]} has no chunks: the job has fewer chunks than shards")
    run = functools.partial(_run_paired_chunk, alternate_variant)
    results = list(_run_chunks(config, chunks, workers, progress, run=run))
    return _assemble(config, alternate_variant, shard, results)


# --------------------------------------------------------------------------- files
def _check_pair(nominal: JetSample, alternate: JetSample, source: str) -> None:
    """:class:`DataError` unless the two samples are row-by-row partners (same events)."""
    for role, sample in zip(ROLES, (nominal, alternate)):
        missing = [name for name in ("event", "hard_parton_pt") if name not in sample.extra]
        if missing:
            raise DataError(
                f"{source}: the {role} sample has no extra field(s) {missing}: not a same-event sample"
            )
    if len(nominal) != len(alternate):
        raise DataError(f"{source}: {len(nominal)} nominal jets but {len(alternate)} alternate jets")
    for name in ("event", "hard_parton_pt"):
        differ = np.flatnonzero(nominal.extra[name] != alternate.extra[name])
        if len(differ):
            i = int(differ[0])
            raise DataError(
                f"{source}: row {i} has {name} {nominal.extra[name][i]} in the nominal sample and "
                f"{alternate.extra[name][i]} in the alternate one ({len(differ)} rows differ)"
            )


def _check_output_paths(nominal_path, alternate_path) -> tuple[Path, Path]:
    paths = Path(nominal_path), Path(alternate_path)
    if paths[0].resolve() == paths[1].resolve():
        raise ConfigError(f"the nominal and alternate outputs are the same file: {paths[0]}")
    for path in paths:
        if not path.parent.is_dir():
            raise DataError(f"{path}: the output directory {path.parent} does not exist")
    return paths


def write_same_events(
    nominal: JetSample,
    alternate: JetSample,
    nominal_path: str | os.PathLike,
    alternate_path: str | os.PathLike,
) -> tuple[Path, Path]:
    """Write a same-event pair of samples to two ROOT files, as a set: both are written to temporary
    files first and renamed only once both are complete. Each file's metadata names its partner."""
    _check_pair(nominal, alternate, "write_same_events")
    paths = _check_output_paths(nominal_path, alternate_path)
    staged = [path.with_name(f".{path.name}.pair.tmp") for path in paths]
    try:
        for role, sample, tmp, partner in zip(ROLES, (nominal, alternate), staged, paths[::-1]):
            same_events = {
                **sample.metadata.get("same_events", {}),
                "role": role,
                "partner_file": partner.name,
            }
            write_root(sample.with_metadata(same_events=same_events), tmp)
        for tmp, path in zip(staged, paths):
            os.replace(tmp, path)
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
    return paths


def read_same_events(
    nominal_path: str | os.PathLike, alternate_path: str | os.PathLike, *, max_particles: int | None = None
) -> tuple[JetSample, JetSample]:
    """Read a pair of files written by :func:`write_same_events`; :class:`DataError` if they are not
    row-by-row partners (different lengths, events or ``hard_parton_pt``)."""
    nominal = read_root(nominal_path, max_particles=max_particles)
    alternate = read_root(alternate_path, max_particles=max_particles)
    _check_pair(nominal, alternate, f"{nominal_path} + {alternate_path}")
    return nominal, alternate


def generate_same_events_to_files(
    config: GenerationConfig,
    alternate_variant: str,
    nominal_path: str | os.PathLike,
    alternate_path: str | os.PathLike,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> tuple[Path, Path]:
    """:func:`generate_same_events` then :func:`write_same_events` (the paths are checked first)."""
    _check_output_paths(nominal_path, alternate_path)
    nominal, alternate = generate_same_events(
        config, alternate_variant, workers=workers, shard=shard, progress=progress
    )
    return write_same_events(nominal, alternate, nominal_path, alternate_path)
