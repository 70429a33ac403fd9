"""The ``make demo`` job: compact versions of both studies on freshly generated jets, one report.

``codec-jax demo --out runs/demo`` runs, one after the other,

1. the **MACK** robustness study (``configs/mack.py``, preset ``demo``): Z' vs QCD with the nominal
   and the ``fsr_had_alt`` shower, contrastive pretraining on nominal/alternate EMD pairs and on
   augmentations, frozen and fully fine-tuned classifiers, a supervised baseline and the controls
   of equal tagging power, evaluated on both showers;
2. the **CoDec** decorrelation study (``configs/codec_tagging.py``, preset ``demo``): taggers
   trained on a peaky and on a flat-mass sample, a contrastive latent space, MoDe, and the N2 /
   N2_DDT baselines, with their mass sculpting;

each into its own directory (``OUT/mack``, ``OUT/codec_tagging``), and writes ``OUT/report.md``
with both studies' tables and key plots, what was run and how long it took, and the commands
for the full-size studies. Generated samples are cached in ``OUT/cache`` (or ``--cache DIR``), so
a second run only retrains; finished trainings are reused too (delete ``OUT`` to start afresh).
``--preset smoke`` runs the studies' smoke presets instead (a pipeline check, used by the tests).

The study configs are read from the repository's ``configs/`` directory (``make demo`` runs from
the repository root with an editable install).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import time
from pathlib import Path
from typing import Any

import jax

from codec_jax.errors import ConfigError
from codec_jax.files import atomic_path
from codec_jax.studies import load_study_config, run_study

__all__ = ["DEMO_STUDIES", "DemoStudy", "configs_directory", "run_demo"]


@dataclasses.dataclass(frozen=True)
class DemoStudy:
    """One study of the demo: its name (the output subdirectory), config file and title."""

    name: str
    config_file: str
    title: str
    key_plots: tuple[str, ...]


DEMO_STUDIES: tuple[DemoStudy, ...] = (
    DemoStudy(
        "mack",
        "mack.py",
        "MACK: robustness to the parton shower",
        ("frontier_change_qcd_at_zprime_0.5.png", "fractional_change_qcd.png"),
    ),
    DemoStudy(
        "codec_tagging",
        "codec_tagging.py",
        "CoDec: taggers that do not sculpt the QCD mass spectrum",
        ("rejection_vs_inv_jsd.png", "qcd_mass_after_cuts.png"),
    ),
)


def configs_directory() -> Path:
    """The repository's ``configs/`` directory (next to the ``codec_jax`` package).

    Raises:
        ConfigError: it does not exist (the package was installed without the repository).
    """
    directory = Path(__file__).resolve().parent.parent / "configs"
    if not directory.is_dir():
        raise ConfigError(
            f"the demo reads its study configs from {directory}, which does not exist; run it from a "
            "checkout of the codec_jax repository (pip install -e .)"
        )
    return directory


def _study_config(study: DemoStudy, preset: str, cache_dir: Path, workers: int) -> Any:

    config = load_study_config(configs_directory() / study.config_file, preset=preset)
    config.samples.cache_dir = str(cache_dir)
    config.samples.workers = workers
    return config


def _embedded_report(study: DemoStudy, out: Path) -> list[str]:
    """The study's own report.md with headings demoted one level and links made relative to
    the demo directory."""
    path = out / study.name / "report.md"
    text = path.read_text() if path.is_file() else f"(no report was written to {path})"
    lines = []
    for line in text.splitlines():
        if line.startswith("# "):
            continue  # the demo gives its own section title
        if line.startswith("#"):
            line = "#" + line
        line = re.sub(r"\]\((?!https?:|/)([^)]+)\)", lambda m: f"]({study.name}/{m.group(1)})", line)
        lines.append(line)
    for plot in study.key_plots:
        if (out / study.name / plot).is_file():
            lines += ["", f"![{plot}]({study.name}/{plot})"]
    return lines


def _describe(config: Any) -> str:
    samples = config.samples
    if hasattr(samples, "n_wide"):
        jets = f"{samples.n_wide} wide Z', {samples.n_qcd} QCD, {samples.n_peaky} narrow Z' per mass"
        encoder = config.classifier.model.encoder
    else:
        jets = f"{samples.n_jets} jets per sample (Z'/QCD x nominal/{samples.alternate_variant})"
        encoder = config.pretrain.model.encoder
    return f"{jets}; encoder `{encoder}`; seeds {', '.join(map(str, config.seeds))}"


def _write_report(out: Path, preset: str, rows: list[tuple[DemoStudy, Any, float]], total: float) -> Path:

    lines = [
        "# codec_jax demo report",
        "",
        f"Made by `codec-jax demo --out {out}` (preset `{preset}`) on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPU cores, JAX backend `{jax.default_backend()}` with {jax.device_count()} "
        f"device(s); {total / 60:.1f} min in all (generation included unless the samples were cached).",
        "",
        "| study | config | what ran | minutes |",
        "|---|---|---|---|",
    ]
    for study, config, seconds in rows:
        lines.append(
            f"| {study.name} | `configs/{study.config_file}` --preset {preset} | {_describe(config)} "
            f"| {seconds / 60:.1f} |"
        )
    lines += [
        "",
        "These are compact versions of the studies, sized to finish in minutes on a laptop: small "
        "samples, a Deep Sets encoder instead of the papers' Interaction Network / EdgeConv, few "
        "epochs. Their numbers show the method at work but carry large statistical errors "
        "(see each table's spread and statistical-uncertainty lines).",
        "",
    ]
    for study, _, _ in rows:
        lines += [f"## {study.title}", "", *_embedded_report(study, out), ""]
    lines += [
        "## Running the full studies",
        "",
        "```bash",
        "codec-jax run configs/mack.py --out runs/mack                    # ~2 h on 2 CPU cores (5 seeds, controls)",
        "codec-jax run configs/codec_tagging.py --out runs/codec_tagging  # ~2 h on 2 CPU cores (5 seeds, scans)",
        "codec-jax run configs/codec_regression.py --out runs/codec_regression",
        "codec-jax run configs/codec_calibration.py --out runs/codec_calibration",
        "codec-jax run configs/mack.py --preset full --out runs/mack_full  # GPU-sized",
        "```",
        "",
    ]
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def run_demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    preset: str = "demo",
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
) -> Path:
    """Run the demo studies into ``out_dir`` and write ``out_dir/report.md``; returns its path.

    Args:
        out_dir: output directory (one subdirectory per study).
        preset: the study-config preset (``demo``; ``smoke`` for a quick pipeline check).
        cache_dir: where generated samples are cached (default ``out_dir/cache``).
        workers: generation processes.
    """

    out = Path(out_dir)
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    configs = [(study, _study_config(study, preset, cache, workers)) for study in DEMO_STUDIES]
    rows = []
    start = time.perf_counter()
    for index, (study, config) in enumerate(configs, start=1):
        print(f"\n=== [{index}/{len(configs)}] {study.title} -> {out / study.name}", flush=True)
        begin = time.perf_counter()
        run_study(config, out / study.name)
        rows.append((study, config, time.perf_counter() - begin))
        print(f"=== {study.name} done in {rows[-1][2] / 60:.1f} min", flush=True)
    report = _write_report(out, preset, rows, time.perf_counter() - start)
    print(f"\nwrote {report}")
    return report
