"""`make demo` end to end at its smallest size (the studies' smoke presets), and its caches."""

import re

import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from codec_jax.cli import main  # noqa: E402
from codec_jax.demo import DEMO_STUDIES  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end study runs: left out of `make test-fast`


def test_demo_smoke_writes_one_report_and_reuses_everything(tmp_path, codec_smoke_cache, capsys):
    out = tmp_path / "demo"
    args = [
        "demo",
        "--out",
        str(out),
        "--preset",
        "smoke",
        "--cache",
        str(codec_smoke_cache),
        "--workers",
        "1",
    ]
    assert main(args) == 0
    report = (out / "report.md").read_text()
    for study in DEMO_STUDIES:
        assert study.title in report
        assert (out / study.name / "metrics.json").is_file()
        assert (out / study.name / "report.md").is_file()
        for plot in study.key_plots:  # the plots the demo report embeds exist under these names
            assert (out / study.name / plot).is_file(), plot
            assert f"![{plot}]({study.name}/{plot})" in report
    # every link in the demo report points at a file the demo wrote
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert links, "the demo report links no plots"
    for link in links:
        assert (out / link).is_file(), link
    assert any(link.endswith(".png") for link in links)
    assert "| study | config | what ran | minutes |" in report

    # a second run regenerates nothing and retrains nothing
    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("scores.npz")}
    assert stamps
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "generating" not in printed
    assert printed.count("reusing cached sample") >= 7  # 4 MACK + 3 CoDec samples
    assert {path: path.stat().st_mtime_ns for path in out.rglob("scores.npz")} == stamps
