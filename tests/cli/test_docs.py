"""docs/cli.md and docs/config.md cannot drift from the parser and the config dataclasses.

docs/cli.md has one section per subcommand (``## `codec-jax NAME` ``) with the parser's usage
line in its first code block and a table row per option; docs/config.md has a table row per
field of every engine config dataclass.
"""

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from codec_jax import config as config_lib
from codec_jax.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _sections(text: str, pattern: str) -> dict[str, str]:
    """Heading name -> the text up to the next heading of the same level."""
    parts = re.split(pattern, text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _table_keys(section: str) -> set[str]:
    """The backticked first word of every table row (`--out DIR` -> --out)."""
    return {match.group(1) for match in re.finditer(r"^\| `([^` ]+)[` ]", section, flags=re.MULTILINE)}


CLI_SECTIONS = _sections((DOCS / "cli.md").read_text(), r"^## `codec-jax (\w+)`\s*$")
SUBPARSERS = _subparsers()


def test_every_subcommand_has_a_section():
    assert set(CLI_SECTIONS) == set(SUBPARSERS)


@pytest.mark.parametrize("name", sorted(SUBPARSERS))
def test_section_lists_every_option_and_the_usage_line(name):
    parser, section = SUBPARSERS[name], CLI_SECTIONS[name]
    usage = re.search(r"```\n(usage:.*?)```", section, flags=re.DOTALL)
    assert usage, f"docs/cli.md: no usage block in the {name} section"
    assert usage.group(1).split() == parser.format_usage().split(), f"usage of {name} differs"
    options = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        names = [s for s in action.option_strings if s.startswith("--")] or [action.dest]
        options.update(names)
    options.discard("--debug")  # a global option, documented once (and in every usage line)
    rows = _table_keys(section)
    assert options - rows == set(), f"options of {name} missing from docs/cli.md"
    assert rows - options == set(), f"docs/cli.md lists options that {name} does not have"


ENGINE_SECTIONS = {
    "model": config_lib.ModelConfig,
    "data": config_lib.DataConfig,
    "loss": config_lib.LossConfig,
    "optimizer": config_lib.OptimizerConfig,
    "training": config_lib.TrainingConfig,
    "finetune": config_lib.FinetuneConfig,
}


def test_config_doc_lists_every_field():
    text = (DOCS / "config.md").read_text()
    sections = _sections(text, r"^### `(\w+)` \(`\w+`\)\s*$")
    assert set(sections) == set(ENGINE_SECTIONS)
    assert {field.name for field in dataclasses.fields(config_lib.Config)} == set(ENGINE_SECTIONS) | {"name"}
    top = text.split("## The engine config", 1)[1].split("### ", 1)[0]
    assert _table_keys(top) == {field.name for field in dataclasses.fields(config_lib.Config)}
    for section, cls in ENGINE_SECTIONS.items():
        fields = {field.name for field in dataclasses.fields(cls)}
        assert _table_keys(sections[section]) == fields, f"docs/config.md, section {section}"
