"""Positive pairs for contrastive pretraining.

* :mod:`.search` -- MACK's (nominal, alternate) pairs: candidates, their EMD, the cutoff C;
* :mod:`.config` -- :class:`PairingConfig`, every setting of that search, validated in one place;
* :mod:`.candidates` -- candidate schemes (random, nearest, binned) and cheap jet keys;
* :mod:`.evaluate` -- EMDs of many candidates in chunks (exact or Sinkhorn), certification;
* :mod:`.same_class` -- CoDec's positives: two jets of one class;
* :mod:`.pairs` -- the :class:`PairSet` value type and its ``.npz`` files;
* :mod:`.shards` -- the search split over N jobs (``pair --shard i/N``) and their merge;
* :mod:`.plots` -- the EMD distribution of a search.
"""

from codec_jax.pairing.config import BACKENDS, PairingConfig
from codec_jax.pairing.pairs import PairSet, load_pairs, save_pairs
from codec_jax.pairing.plots import plot_pair_emd
from codec_jax.pairing.same_class import PAIR_MASS_MODES, same_class_pairs
from codec_jax.pairing.search import STRATEGIES, find_pairs, jet_particles
from codec_jax.pairing.shards import find_pair_shard, merge_pair_shards

__all__ = [
    "BACKENDS",
    "PAIR_MASS_MODES",
    "STRATEGIES",
    "PairSet",
    "PairingConfig",
    "find_pair_shard",
    "find_pairs",
    "jet_particles",
    "load_pairs",
    "merge_pair_shards",
    "plot_pair_emd",
    "same_class_pairs",
    "save_pairs",
]
