"""The interim `make demo` job end to end at its smallest size, and its cache."""

import json

import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from codec_jax.cli import main  # noqa: E402
from codec_jax.demo import DEMO_SAMPLES  # noqa: E402


def test_demo_writes_summary_and_reuses_samples(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--jets", "20"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {spec.name for spec in DEMO_SAMPLES}
    assert all(entry["n_jets"] == 20 for entry in summary.values())
    # physics sanity: the Z' soft-drop mass sits far above the QCD one
    assert summary["zprime_nominal"]["median_msd"] > 2 * summary["qcd_nominal"]["median_msd"]
    assert (out / "summary.png").stat().st_size > 10_000
    cached = sorted((out / "samples").glob("*.root"))
    assert len(cached) == len(DEMO_SAMPLES)
    stamps = [path.stat().st_mtime_ns for path in cached]
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--jets", "20"]) == 0
    assert capsys.readouterr().out.count("reusing cached") == len(DEMO_SAMPLES)
    assert [path.stat().st_mtime_ns for path in cached] == stamps
