"""How alike the nominal and alternate jets look to a pretrained encoder: the Sinkhorn divergence
between their projections, against the same divergence between two halves of the nominal jets.

The alignment term of ``ot_align`` minimises the first number in training. Two independent
batches of the *same* sample do not have zero divergence (finite-sample noise), so the second
number, the null, is the floor: an encoder to which the two samples look alike gives
``nominal_vs_alternate`` close to ``nominal_vs_nominal``; the excess over the null is what is
left to align. Measured on the study's QCD test jets (never trained on), in batches of the
pretraining's batch size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from codec_jax.data.io import load_sample
from codec_jax.inference.scoring import ClassifierScorer, read_run_items
from codec_jax.inference.trained import load_trained_run
from codec_jax.losses import sinkhorn_alignment

__all__ = ["embedding_alignment"]


def _batched_divergence(a: np.ndarray, b: np.ndarray, batch: int) -> float:
    """Mean Sinkhorn divergence over aligned batches of rows of ``a [n, d]`` and ``b [m, d]``."""
    n_batches = min(len(a), len(b)) // batch
    values = [
        float(
            sinkhorn_alignment(
                jnp.asarray(a[i * batch : (i + 1) * batch]), jnp.asarray(b[i * batch : (i + 1) * batch])
            )[0]
        )
        for i in range(n_batches)
    ]
    return float(np.mean(values))


def embedding_alignment(
    study_dir: str | Path, pretrainings: list[str], seeds: list[int], batch: int = 128
) -> dict[str, Any]:
    """Per pretraining: ``{"nominal_vs_alternate": [per seed], "nominal_vs_nominal": [per seed],
    "excess": [per seed]}`` on the QCD test jets of the MACK study in ``study_dir``.

    The nominal test jets are shuffled (seeded) and split in two halves: half A against half B
    is the null, half A against as many alternate jets the measurement.
    """
    study_dir = Path(study_dir)
    scorer = ClassifierScorer(batch_size=512)
    results: dict[str, Any] = {}
    for pretraining in pretrainings:
        entry = {"nominal_vs_alternate": [], "nominal_vs_nominal": [], "excess": []}
        for seed in seeds:
            run_dir = study_dir / f"seed{seed}" / f"pretrain-{pretraining}"
            max_particles = int(read_run_items(run_dir)["config"]["data"]["max_particles"])
            nominal = load_sample([str(study_dir / "data" / "qcd_nominal_test.root")], max_particles)
            alternate = load_sample([str(study_dir / "data" / "qcd_alternate_test.root")], max_particles)
            run = load_trained_run(run_dir, nominal)
            z_nominal = scorer.project(run.params, run.items, nominal)
            z_alternate = scorer.project(run.params, run.items, alternate)
            order = np.random.default_rng(seed).permutation(len(z_nominal))
            half_a, half_b = z_nominal[order[: len(order) // 2]], z_nominal[order[len(order) // 2 :]]
            measured = _batched_divergence(half_a, z_alternate, batch)
            null = _batched_divergence(half_a, half_b, batch)
            entry["nominal_vs_alternate"].append(measured)
            entry["nominal_vs_nominal"].append(null)
            entry["excess"].append(measured - null)
        results[pretraining] = entry
    return results
