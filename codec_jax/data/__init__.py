"""Data side of codec_jax: generation, substructure, file I/O, flattening, batching."""
