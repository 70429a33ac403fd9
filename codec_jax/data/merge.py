"""``codec-jax merge SHARDS... --out FILE``: the shards of a generation job as the unsharded file.

``generate --shard i/N`` runs chunks ``i, i + N, i + 2N, ...`` of a job; concatenating the shard
files would not give the unsharded job's order. :func:`merge_shards` checks that the shards are
all N shards of one job (same generation settings, each ``i`` once), rebuilds each shard's chunk
layout from the job's plan (:func:`codec_jax.data.generation_plan.plan_chunks`: chunk ``k`` holds
``chunk_jets`` jets, the last one the rest), and copies the chunks in index order into the output,
reading one chunk at a time and writing blocks of about 100,000 jets
(:class:`codec_jax.data.io.RootWriter`, uproot ``extend``), so memory does not grow with the
number or size of the shards. The output's
metadata is the unsharded job's (shard ``0/1``, every chunk seed, the summed event count), so the
merged file equals the file ``generate`` writes without ``--shard``, branch by branch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import uproot
from tqdm.auto import tqdm

from codec_jax.data.generation_plan import GenerationConfig, parse_shard, plan_chunks
from codec_jax.data.io import RootWriter, read_root
from codec_jax.errors import DataError
from codec_jax.files import refuse_overwriting_inputs
from codec_jax.jets import concatenate

__all__ = ["merge_shards"]

#: Metadata entries that differ between the shards of one job (everything else must agree).
_PER_SHARD = ("shard", "chunk_seeds", "n_events", "selection_efficiency")


def _shard_metadata(path: Path) -> dict:
    try:
        with uproot.open(path) as file:
            return json.loads(str(file["metadata"]))
    except Exception as error:
        raise DataError(
            f"{path}: not a generated ROOT file with metadata ({' '.join(str(error).split())[:200]})"
        ) from None


def _job_config(metadata: dict, path: Path) -> GenerationConfig:
    fields = {field.name for field in dataclasses.fields(GenerationConfig)}
    values = {key: value for key, value in metadata.get("config", {}).items() if key in fields}
    try:
        return GenerationConfig(**values)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its metadata holds no generation config ({error})") from None


def merge_shards(
    shards: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    progress: bool = True,
    buffer_jets: int = 100_000,
) -> Path:
    """Merge the N shard files of one ``generate`` job into ``out`` (atomic); returns ``out``.

    Chunks are read one at a time and written in blocks of about ``buffer_jets`` jets (one ROOT
    basket per branch and block: few baskets keep the writer's bookkeeping small), so memory is
    bounded by the block, not by the number or size of the shards.

    Raises:
        DataError: a file without generation metadata, shards of different jobs, a shard missing
            or given twice, or a shard whose jet count does not match the job's plan.
    """
    paths = [Path(path) for path in shards]
    out = Path(out)
    refuse_overwriting_inputs(paths, files=[out])
    metadata = {path: _shard_metadata(path) for path in paths}
    first = paths[0]
    reference = {k: v for k, v in metadata[first].items() if k not in _PER_SHARD}
    for path in paths[1:]:
        differing = sorted(
            k
            for k in set(reference) | set(metadata[path])
            if k not in _PER_SHARD and metadata[path].get(k) != reference.get(k)
        )
        if differing:
            raise DataError(f"{path} is not a shard of the same job as {first}: {differing} differ")
    config = _job_config(metadata[first], first)
    shard_of = {}
    for path in paths:
        index, count = parse_shard(metadata[path]["shard"])
        if index in shard_of:
            raise DataError(f"{path} and {shard_of[index]} are both shard {index}/{count}")
        shard_of[index] = path
    count = parse_shard(metadata[first]["shard"])[1]
    missing = sorted(set(range(count)) - set(shard_of))
    if missing or any(parse_shard(m["shard"])[1] != count for m in metadata.values()):
        raise DataError(f"the job has {count} shards; missing {missing} (given {len(paths)} files)")
    # chunk index -> (shard file, first row, last row + 1)
    locations = {}
    for index, path in shard_of.items():
        row = 0
        for chunk in plan_chunks(config, (index, count)):
            locations[chunk.index] = (path, row, row + chunk.n_jets)
            row += chunk.n_jets
        with uproot.open(path) as file:
            entries = file["jets"].num_entries
        if entries != row:
            raise DataError(f"{path}: {entries} jets, but shard {index}/{count} of the job plans {row}")
    merged = {
        **reference,
        "shard": "0/1",
        "chunk_seeds": {k: v for m in metadata.values() for k, v in m["chunk_seeds"].items()},
        "n_events": sum(int(m["n_events"]) for m in metadata.values()),
    }
    merged["selection_efficiency"] = config.n_jets / merged["n_events"] if merged["n_events"] else 0.0
    bar = tqdm(total=config.n_jets, unit="jet", desc="merge", disable=not progress)
    with RootWriter(out) as writer:
        block: list = []
        for chunk_index in sorted(locations):
            path, start, stop = locations[chunk_index]
            block.append(
                read_root(path, entry_start=start, entry_stop=stop, max_particles=config.max_particles)
            )
            if sum(len(sample) for sample in block) >= buffer_jets:
                writer.append(concatenate(block))
                block = []
            bar.update(stop - start)
        if block:
            writer.append(concatenate(block))
        writer.metadata = merged
    bar.close()
    return out
