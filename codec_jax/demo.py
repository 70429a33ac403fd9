"""The ``make demo`` job (interim): generate a small nominal/alternate sample and summarise it.

Generates narrow Z' (signal) and QCD jets in the nominal and an alternate shower variant with
Pythia 8 + FastJet, caches the ROOT files under ``OUT/samples/`` (a second run reuses them), and
writes ``OUT/summary.json`` (per-sample means/medians) and ``OUT/summary.png`` (jet mass,
soft-drop mass, N2 and multiplicity per sample). The full demo (compact MACK and CoDec studies)
replaces this once the study pipelines exist.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec_jax.jets import JetSample

__all__ = ["DemoSample", "DEMO_SAMPLES", "demo_samples", "run_demo"]


@dataclass(frozen=True)
class DemoSample:
    """One generated sample of the demo: a name, the process and the shower variant."""

    name: str
    process: str
    variant: str


DEMO_SAMPLES: tuple[DemoSample, ...] = (
    DemoSample("zprime_nominal", "zprime", "nominal"),
    DemoSample("zprime_alternate", "zprime", "fsr_high"),
    DemoSample("qcd_nominal", "qcd", "nominal"),
    DemoSample("qcd_alternate", "qcd", "fsr_high"),
)


def demo_samples(
    out_dir: str | os.PathLike, *, n_jets: int, seed: int = 1, workers: int = 1
) -> dict[str, JetSample]:
    """Generate (or reuse from ``out_dir/samples``) the demo samples; returns name -> sample."""
    from codec_jax.data.generate import GenerationConfig, generate_to_file
    from codec_jax.data.io import read_root

    sample_dir = Path(out_dir) / "samples"
    sample_dir.mkdir(parents=True, exist_ok=True)
    samples = {}
    for index, spec in enumerate(DEMO_SAMPLES):
        path = sample_dir / f"{spec.name}_{n_jets}_seed{seed}.root"
        if path.is_file():
            print(f"reusing cached {path}")
        else:
            print(f"generating {n_jets} {spec.process} jets ({spec.variant}) -> {path}")
            config = GenerationConfig(
                process=spec.process, n_jets=n_jets, seed=seed + 1000 * index, variant=spec.variant
            )
            generate_to_file(config, path, workers=workers)
        samples[spec.name] = read_root(path)
    return samples


def _summary_table(samples: dict[str, JetSample]) -> str:
    header = f"{'sample':<18} {'jets':>6} {'<n_part>':>9} {'med m_SD':>9} {'med N2':>7} {'med tau21':>9}"
    lines = [header, "-" * len(header)]
    for name, sample in samples.items():
        s = sample.summary()
        lines.append(
            f"{name:<18} {len(sample):>6d} {s['mean_n_particles']:>9.1f} {s['median_msd']:>9.1f} "
            f"{s['median_n2']:>7.3f} {float(np.median(sample.tau21)):>9.3f}"
        )
    return "\n".join(lines)


def _plot(samples: dict[str, JetSample], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codec_jax.plots import hep_style, save_figure

    panels = (
        ("msd", "soft-drop mass [GeV]", np.linspace(0, 250, 26)),
        ("mass", "jet mass [GeV]", np.linspace(0, 300, 31)),
        ("n2", "$N_2$", np.linspace(0, 0.6, 31)),
        ("n_particles", "constituents", np.linspace(0, 120, 25)),
    )
    with hep_style():
        figure, axes = plt.subplots(2, 2, figsize=(10, 8))
        for axis, (field, label, bins) in zip(axes.flat, panels):
            for name, sample in samples.items():
                style = "-" if name.endswith("nominal") else "--"
                axis.hist(
                    getattr(sample, field), bins=bins, density=True, histtype="step", ls=style, label=name
                )
            axis.set_xlabel(label)
            axis.set_ylabel("a.u.")
        axes.flat[0].legend(fontsize="small")
        figure.tight_layout()
        return save_figure(figure, path)


def run_demo(
    out_dir: str | os.PathLike = "runs/demo", *, n_jets: int = 400, seed: int = 1, workers: int = 1
) -> dict:
    """Generate the demo samples, print a table, write ``summary.json`` and ``summary.png``."""
    out = Path(out_dir)
    samples = demo_samples(out, n_jets=n_jets, seed=seed, workers=workers)
    table = _summary_table(samples)
    print(table)
    summary = {name: sample.summary() for name, sample in samples.items()}
    from codec_jax.data.io import atomic_path

    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    plot = _plot(samples, out / "summary.png")
    print(f"wrote {out / 'summary.json'} and {plot}")
    return summary
