"""Positive (nominal, alternate) jet pairs for MACK: candidate search, EMD, cutoff.

A pair is positive when the EMD between a nominal jet and an alternate jet is below a cutoff
``C`` (GeV for ``norm=False``), given directly or as a quantile of the candidate EMDs. Candidates
(:mod:`codec_jax.pairing.candidates`):

* ``random`` -- ``k`` quasi-random alternate jets per nominal jet (the published MACK scheme);
* ``nearest`` -- blocks along the diagonal of the all-pairs grid with both samples sorted by a
  cheap key (total pT for ``norm=False``, jet width for ``norm=True``): ``k`` similar candidates;
* ``prefiltered`` -- ``k`` random candidates from the same (total pT, width) bin, and candidates
  whose cheap lower bound (:func:`~codec_jax.pairing.candidates.emd_lower_bound`) is already
  ``>= C`` are skipped without solving.

EMDs come from the exact CPU solver or from batched Sinkhorn (``backend="auto"`` picks exact on
a CPU, Sinkhorn on a GPU/TPU). ``certified=True`` with Sinkhorn decides ``EMD < C`` from the
certified bracket and sends only undecided pairs to the exact solver, so the pair set is the
exact solver's. Signal jets (``label == 1``) are excluded unless ``include_signal=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample
from codec_jax.pairing.candidates import (
    binned_candidates,
    emd_lower_bound,
    jet_width,
    nearest_candidates,
    random_candidates,
)
from codec_jax.pairing.evaluate import certify, evaluate_emd, pick_backend
from codec_jax.pairing.pairs import PairSet

__all__ = ["STRATEGIES", "find_pairs", "jet_particles"]

STRATEGIES = ("random", "nearest", "prefiltered")
_CALIBRATION_PAIRS = 2048


# --------------------------------------------------------------------------- inputs
def jet_particles(sample: JetSample, max_particles: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Particle ``pt [n_jets, P]`` in GeV and ``xy [n_jets, P, 2]`` (eta, phi) relative to the axis.

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
    return pt[:, :used], xy[:, :used]


def _rng(key: Any) -> np.random.Generator:
    """A NumPy generator from an int seed or a JAX PRNG key."""
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))

    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data).astype(np.uint64).ravel().tolist())


def _pad_to(pt: np.ndarray, xy: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    extra = width - pt.shape[1]
    return np.pad(pt, ((0, 0), (0, extra))), np.pad(xy, ((0, 0), (0, extra), (0, 0)))


def _draw_candidates(strategy, rng, nominal, alternate, k, norm) -> tuple[np.ndarray, np.ndarray]:
    """Candidate index pairs for one strategy; ``nominal``/``alternate`` are ``(pt, xy)``."""
    (a_pt, a_xy), (b_pt, b_xy) = nominal, alternate
    if strategy == "random":
        return random_candidates(rng, len(a_pt), len(b_pt), k)
    a_total, b_total = a_pt.sum(axis=1), b_pt.sum(axis=1)
    a_width, b_width = jet_width(a_pt, a_xy), jet_width(b_pt, b_xy)
    if strategy == "nearest":
        return nearest_candidates(a_width if norm else a_total, b_width if norm else b_total, k)
    bins = max(1, int(np.sqrt(len(b_pt) / (4 * k))))  # about 4k alternate jets per cell
    features_a, features_b = np.stack([a_total, a_width], axis=1), np.stack([b_total, b_width], axis=1)
    return binned_candidates(rng, features_a, features_b, k, bins=bins)


# --------------------------------------------------------------------------- search
def find_pairs(
    key: Any,
    nominal: JetSample,
    alternate: JetSample,
    *,
    strategy: str = "random",
    candidates: int = 11,
    cutoff: float | None = None,
    cutoff_quantile: float | None = None,
    certified: bool = False,
    include_signal: bool = False,
    backend: str = "auto",
    R: float = 1.0,
    beta: float = 1.0,
    norm: bool = False,
    max_particles: int | None = None,
    batch_size: int = 1024,
    sinkhorn_options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> PairSet:
    """Search positive pairs between a nominal and an alternate sample.

    Args:
        key: int seed or JAX PRNG key for the candidate draws.
        nominal, alternate: samples (absolute or relative features).
        strategy: ``"random"``, ``"nearest"`` or ``"prefiltered"`` (module docstring).
        candidates: candidates per nominal jet (``k``; the MACK default is 11).
        cutoff: ``C`` (GeV for ``norm=False``); or ``cutoff_quantile`` in (0, 1): ``C`` is that
            quantile of the candidate EMDs (for ``prefiltered``: of a random subset of 2048).
        certified: with the Sinkhorn backend, decide every pair exactly (bounds + exact solver).
        include_signal: also pair jets with ``label == 1``.
        backend: ``"auto"``, ``"exact"`` or ``"sinkhorn"``.
        R, beta, norm: EMD settings (MACK: R = 1, beta = 1, unnormalised pT in GeV).
        max_particles: truncate both samples to the leading ``max_particles`` particles.
        batch_size: pairs per solver call.
        sinkhorn_options: ``epsilon``, ``iterations``, ... for :func:`codec_jax.emd.sinkhorn_emd`.
        progress: show a tqdm progress bar.

    Returns:
        :class:`PairSet` with all evaluated candidates whose EMD is below ``C``.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"pairing strategy must be one of {STRATEGIES}, got {strategy!r}")
    if (cutoff is None) == (cutoff_quantile is None):
        raise ConfigError("give exactly one of cutoff (GeV) and cutoff_quantile")
    if cutoff_quantile is not None and not 0.0 < cutoff_quantile < 1.0:
        raise ConfigError(f"cutoff_quantile must be in (0, 1), got {cutoff_quantile}")
    if candidates < 1:
        raise ConfigError(f"candidates must be >= 1, got {candidates}")
    backend = pick_backend(backend)
    rng = _rng(key)
    nominal_rows = np.flatnonzero(include_signal | (nominal.label != 1))
    alternate_rows = np.flatnonzero(include_signal | (alternate.label != 1))
    if len(nominal_rows) == 0 or len(alternate_rows) == 0:
        raise DataError(
            f"pairing needs jets in both samples (after excluding signal: {len(nominal_rows)} nominal, "
            f"{len(alternate_rows)} alternate)"
        )
    a_pt, a_xy = jet_particles(nominal[nominal_rows], max_particles)
    b_pt, b_xy = jet_particles(alternate[alternate_rows], max_particles)
    width = max(a_pt.shape[1], b_pt.shape[1])
    (a_pt, a_xy), (b_pt, b_xy) = _pad_to(a_pt, a_xy, width), _pad_to(b_pt, b_xy, width)
    n_a, n_b = len(a_pt), len(b_pt)
    ia, ib = _draw_candidates(strategy, rng, (a_pt, a_xy), (b_pt, b_xy), candidates, norm)

    emd_kw = dict(R=R, beta=beta, norm=norm)
    solver_kw = dict(
        backend=backend, batch_size=batch_size, sinkhorn_options=sinkhorn_options, progress=progress
    )

    def evaluate(rows: np.ndarray):
        return evaluate_emd(
            a_pt[ia[rows]], a_xy[ia[rows]], b_pt[ib[rows]], b_xy[ib[rows]], **emd_kw, **solver_kw
        )

    stats: dict[str, Any] = {"n_candidates": int(len(ia)), "n_skipped_by_bound": 0}
    evaluated = np.arange(len(ia))
    if strategy == "prefiltered":
        if cutoff is None:
            calibration = rng.choice(len(ia), size=min(_CALIBRATION_PAIRS, len(ia)), replace=False)
            cutoff = float(np.quantile(evaluate(calibration).emd, cutoff_quantile))
        bound = emd_lower_bound(a_pt[ia], a_xy[ia], b_pt[ib], b_xy[ib], **emd_kw)
        evaluated = np.flatnonzero(bound < cutoff)
        stats["n_skipped_by_bound"] = int(len(ia) - len(evaluated))
    result = evaluate(evaluated)
    if cutoff is None:
        cutoff = float(np.quantile(result.emd, cutoff_quantile)) if len(result.emd) else 0.0
    if certified and result.lower is not None:
        rows = evaluated
        result, certify_stats = certify(
            result, a_pt[ia[rows]], a_xy[ia[rows]], b_pt[ib[rows]], b_xy[ib[rows]], cutoff=cutoff, **emd_kw
        )
        stats.update(certify_stats)
    keep = result.emd < cutoff
    stats["n_evaluated"] = int(len(evaluated))
    if len(result.emd):
        stats["candidate_emd_quantiles"] = {
            str(q): float(np.percentile(result.emd, q)) for q in (5, 25, 50, 75, 95)
        }
    settings = {
        "strategy": strategy,
        "candidates": int(candidates),
        "cutoff": float(cutoff),
        "cutoff_quantile": cutoff_quantile,
        "certified": bool(certified),
        "include_signal": bool(include_signal),
        "backend": backend,
        "R": float(R),
        "beta": float(beta),
        "norm": bool(norm),
        "max_particles": max_particles,
        "sinkhorn_options": dict(sinkhorn_options or {}),
        "n_nominal": int(n_a),
        "n_alternate": int(n_b),
        **stats,
    }
    chosen = evaluated[keep]
    pairs = PairSet(
        nominal_index=nominal_rows[ia[chosen]],
        alternate_index=alternate_rows[ib[chosen]],
        emd=result.emd[keep],
        settings=settings,
        candidate_emd=result.emd,
    )
    settings.update(pairs.summary())
    return pairs
