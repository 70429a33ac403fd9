"""Positive (nominal, alternate) jet pairs for MACK: candidate search, EMD, cutoff.

A pair is positive when the EMD between a nominal jet and an alternate jet is below a cutoff
``C`` (GeV for ``norm=False``), given directly or as a quantile of the candidate EMDs. Candidates
(:mod:`codec_jax.pairing.candidates`):

* ``random`` -- ``k`` quasi-random alternate jets per nominal jet (the published MACK scheme);
* ``nearest`` -- blocks along the diagonal of the all-pairs grid with both samples sorted by a
  cheap key (total pT for ``norm=False``, jet width for ``norm=True``): ``k`` similar candidates;
* ``prefiltered`` -- ``k`` random candidates from the same (total pT, width) bin, and candidates
  whose cheap lower bound (:func:`codec_jax.emd.emd_lower_bound`) is already ``>= C`` are skipped
  without solving.

EMDs come from the exact CPU solver or from batched Sinkhorn (``backend="auto"`` picks exact on
a CPU, Sinkhorn on a GPU/TPU). ``certified=True`` with Sinkhorn decides ``EMD < C`` from the
certified bracket and sends only undecided pairs to the exact solver, so the pair set is the
exact solver's. Signal jets (``label == 1``) are excluded unless ``include_signal=True``. All
settings travel in one :class:`~codec_jax.pairing.PairingConfig`.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from typing import Any

import jax
import numpy as np

from codec_jax.emd import CloudPair, ParticleClouds, emd_lower_bound
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample
from codec_jax.pairing.candidates import (
    binned_candidates,
    block_candidates,
    block_matching,
    jet_width,
    nearest_candidates,
    random_candidates,
)
from codec_jax.pairing.config import STRATEGIES, PairingConfig
from codec_jax.pairing.evaluate import certify, evaluate_emd, pick_backend
from codec_jax.pairing.pairs import PairSet
from codec_jax.pairing.pruning import evaluate_pruned

__all__ = [
    "STRATEGIES",
    "Candidates",
    "draw_candidates",
    "find_pairs",
    "finish_pairs",
    "jet_particles",
    "quantile_cutoff",
    "seed_entropy",
    "true_partner_rows",
]


# --------------------------------------------------------------------------- inputs
def jet_particles(sample: JetSample, max_particles: int | None = None) -> ParticleClouds:
    """Host clouds: particle ``pt [n_jets, P]`` in GeV and ``xy [n_jets, P, 2]`` (eta, phi)
    relative to the axis (a :class:`~codec_jax.emd.ParticleClouds`, unpacks as ``pt, xy``).

    Works for absolute and relative samples (``pt = pt_rel * jet pt``); padded slots are zero.
    Trailing all-padding slots are trimmed (the solvers are faster on smaller problems).
    """
    relative = sample.to_relative()
    if max_particles is not None:
        relative = relative.pad_particles(max_particles)
    real = relative.mask
    if np.any(real.any(axis=1) & ~(sample.pt > 0)):
        raise DataError(
            "pairing needs the jet pT (field 'pt') > 0 of every non-empty jet to convert pt_rel to GeV"
        )
    pt = np.where(real, relative.feature("pt_rel") * sample.pt[:, None], 0.0).astype(np.float32)
    xy = np.stack([relative.feature("eta_rel"), relative.feature("phi_rel")], axis=-1)
    xy = np.where(real[..., None], xy, 0.0).astype(np.float32)
    if not (np.isfinite(pt).all() and np.isfinite(xy).all()):
        raise DataError("pairing: particle pt/eta/phi contain NaN or inf")
    used = max(int(real.any(axis=0).nonzero()[0].max(initial=-1)) + 1, 1)
    return ParticleClouds(pt[:, :used], xy[:, :used])


def seed_entropy(key: Any) -> int | list[int]:
    """The entropy of the candidate draws (JSON-ready): an int seed as is, a JAX PRNG key as the
    list of its words; raises :class:`ConfigError` for a negative seed."""
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ConfigError(f"the pairing seed must be >= 0, got {int(key)}")
        return int(key)

    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.asarray(data).astype(np.uint64).ravel().tolist()


def _rng(key: Any) -> np.random.Generator:
    """A NumPy generator from an int seed or a JAX PRNG key."""
    return np.random.default_rng(seed_entropy(key))


def _draw_candidates(
    strategy: str, rng, nominal: ParticleClouds, alternate: ParticleClouds, k: int, norm: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate index pairs ``([n], [n])`` into the nominal and alternate clouds for one strategy."""
    if strategy == "random":
        return random_candidates(rng, nominal.n_jets, alternate.n_jets, k)
    a_total, b_total = nominal.pt.sum(axis=1), alternate.pt.sum(axis=1)
    a_width, b_width = jet_width(*nominal), jet_width(*alternate)
    if strategy == "nearest":
        return nearest_candidates(a_width if norm else a_total, b_width if norm else b_total, k)
    bins = max(1, int(np.sqrt(alternate.n_jets / (4 * k))))  # about 4k alternate jets per cell
    features_a, features_b = np.stack([a_total, a_width], axis=1), np.stack([b_total, b_width], axis=1)
    return binned_candidates(rng, features_a, features_b, k, bins=bins)


def true_partner_rows(nominal: JetSample, alternate: JetSample) -> None:
    """Check that row ``i`` of both samples comes from the same hard event (the ``event`` extra
    field of same-hard-event samples, equal row by row).

    Raises:
        DataError: the samples have different lengths or no/different ``event`` numbers.
    """
    if len(nominal) != len(alternate):
        raise DataError(
            f"oracle pairs need same-hard-event samples of equal length, got {len(nominal)} nominal "
            f"and {len(alternate)} alternate jets"
        )
    events = [sample.extra.get("event") for sample in (nominal, alternate)]
    if any(event is None for event in events) or not np.array_equal(*events):
        raise DataError(
            "oracle pairs need same-hard-event samples (codec_jax.data.same_events): the field "
            "'event' must exist in both samples and be equal row by row"
        )


def _record(
    config,
    settings,
    backend,
    *,
    strategy,
    candidates,
    cutoff,
    cutoff_quantile,
    certified,
    n_nominal,
    n_alternate,
) -> dict[str, Any]:
    """The JSON-ready settings of a search as stored in :attr:`PairSet.settings` (keys fixed: pair
    files and study reports read them)."""
    return {
        "strategy": strategy,
        "candidates": int(candidates),
        "cutoff": cutoff,
        "cutoff_quantile": cutoff_quantile,
        "certified": bool(certified),
        "include_signal": bool(config.include_signal),
        "backend": backend,
        "R": settings.R,
        "beta": settings.beta,
        "norm": settings.norm,
        "max_particles": config.max_particles,
        "sinkhorn_options": dict(config.sinkhorn_options or {}),
        "n_nominal": int(n_nominal),
        "n_alternate": int(n_alternate),
    }


def _oracle_pairs(nominal, alternate, config, settings, backend, progress) -> PairSet:
    """Every (background) jet with its true partner: rows ``i`` of both samples."""
    true_partner_rows(nominal, alternate)
    rows = np.flatnonzero(config.include_signal | (nominal.label != 1))
    if len(rows) == 0:
        raise DataError("oracle pairs: no jets left after excluding signal (include_signal=False)")
    a, b = (
        jet_particles(nominal[rows], config.max_particles),
        jet_particles(alternate[rows], config.max_particles),
    )
    width = max(a.width, b.width)
    result = evaluate_emd(
        CloudPair(a.pad_to(width), b.pad_to(width)),
        settings,
        backend=backend,
        batch_size=config.batch_size,
        sinkhorn_options=config.sinkhorn_options,
        progress=progress,
    )
    record = _record(
        config,
        settings,
        backend,
        strategy="oracle",
        candidates=1,
        cutoff=None,
        cutoff_quantile=None,
        certified=False,
        n_nominal=len(rows),
        n_alternate=len(rows),
    )
    record.update(n_candidates=int(len(rows)), n_evaluated=int(len(rows)))
    pairs = PairSet(rows, rows, result.emd, record, candidate_emd=result.emd)
    record.update(pairs.summary())
    return pairs


# --------------------------------------------------------------------------- search
@dataclasses.dataclass(frozen=True, eq=False)
class Candidates:
    """The drawn candidates of a search, before any EMD (shared by :func:`find_pairs` and the
    sharded search, :mod:`codec_jax.pairing.shards`).

    Attributes:
        config, settings, backend: the validated config, its checked EMD settings, the resolved
            backend (``exact`` or ``sinkhorn``).
        nominal_rows, alternate_rows: ``[n_a]``, ``[n_b]`` sample rows that take part (signal
            excluded unless ``include_signal``), increasing.
        a, b: their clouds, ``pt [n, P]`` and ``xy [n, P, 2]``, padded to one ``P``.
        ia, ib: ``[n_candidates]`` indices into ``a`` and ``b``.
        block: ``[n_candidates]`` the ``ot_plan`` block of each candidate, else None.
    """

    config: PairingConfig
    settings: Any
    backend: str
    nominal_rows: np.ndarray
    alternate_rows: np.ndarray
    a: ParticleClouds
    b: ParticleClouds
    ia: np.ndarray
    ib: np.ndarray
    block: np.ndarray | None

    def pairs(self, rows: np.ndarray) -> CloudPair:
        """The clouds of candidates ``rows`` (``[m]`` indices into ``ia``/``ib``)."""
        return CloudPair(self.a.take(self.ia[rows]), self.b.take(self.ib[rows]))

    def evaluate(self, rows: np.ndarray, *, progress: bool, executor: Executor | None):
        """:class:`~codec_jax.pairing.evaluate.EMDResult` of candidates ``rows``, ``batch_size``
        pairs per solver call from the first of ``rows`` on."""
        config = self.config
        return evaluate_emd(
            self.pairs(rows),
            self.settings,
            backend=self.backend,
            batch_size=config.batch_size,
            sinkhorn_options=config.sinkhorn_options,
            progress=progress,
            refine_tolerance=config.refine_tolerance,
            executor=executor,
        )

    def record(self) -> dict[str, Any]:
        """The settings record of the search (:attr:`PairSet.settings` before the cutoff is
        resolved and the statistics are added; ``cutoff`` is the fixed one or None)."""
        config = self.config
        return _record(
            config,
            self.settings,
            self.backend,
            strategy=config.strategy,
            candidates=config.candidates,
            cutoff=None if config.cutoff is None else float(config.cutoff),
            cutoff_quantile=config.cutoff_quantile,
            certified=config.certified,
            n_nominal=self.a.n_jets,
            n_alternate=self.b.n_jets,
        )


def draw_candidates(key: Any, nominal: JetSample, alternate: JetSample, config: PairingConfig) -> Candidates:
    """Validate ``config`` and draw the candidates of a (non-oracle) search; cheap, no EMD."""
    settings = config.emd.checked()
    backend = pick_backend(config.backend)
    rng = _rng(key)
    nominal_rows = np.flatnonzero(config.include_signal | (nominal.label != 1))
    alternate_rows = np.flatnonzero(config.include_signal | (alternate.label != 1))
    if len(nominal_rows) == 0 or len(alternate_rows) == 0:
        raise DataError(
            f"pairing needs jets in both samples (after excluding signal: {len(nominal_rows)} nominal, "
            f"{len(alternate_rows)} alternate)"
        )
    a = jet_particles(nominal[nominal_rows], config.max_particles)
    b = jet_particles(alternate[alternate_rows], config.max_particles)
    width = max(a.width, b.width)
    a, b = a.pad_to(width), b.pad_to(width)
    block = None
    if config.strategy == "ot_plan":
        ia, ib, block = block_candidates(rng, a.n_jets, b.n_jets, config.candidates)
    else:
        ia, ib = _draw_candidates(config.strategy, rng, a, b, config.candidates, settings.norm)
    return Candidates(config, settings, backend, nominal_rows, alternate_rows, a, b, ia, ib, block)


def finish_pairs(
    record: dict[str, Any],
    stats: dict[str, Any],
    nominal_index: np.ndarray,
    alternate_index: np.ndarray,
    emd: np.ndarray,
    cutoff: float,
    block: np.ndarray | None = None,
) -> PairSet:
    """Apply the resolved cutoff (and, for ``ot_plan``, the block matchings) to the evaluated
    candidates.

    Args:
        record: :meth:`Candidates.record`; stats: its counts so far (``n_candidates``, ...).
        nominal_index, alternate_index: ``[m]`` sample rows of the evaluated candidates, in
            candidate order.
        emd: ``[m]`` float64 their EMDs (certified where asked); cutoff: C.
        block: ``[m]`` the ``ot_plan`` blocks (every candidate evaluated), else None.
    """
    keep = emd < cutoff
    if block is not None:  # only the block matchings are pairs (all candidates evaluated)
        matched = np.zeros(len(keep), bool)
        matched[block_matching(nominal_index, alternate_index, block, emd)] = True
        stats["n_matched"] = int(matched.sum())
        stats["matched_emd_quantiles"] = {
            str(q): float(np.percentile(emd[matched], q)) for q in (5, 25, 50, 75, 95)
        }
        keep &= matched
    stats["n_evaluated"] = int(len(emd))
    if len(emd):
        stats["candidate_emd_quantiles"] = {str(q): float(np.percentile(emd, q)) for q in (5, 25, 50, 75, 95)}
    record = {**record, "cutoff": float(cutoff)}
    record.update(stats)
    pairs = PairSet(
        nominal_index=nominal_index[keep],
        alternate_index=alternate_index[keep],
        emd=emd[keep],
        settings=record,
        candidate_emd=emd,
    )
    record.update(pairs.summary())
    return pairs


def quantile_cutoff(emd: np.ndarray, quantile: float) -> float:
    """C as ``quantile`` of the candidate EMDs ``[m]`` (0 without candidates)."""
    return float(np.quantile(emd, quantile)) if len(emd) else 0.0


def find_pairs(
    key: Any,
    nominal: JetSample,
    alternate: JetSample,
    config: PairingConfig,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> PairSet:
    """Search positive pairs between a nominal and an alternate sample.

    Args:
        key: int seed or JAX PRNG key for the candidate draws.
        nominal, alternate: samples (absolute or relative features).
        config: every setting of the search (strategy, candidates, the cutoff or its quantile,
            certification, backend, EMD settings, ...); validated here (:class:`ConfigError`
            naming ``pairing.<field>``).
        progress: show a tqdm progress bar.
        executor: a ``concurrent.futures.Executor`` (Dask, a process pool) that solves the exact
            backend's candidate blocks; the pairs are the same as without it.

    Returns:
        :class:`PairSet` with all evaluated candidates whose EMD is below ``C``; its ``settings``
        record the config (``R``, ``beta``, ``norm`` flat), the resolved cutoff and counts.
    """
    if not isinstance(config, PairingConfig):
        raise TypeError(f"find_pairs takes a PairingConfig, got {type(config).__name__}")
    config.validate()
    if config.strategy == "oracle":
        settings, backend = config.emd.checked(), pick_backend(config.backend)
        return _oracle_pairs(nominal, alternate, config, settings, backend, progress)
    found = draw_candidates(key, nominal, alternate, config)
    ia, settings = found.ia, found.settings

    def evaluate(rows: np.ndarray):
        return found.evaluate(rows, progress=progress, executor=executor)

    stats: dict[str, Any] = {"n_candidates": int(len(ia)), "n_skipped_by_bound": 0}
    evaluated = np.arange(len(ia))
    cutoff, cutoff_quantile = config.cutoff, config.cutoff_quantile
    if config.prune or config.strategy == "prefiltered":
        bound = emd_lower_bound(found.pairs(evaluated), settings)
        evaluated, result, cutoff = evaluate_pruned(
            bound, evaluate, cutoff=cutoff, quantile=cutoff_quantile, chunk=max(256, len(ia) // 40)
        )
        stats["n_skipped_by_bound"] = int(len(ia) - len(evaluated))
    else:
        result = evaluate(evaluated)
    if cutoff is None:
        cutoff = quantile_cutoff(result.emd, cutoff_quantile)
    if config.certified and result.lower is not None:
        result, certify_stats = certify(result, found.pairs(evaluated), settings, cutoff=cutoff)
        stats.update(certify_stats)
    return finish_pairs(
        found.record(),
        stats,
        found.nominal_rows[ia[evaluated]],
        found.alternate_rows[found.ib[evaluated]],
        result.emd,
        cutoff,
        block=None if found.block is None else found.block[evaluated],
    )
