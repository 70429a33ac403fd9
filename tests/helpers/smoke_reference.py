"""The smoke metrics of every study as recorded *before* the package-layout move, and a check that
a study run today reproduces them.

``tests/studies/smoke_reference.json`` holds, per study, the ``runs`` of ``metrics.json`` produced
by the same smoke fixtures (same seeds, samples and models) with the code as it was before the
move, and the versions of the numerical packages it ran with. Training is deterministic on the
CPU, so with the same package versions the numbers agree to float round-off; with other versions
(XLA changes the order of float operations) the comparison is skipped with that reason.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "studies" / "smoke_reference.json"


def _compare(expected: Any, actual: Any, path: str, differences: list[str]) -> None:
    if isinstance(expected, Mapping):
        for key, value in expected.items():
            if "seconds" in key:
                continue
            if key not in actual:
                differences.append(f"{path}/{key}: missing")
            else:
                _compare(value, actual[key], f"{path}/{key}", differences)
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            differences.append(f"{path}: {len(actual)} entries, expected {len(expected)}")
        for index, (a, b) in enumerate(zip(expected, actual)):
            _compare(a, b, f"{path}[{index}]", differences)
    elif isinstance(expected, float) and isinstance(actual, (int, float)):
        if not math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9):
            differences.append(f"{path}: {actual!r}, expected {expected!r}")
    elif expected != actual:
        differences.append(f"{path}: {actual!r}, expected {expected!r}")


def assert_matches_reference(study: str, metrics: Mapping[str, Any]) -> None:
    """Every per-model, per-seed metric recorded for ``study`` equals today's (models added since
    are not compared)."""
    reference = json.loads(REFERENCE.read_text())
    changed = {
        name: (version, importlib.metadata.version(name))
        for name, version in reference["versions"].items()
        if importlib.metadata.version(name) != version
    }
    if changed:
        pytest.skip(f"recorded with other package versions {changed}: float results may differ")
    differences: list[str] = []
    _compare(reference["runs"][study], metrics["runs"], study, differences)
    assert not differences, f"{len(differences)} smoke metrics changed, e.g. {differences[:5]}"
