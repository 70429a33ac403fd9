"""How good are positive pairs? Jet-pT differences of a pair set, and, with same-hard-event samples,
how often the EMD finds a jet's true partner.

EMDs in GeV (``norm=False``) are dominated by the difference of the jets' total pT (the energy term
``|sum pT - sum pT'|``), which a network fed pT-relative inputs cannot see. :func:`pair_differences`
reports that difference for the pairs a pretraining uses. With same-hard-event samples (row ``i``
of the nominal and the alternate sample showered from the same hard event,
:mod:`codec_jax.data.same_events`), :func:`partner_recovery` measures the pairing itself: the EMD of
true partners against that of random candidates, and how often the true partner is the nearest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codec_jax.emd import CloudPair, EMDSettings
from codec_jax.errors import DataError
from codec_jax.jets import JetSample
from codec_jax.pairing.evaluate import evaluate_emd
from codec_jax.pairing.pairs import PairSet
from codec_jax.pairing.search import jet_particles, true_partner_rows

__all__ = ["QUANTILES", "pair_differences", "partner_recovery"]

#: Percentiles reported for every distribution.
QUANTILES = (5, 25, 50, 75, 95)


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return {str(q): None for q in QUANTILES}
    return {str(q): float(np.percentile(values, q)) for q in QUANTILES}


def pair_differences(pairs: PairSet, nominal: JetSample, alternate: JetSample) -> dict[str, Any]:
    """Quantiles of the pair EMD and of the relative jet-pT difference
    ``|pT_alt - pT_nom| / pT_nom`` of the pairs (rows of ``nominal`` / ``alternate``), and the
    arrays themselves under ``"_arrays"`` (for plots)."""
    pt_nominal = np.asarray(nominal.pt, np.float64)[pairs.nominal_index]
    pt_alternate = np.asarray(alternate.pt, np.float64)[pairs.alternate_index]
    relative = np.abs(pt_alternate - pt_nominal) / np.where(pt_nominal > 0, pt_nominal, 1.0)
    return {
        "n_pairs": len(pairs),
        "emd_quantiles": _quantiles(pairs.emd),
        "relative_pt_difference_quantiles": _quantiles(relative),
        "_arrays": {"emd": np.asarray(pairs.emd, np.float64), "relative_pt_difference": relative},
    }


def partner_recovery(
    seed: int,
    nominal: JetSample,
    alternate: JetSample,
    settings: EMDSettings,
    *,
    cutoff: float | None = None,
    candidates: int = 10,
    n_jets: int = 1000,
    include_signal: bool = False,
    max_particles: int | None = None,
    backend: str = "auto",
) -> dict[str, Any]:
    """How often the EMD picks a jet's true partner among random candidates.

    For up to ``n_jets`` (background) nominal jets ``i`` drawn at random: the EMD to the true
    partner (alternate row ``i``) and to ``candidates`` random other alternate jets of the same
    kind.

    Returns (JSON-ready):
        ``fraction_true_nearest`` -- the true partner has the smallest EMD of the ``candidates + 1``
        (chance level ``1 / (candidates + 1)``, also returned); ``true_partner_emd_quantiles`` and
        ``random_candidate_emd_quantiles``; ``median_rank_of_true_partner`` (0 = nearest); with a
        ``cutoff``: ``true_partner_below_cutoff`` and ``random_candidate_below_cutoff`` (the
        fractions with ``EMD < C``) and ``purity_below_cutoff`` (the fraction of the pairs below
        ``C`` that are true partners in a pool holding one true and ``candidates`` random
        candidates per jet).

    Raises:
        DataError: the samples are not same-hard-event samples (:func:`true_partner_rows`).
    """
    true_partner_rows(nominal, alternate)
    rows = np.flatnonzero(include_signal | (nominal.label != 1))
    if len(rows) < candidates + 1:
        raise DataError(f"partner recovery needs more than {candidates} jets, got {len(rows)}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(rows, size=min(n_jets, len(rows)), replace=False))
    others = np.stack([rng.choice(rows, size=candidates, replace=False) for _ in chosen])
    same = others == chosen[:, None]
    while same.any():  # never the true partner itself
        others[same] = rng.choice(rows, size=int(same.sum()))
        same = others == chosen[:, None]
    a = jet_particles(nominal, max_particles)
    b = jet_particles(alternate, max_particles)
    width = max(a.width, b.width)
    a, b = a.pad_to(width), b.pad_to(width)
    nominal_rows = np.concatenate([chosen, np.repeat(chosen, candidates)])
    alternate_rows = np.concatenate([chosen, others.ravel()])
    emd = evaluate_emd(CloudPair(a.take(nominal_rows), b.take(alternate_rows)), settings, backend=backend).emd
    true_emd, random_emd = emd[: len(chosen)], emd[len(chosen) :].reshape(len(chosen), candidates)
    rank = (random_emd < true_emd[:, None]).sum(axis=1)
    result: dict[str, Any] = {
        "n_jets": int(len(chosen)),
        "candidates": int(candidates),
        "chance_level": 1.0 / (candidates + 1),
        "fraction_true_nearest": float(np.mean(rank == 0)),
        "median_rank_of_true_partner": float(np.median(rank)),
        "true_partner_emd_quantiles": _quantiles(true_emd),
        "random_candidate_emd_quantiles": _quantiles(random_emd.ravel()),
        "emd": {"R": settings.R, "beta": settings.beta, "norm": settings.norm},
    }
    if cutoff is not None:
        true_below, random_below = np.mean(true_emd < cutoff), np.mean(random_emd < cutoff)
        below = true_below * len(chosen) + random_below * random_emd.size
        result.update(
            cutoff=float(cutoff),
            true_partner_below_cutoff=float(true_below),
            random_candidate_below_cutoff=float(random_below),
            purity_below_cutoff=float(true_below * len(chosen) / below) if below > 0 else None,
        )
    return result
