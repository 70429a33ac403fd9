"""The package layout is layered: no module imports from a layer above its own.

The table below is the architecture (shared/DESIGN.md, "Package map"): ground types at the bottom,
the command line at the top. A module may import its own package freely and any package of a
*lower* layer; packages of the same layer stay independent of each other (so models never reach
into losses, nor one study into another). Imports are read from the source text (every
``import`` statement, also function-local ones), so a new upward arrow fails here before anyone
runs the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "codec_jax"

#: Layers from the bottom up; each entry is a package or module of codec_jax.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("codec_jax.errors", "codec_jax.faults"),
    ("codec_jax.jets", "codec_jax.files", "codec_jax.termination"),
    (
        "codec_jax.config",
        "codec_jax.parallel",
        "codec_jax.executors",
        "codec_jax.checkpoint",
        "codec_jax.augment",
        "codec_jax.plots",
        "codec_jax.metrics",
        "codec_jax.emd",
        "codec_jax.models",
        "codec_jax.losses",
    ),
    ("codec_jax.data",),
    ("codec_jax.pairing", "codec_jax.baselines"),
    ("codec_jax.train",),
    ("codec_jax.inference",),
    ("codec_jax.studies.common",),
    ("codec_jax.studies.mack", "codec_jax.studies.codec_tagging", "codec_jax.studies.codec_mass"),
    ("codec_jax.studies",),
    ("codec_jax.demo",),
    ("codec_jax.cli",),
)


def _unit(module: str) -> tuple[str, int]:
    """The most specific entry of :data:`LAYERS` containing ``module``, and its layer."""
    best = None
    for level, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                best is None or len(name) > len(best[0])
            ):
                best = (name, level)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add it to LAYERS")
    return best


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The codec_jax modules imported anywhere in ``path`` (absolute imports; the package uses no
    relative ones)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("codec_jax"):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:  # `from codec_jax import metrics` imports the subpackage
                candidate = f"{node.module}.{alias.name}"
                found.add(
                    candidate
                    if (PACKAGE.parent / candidate.replace(".", "/")).exists()
                    or (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists()
                    else node.module
                )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("codec_jax"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_from_a_layer_above(path):
    module = _module_name(path)
    if module == "codec_jax":
        return  # the package root re-exports the ground types only (checked below)
    unit, level = _unit(module)
    for imported in _imports(path):
        if imported == "codec_jax":
            continue
        other, other_level = _unit(imported)
        if other == unit:
            continue
        assert other_level < level, (
            f"{module} (layer {level}, {unit}) imports {imported} (layer {other_level}, {other}): "
            "a module may import only its own package and lower layers"
        )


def test_package_root_imports_only_ground_types():
    imported = _imports(PACKAGE / "__init__.py")
    assert {_unit(name)[1] for name in imported} <= {0, 1}


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The check itself can fail: a data module importing the training engine is reported."""
    fake = tmp_path / "codec_jax" / "data" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from codec_jax.train import fit\n")
    assert _unit("codec_jax.data.bad")[1] < _unit(next(iter(_imports(fake))))[1]
    assert _unit("codec_jax.studies.mack.study") == ("codec_jax.studies.mack", 8)
    assert _unit("codec_jax.studies.common.summary")[1] < _unit("codec_jax.studies.codec_tagging")[1]
