"""The runnable examples of docs/ot.md run as printed and do what the text says."""

import re
from pathlib import Path

import pytest

OT_DOC = Path(__file__).resolve().parents[2] / "docs" / "ot.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", OT_DOC.read_text(), re.S)


def test_there_is_one_example_per_feature():
    assert len(_examples()) == 3


@pytest.mark.parametrize("index", range(3))
def test_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    code = _examples()[index].replace("/tmp/", f"{tmp_path}/")
    namespace: dict = {}
    exec(compile(code, f"docs/ot.md example {index}", "exec"), namespace)
    printed = capsys.readouterr().out
    if index == 0:  # the EMD falls by more than 70%
        start, end = map(float, re.findall(r"EMD ([\d.]+) -> ([\d.]+) GeV", printed)[0])
        assert end < 0.3 * start
    elif index == 1:  # one pair per nominal jet at most, each below the cutoff
        pairs = namespace["pairs"]
        assert 0 < len(pairs) <= 200
        assert len(set(pairs.nominal_index)) == len(pairs) == len(set(pairs.alternate_index))
    else:
        assert float(printed.split()[-1]) > 0
