"""What a generation job is: its configuration and its seeded chunks.

A job of ``n_jets`` selected jets is cut into chunks of ``chunk_jets`` jets, each with its own Pythia
seed hashed from ``(job seed, chunk index)`` (all distinct, in 1..900000000). Shard ``i`` of ``N``
runs chunks ``i, i + N, i + 2N, ...``, so the shards of a job partition its jets exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from codec_jax.data.pythia_settings import MAX_SEED, pythia_settings
from codec_jax.errors import ConfigError

__all__ = ["GenerationConfig", "Chunk", "plan_chunks", "parse_shard", "check_shard"]


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Everything that determines a generated sample (besides ``workers`` and ``shard``).

    Attributes:
        process: ``"zprime"`` (label 1) or ``"qcd"`` (label 0).
        n_jets: selected jets in the whole job (all shards together).
        seed: job seed, 1..900000000.
        variant: shower/hadronisation variant, a key of :data:`pythia_settings.VARIANTS`.
        width_mode: ``"narrow"`` or ``"wide"`` (Z' only).
        mass: narrow Z' mass [GeV] (None: 100 GeV); must be None for wide or QCD.
        recoil: ``"parton"`` or ``"photon"``.
        pt_min, eta_max, jet_radius: jet selection (pT [GeV], |eta|, anti-kT R).
        pthat_min: Pythia ``PhaseSpace:pTHatMin`` [GeV].
        max_particles: constituents kept per jet (highest pT first).
        chunk_jets: jets per chunk (the unit of seeding, parallelism and crash recovery).
        events_per_batch: largest Pythia ``nextBatch`` size.
    """

    process: str
    n_jets: int
    seed: int = 1
    variant: str = "nominal"
    width_mode: str = "narrow"
    mass: float | None = None
    recoil: str = "parton"
    pt_min: float = 400.0
    eta_max: float = 2.5
    jet_radius: float = 0.8
    pthat_min: float = 450.0
    max_particles: int = 100
    chunk_jets: int = 500
    events_per_batch: int = 100

    def __post_init__(self) -> None:
        for name in ("n_jets", "max_particles", "chunk_jets", "events_per_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        for name in ("pt_min", "eta_max", "jet_radius"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)!r}")
        self.settings(self.seed)  # validates process, variant, width_mode, mass, recoil, seed

    def settings(self, seed: int) -> list[str]:
        """The Pythia lines for a chunk with this ``seed``."""
        return pythia_settings(
            self.process,
            seed=seed,
            variant=self.variant,
            width_mode=self.width_mode,
            mass=self.mass,
            recoil=self.recoil,
            pthat_min=self.pthat_min,
        )

    @property
    def label(self) -> int:
        return 1 if self.process == "zprime" else 0


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One unit of work: ``n_jets`` jets generated with Pythia seed ``seed``."""

    index: int
    seed: int
    n_jets: int


def check_shard(shard: Any, *, given: str | None = None) -> tuple[int, int]:
    """``(i, N)`` as two ints with ``0 <= i < N`` (shard ``i`` of a job cut into ``N``); raises
    :class:`ConfigError` naming ``given`` (default: ``repr(shard)``) otherwise."""
    given = repr(shard) if given is None else given
    try:
        index, count = (int(part) for part in shard)
    except (TypeError, ValueError):
        raise ConfigError(f"shard must be (i, N), e.g. (0, 4), got {given}") from None
    if not 0 <= index < count:
        raise ConfigError(f"shard i/N needs 0 <= i < N, got {given}")
    return index, count


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``; raises :class:`ConfigError` otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like i/N (e.g. 0/4), got {text!r}") from None
    return check_shard((index, count), given=repr(text))


def plan_chunks(config: GenerationConfig, shard: tuple[int, int] = (0, 1)) -> list[Chunk]:
    """The chunks of ``config``'s job that belong to ``shard = (i, N)`` (every N-th from i).

    Chunk seeds are hashed from ``(seed, chunk index)`` into 1..900000000 and made distinct within
    the job, identically in every shard.
    """
    index, count = check_shard(shard)
    n_chunks = -(-config.n_jets // config.chunk_jets)
    used: set[int] = set()
    chunks = []
    for i in range(n_chunks):
        state = np.random.SeedSequence([config.seed, i]).generate_state(1, dtype=np.uint64)[0]
        seed = int(state % MAX_SEED) + 1
        while seed in used:
            seed = seed % MAX_SEED + 1
        used.add(seed)
        size = min(config.chunk_jets, config.n_jets - i * config.chunk_jets)
        chunks.append(Chunk(index=i, seed=seed, n_jets=size))
    return chunks[index::count]
