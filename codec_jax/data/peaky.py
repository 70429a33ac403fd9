"""The "peaky" comparison set of CoDec: narrow Z' samples instead of the flat one.

A tagger trained on narrow resonances at a few masses learns those masses; the CoDec comparison
trains the same model on such a "peaky" set of the same size as the flat set (see
:mod:`codec_jax.data.flat`). :func:`peaky_sample` builds it in equal shares from one sample per
mass point, deterministically from a seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codec_jax.data.bias import checked_finite, checked_range
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample, concatenate

__all__ = ["peaky_sample"]


def peaky_sample(
    seed: int,
    samples: Sequence[JetSample],
    n_jets: int,
    *,
    mass_range: tuple[float, float] | None = None,
) -> JetSample:
    """The "peaky" comparison set: equal shares of narrow Z' samples, ``n_jets`` in total.

    Args:
        seed: seeds the NumPy generator.
        samples: one sample per generated Z' mass point (or a single one).
        n_jets: total size, e.g. ``len(flat.signal)`` to match the flat set.
        mass_range: optional ``(m_lo, m_hi)`` soft-drop-mass window applied first (as for the
            flat set).

    Returns:
        ``n_jets`` jets drawn without replacement (shares differ by at most one jet), unit weights.

    Raises:
        DataError: a sample has fewer jets (in the window) than its share.
    """
    samples = list(samples)
    if not samples:
        raise ConfigError("peaky_sample needs at least one sample")
    if n_jets < len(samples):
        raise ConfigError(f"n_jets={n_jets} is smaller than the number of samples ({len(samples)})")
    shares = np.full(len(samples), n_jets // len(samples))
    shares[: n_jets % len(samples)] += 1
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(samples))]
    parts = []
    for i, (rng, sample, share) in enumerate(zip(rngs, samples, shares)):
        candidates = np.arange(len(sample))
        if mass_range is not None:
            lo, hi = checked_range("mass_range", mass_range)
            msd = checked_finite(f"sample {i} field 'msd'", sample.msd)
            candidates = np.flatnonzero((msd >= lo) & (msd <= hi))
        if candidates.size < share:
            raise DataError(
                f"peaky sample {i} ({sample.metadata.get('source', 'in memory')}) has {candidates.size} jets"
                f"{' in the mass window' if mass_range is not None else ''}, needs {share}"
            )
        pick = np.sort(rng.choice(candidates, size=int(share), replace=False))
        parts.append(sample[pick].replace(weight=np.ones(int(share), np.float32)))
    return concatenate(parts).with_metadata(peaky={"seed": int(seed), "shares": shares.tolist()})
