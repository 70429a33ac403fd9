"""The settings of a positive-pair search: :class:`PairingConfig`, validated in one place.

The same class is the ``pairing`` section of the MACK study config (overridden from the command
line with ``--set pairing.cutoff=30 --set pairing.cutoff_quantile=none``,
``--set pairing.emd.R=0.8``) and the argument of :func:`codec_jax.pairing.find_pairs`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from codec_jax.emd import EMDSettings
from codec_jax.errors import ConfigError

__all__ = ["BACKENDS", "STRATEGIES", "PairingConfig"]

#: Candidate schemes (:mod:`codec_jax.pairing.search`).
STRATEGIES = ("random", "nearest", "prefiltered", "ot_plan", "oracle")
#: EMD solvers: ``auto`` is exact on a CPU, Sinkhorn on a GPU/TPU.
BACKENDS = ("auto", "exact", "sinkhorn")


def _mack_emd() -> EMDSettings:
    return EMDSettings(R=1.0, beta=1.0, norm=False)


@dataclasses.dataclass
class PairingConfig:
    """Settings of :func:`codec_jax.pairing.find_pairs`.

    Attributes:
        strategy: candidate scheme, one of :data:`STRATEGIES`: ``random`` (MACK), ``nearest``,
            ``prefiltered``, ``ot_plan`` (blocks of ``candidates`` nominal x ``candidates``
            alternate jets, all pairs evaluated, then in each block the one-to-one matching of
            least total EMD; the cutoff applies to the matched pairs), or ``oracle``: with same-hard-event samples
            (:mod:`codec_jax.data.same_events`, row ``i`` of both samples showered from one hard
            event), every jet paired with its true partner, with no candidates and no cutoff (an
            upper bound of what pairing can give; the pair EMDs are still computed).
        candidates: candidates per nominal jet (``k``; MACK: 11); >= 1.
        cutoff: the EMD cutoff ``C`` (GeV, or dimensionless with ``emd.norm``); pairs with
            ``EMD < C`` are positives. Exactly one of ``cutoff`` and ``cutoff_quantile`` is set.
        cutoff_quantile: ``C`` as this quantile, in (0, 1), of the candidate EMDs. Default 0.2.
        prune: skip the exact solve of candidates whose cheap lower bound already decides them
            (:mod:`codec_jax.pairing.pruning`; the same pairs and C as solving all; the
            recorded candidate EMDs then cover only the solved candidates, the lowest ones);
            always on for ``prefiltered``; not with ``ot_plan``, whose matching needs every EMD.
        refine_tolerance: with the Sinkhorn backend, solve again (longer) every pair whose
            certified bracket does not pin its EMD to this relative tolerance
            (:func:`codec_jax.emd.sinkhorn_emd_refined`; e.g. 0.01 for near pairs); None: one pass.
        certified: with the Sinkhorn backend, decide every pair exactly (bounds + exact solver).
        include_signal: also pair jets with ``label == 1`` (MACK: off).
        backend: EMD solver, one of :data:`BACKENDS`.
        emd: the EMD definition; MACK's default R = 1, beta = 1, unnormalised pT (GeV).
        max_particles: truncate both samples to the leading ``max_particles`` particles (None: all).
        batch_size: pairs per solver call.
        sinkhorn_options: ``epsilon``, ``iterations``, ... of :func:`codec_jax.emd.sinkhorn_emd`.

    Constructing one checks it (:meth:`validate`); :func:`~codec_jax.pairing.find_pairs` checks
    it again, after any in-place change (study overrides set fields one at a time).
    """

    strategy: str = "random"
    candidates: int = 11
    cutoff: float | None = None
    cutoff_quantile: float | None = 0.2
    certified: bool = False
    include_signal: bool = False
    backend: str = "auto"
    emd: EMDSettings = dataclasses.field(default_factory=_mack_emd)
    max_particles: int | None = None
    batch_size: int = 1024
    sinkhorn_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    prune: bool = False
    refine_tolerance: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> PairingConfig:
        """Raise :class:`ConfigError` naming ``pairing.<field>`` for an invalid setting; returns
        ``self``."""
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"pairing.strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"pairing.backend (EMD backend) must be one of {BACKENDS}, got {self.backend!r}"
            )
        if self.cutoff is None and self.cutoff_quantile is None:
            raise ConfigError("pairing.cutoff and pairing.cutoff_quantile are both None: set exactly one")
        if self.cutoff is not None and self.cutoff_quantile is not None:
            raise ConfigError(
                f"pairing.cutoff={self.cutoff} and pairing.cutoff_quantile={self.cutoff_quantile} are both "
                "set: give exactly one (e.g. pairing.cutoff_quantile=none to use the cutoff)"
            )
        if self.cutoff is not None and not self.cutoff > 0:
            raise ConfigError(f"pairing.cutoff must be > 0 (no EMD is below it), got {self.cutoff}")
        if self.cutoff_quantile is not None and not 0.0 < self.cutoff_quantile < 1.0:
            raise ConfigError(f"pairing.cutoff_quantile must be in (0, 1), got {self.cutoff_quantile}")
        if self.prune and self.strategy in ("ot_plan", "oracle"):
            raise ConfigError(
                f"pairing.prune cannot be used with pairing.strategy={self.strategy!r} (it needs every EMD)"
            )
        if self.refine_tolerance is not None and not self.refine_tolerance > 0:
            raise ConfigError(f"pairing.refine_tolerance must be > 0 or None, got {self.refine_tolerance}")
        if self.candidates < 1:
            raise ConfigError(f"pairing.candidates must be >= 1, got {self.candidates}")
        if self.batch_size < 1:
            raise ConfigError(f"pairing.batch_size must be >= 1, got {self.batch_size}")
        if self.max_particles is not None and self.max_particles < 1:
            raise ConfigError(f"pairing.max_particles must be >= 1 or None, got {self.max_particles}")
        if not isinstance(self.emd, EMDSettings):
            raise ConfigError(f"pairing.emd must be an EMDSettings(R, beta, norm), got {self.emd!r}")
        self.emd.validate("pairing.emd.")
        return self
