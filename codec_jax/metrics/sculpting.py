"""Mass sculpting as an excess over the statistical floor: ``JSD(pass, fail) - floor``.

A cut on a tagger splits the background (QCD) jets into passing and failing ones; if the tagger
learned the mass, their mass histograms differ. Even a mass-independent cut gives a positive
Jensen-Shannon divergence between the two finite histograms (fluctuations), so the sculpting is
measured as the *excess* of the tagger's JSD over the mean JSD of random cuts that pass the same
background fraction of the same jets (:func:`jsd_excess`). The excess is about zero for a
mass-independent tagger at any sample size and positive for a sculpting one, so it is comparable
between taggers on the same sample, can be bootstrapped
(:mod:`codec_jax.metrics.uncertainty`) and enters claims with an error.

Conventions (as :mod:`codec_jax.metrics.tagging`):

* JSD is the divergence with the natural log (:func:`codec_jax.metrics.jsd`), in ``[0, ln 2]``.
* Histogram bins are given as edges ``[bins + 1]``, strictly increasing; the last bin includes
  its right edge (as ``np.histogram``); background jets outside the edges are in no histogram
  (they still count for the pass fraction).
* A cut keeps ``score >= threshold``; the threshold is the highest one keeping at least
  ``efficiency`` of the signal weight.
* The random cuts: each trial orders the background jets at random and passes the shortest
  prefix whose weight reaches the tagger's passing background weight (for unit weights exactly
  the same number of jets as the tagger).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from codec_jax.errors import DataError
from codec_jax.metrics._inputs import _check_efficiency, _class, _finite_1d, _thresholds, _weights

__all__ = ["JSDExcess", "jsd_excess"]


class JSDExcess(NamedTuple):
    """Result of :func:`jsd_excess`.

    ``jsd``: JSD(pass, fail) of the background mass at the tagger's cut; ``floor``: the mean JSD of
    the random cuts; ``excess = jsd - floor``; ``floor_std``: the spread (ddof=1) of one random
    cut's JSD (the null distribution of ``jsd`` for a mass-independent tagger; the Monte Carlo
    error of ``floor`` is ``floor_std / sqrt(trials)``); ``background_efficiency``: the passing
    fraction of the background weight; ``threshold``: the cut.
    """

    jsd: float
    floor: float
    excess: float
    floor_std: float
    background_efficiency: float
    threshold: float


def _jsd_rows(passed: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """JSD (natural log) of each row pair of histograms ``[rows, bins]``; nan for an empty row."""
    p_sum, q_sum = passed.sum(axis=1, keepdims=True), failed.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, q = passed / p_sum, failed / q_sum
        m = 0.5 * (p + q)
        terms = np.where(p > 0, p * np.log(p / m), 0.0) + np.where(q > 0, q * np.log(q / m), 0.0)
    divergence = np.maximum(0.5 * terms.sum(axis=1), 0.0)
    return np.where((p_sum[:, 0] > 0) & (q_sum[:, 0] > 0), divergence, np.nan)


def _prefix_by_keys(keys: np.ndarray, weights: np.ndarray, target: float) -> np.ndarray:
    """The jets ``[n]`` (bool) of the shortest prefix, in increasing ``keys`` (uniform in [0, 1)),
    whose weight reaches ``target`` (> 0).

    Only the keys near the expected cut are sorted (a window of +-6 standard deviations of the
    passed fraction); a full sort is the fallback when the cut lies outside the window.
    """
    reach = target * (1 - 1e-12)
    total = weights.sum()
    fraction = min(target / total, 1.0)
    margin = 6.0 * np.sqrt(fraction * (1 - fraction) * np.sum(weights**2)) / total + 10.0 / keys.size
    below = keys < fraction - margin
    base = weights[below].sum()
    window = np.flatnonzero((keys >= fraction - margin) & (keys < fraction + margin))
    window = window[np.argsort(keys[window])]
    n_pass = int(np.count_nonzero(base + np.cumsum(weights[window]) < reach)) + 1
    if base >= reach or n_pass > window.size:
        window, below, base = np.argsort(keys), np.zeros(keys.size, dtype=bool), 0.0
        n_pass = int(np.count_nonzero(np.cumsum(weights[window]) < reach)) + 1
    passing = below.copy()
    passing[window[:n_pass]] = True
    return passing


def _random_cut_histograms(
    bins: np.ndarray, weights: np.ndarray, passed_weight: float, n_bins: int, trials: int, rng
) -> np.ndarray:
    """Passing histograms ``[trials, n_bins + 1]`` of random cuts (last column: outside the edges).

    Each trial orders the jets by independent uniform keys (a uniformly random order) and passes
    the shortest prefix whose weight reaches ``passed_weight``. For equal weights that is a
    uniformly random subset of a fixed size, whose histogram is a multivariate hypergeometric draw
    from the total histogram: O(bins) per trial; otherwise O(n) per trial.
    """
    if passed_weight <= 0:
        return np.zeros((trials, n_bins + 1))
    if np.all(weights == weights[0]):
        n_pass = int(np.count_nonzero(np.cumsum(weights) < passed_weight * (1 - 1e-12))) + 1
        counts = np.bincount(bins, minlength=n_bins + 1)
        return weights[0] * rng.multivariate_hypergeometric(counts, n_pass, size=trials).astype(np.float64)
    histograms = np.empty((trials, n_bins + 1))
    for trial in range(trials):
        passing = _prefix_by_keys(rng.random(bins.size), weights, passed_weight)
        histograms[trial] = np.bincount(bins[passing], weights=weights[passing], minlength=n_bins + 1)
    return histograms


def _data_rng(seed: int, mass: np.ndarray, weights: np.ndarray) -> np.random.Generator:
    """A generator seeded by ``seed`` and a digest of the background jets (mass and weights)."""
    digest = hashlib.blake2b(mass.tobytes() + weights.tobytes(), digest_size=16).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest, "little")])


def jsd_excess(
    signal_scores: object,
    background_scores: object,
    background_mass: object,
    bin_edges: object,
    efficiency: float = 0.5,
    *,
    signal_weights: object = None,
    background_weights: object = None,
    trials: int = 20,
    seed: int | np.random.Generator = 0,
) -> JSDExcess:
    """Mass sculpting of a tagger: JSD(pass, fail) of the background mass histogram at the cut
    keeping ``efficiency`` of the signal, minus the mean JSD of ``trials`` random cuts passing
    the same background weight fraction of the same jets.

    Args:
        signal_scores: ``[n_sig]`` scores of signal jets (fix the threshold), with optional
            ``signal_weights [n_sig]``.
        background_scores, background_mass: ``[n_bkg]`` of background jets, possibly from
            another (dedicated sculpting) sample, with optional ``background_weights [n_bkg]``;
            the mass in the unit of ``bin_edges``.
        bin_edges: ``[bins + 1]`` strictly increasing.
        efficiency: signal efficiency of the working point, in (0, 1].
        trials: number of random cuts (>= 2).
        seed: an int, mixed with a digest of the background jets (``background_mass`` and
            weights): every tagger evaluated on the same background jets gets the same random
            cuts (paired), and every bootstrap resample new ones (so the Monte Carlo noise of the
            floor enters the bootstrap error); or a ``np.random.Generator`` used as is.

    Returns a :class:`JSDExcess`. ``jsd`` and ``floor`` are ``nan`` when no background jet passes
    or fails (an empty histogram). Under a paired bootstrap, pass the resampled arrays
    (``scores[indices]``...): the error of ``excess`` then includes the test-set noise and the
    Monte Carlo noise of the floor.
    """
    signal = _finite_1d("signal_scores", signal_scores)
    signal_w = _weights("signal_weights", signal_weights, signal.size)
    scores = _finite_1d("background_scores", background_scores)
    mass = _finite_1d("background_mass", background_mass, scores.size)
    weights = _weights("background_weights", background_weights, scores.size)
    edges = _finite_1d("bin_edges", bin_edges)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise DataError("'bin_edges' must be at least two strictly increasing values")
    efficiency = float(_check_efficiency("efficiency", efficiency))
    if int(trials) != trials or trials < 2:
        raise DataError(f"'trials' must be an integer >= 2, got {trials}")
    _class(signal, signal_w, np.ones(signal.size, dtype=bool), "signal")
    _class(scores, weights, np.ones(scores.size, dtype=bool), "background")

    threshold = float(_thresholds(signal, signal_w, np.array([efficiency]))[0])
    passing = scores >= threshold
    # Bin index per jet; n_bins (an extra last bin) for jets outside the edges.
    n_bins = edges.size - 1
    bins = np.searchsorted(edges, mass, side="right") - 1
    bins[mass == edges[-1]] = n_bins - 1
    bins[(bins < 0) | (bins >= n_bins)] = n_bins
    total = np.bincount(bins, weights=weights, minlength=n_bins + 1)
    passed = np.bincount(bins[passing], weights=weights[passing], minlength=n_bins + 1)
    passed_weight = float(weights[passing].sum())
    rng = seed if isinstance(seed, np.random.Generator) else _data_rng(seed, mass, weights)
    randoms = _random_cut_histograms(bins, weights, passed_weight, n_bins, int(trials), rng)
    histograms = np.vstack([passed, randoms])[:, :n_bins]
    # Failing = total - passing; zero below the rounding of sums of non-integer weights.
    failed = total[:n_bins] - histograms
    failed[failed <= 1e-12 * total[:n_bins]] = 0.0
    divergences = _jsd_rows(histograms, failed)
    divergence, random_jsd = float(divergences[0]), divergences[1:]
    floor = float(np.mean(random_jsd))
    return JSDExcess(
        jsd=divergence,
        floor=floor,
        excess=divergence - floor,
        floor_std=float(np.std(random_jsd, ddof=1)),
        background_efficiency=passed_weight / float(weights.sum()),
        threshold=threshold,
    )
