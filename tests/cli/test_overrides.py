"""``--set`` parsing shared by engine and study configs (codec_jax.config.parse_value and friends)."""

import dataclasses

import pytest

from codec_jax.config import Config, parse_value, split_override
from codec_jax.errors import ConfigError
from codec_jax.studies import apply_study_overrides


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("3", int, 3),
        ("2e-4", float, 2e-4),
        (" off ", bool, False),
        ("a.root, b.root", tuple[str, ...], ("a.root", "b.root")),
        ("", tuple[int, ...], ()),
        ("[1, 2]", tuple[int, ...], (1, 2)),
        ("yes,0", tuple[bool, ...], (True, False)),
        ("40,200", tuple[float, float], (40.0, 200.0)),
        ("none", int | None, None),
        ("7", int | None, 7),
        ('{"a": [1]}', dict[str, object], {"a": [1]}),
    ],
)
def test_parse_value_by_annotation(text, annotation, expected):
    assert parse_value("key", text, annotation) == expected


@pytest.mark.parametrize(
    ("text", "annotation", "message"),
    [
        ("40,200,300", tuple[float, float], "'key' expects 2 values, got 3"),
        ("[1, 2", tuple[int, ...], "'key': '\\[1, 2' is not valid JSON"),
        ("1,x", tuple[int, ...], "'key\\[1\\]' expects an int"),
        ("maybe", bool | None, "'key' expects a bool"),
    ],
)
def test_parse_value_errors_name_the_key(text, annotation, message):
    with pytest.raises(ConfigError, match=message):
        parse_value("key", text, annotation)


def test_split_override():
    assert split_override(" training.epochs =3") == ("training.epochs", "3")
    assert split_override("data.pairs=a=b.npz") == ("data.pairs", "a=b.npz")
    with pytest.raises(ConfigError, match="must look like section.field=value"):
        split_override("=3")


@dataclasses.dataclass
class _Inner:
    window: tuple[float, float] = (40.0, 200.0)
    limit: int | None = None


@dataclasses.dataclass
class _Study:
    study: str = "toy"
    seeds: tuple[int, ...] = ()
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    options: dict = dataclasses.field(default_factory=dict)
    run: Config = dataclasses.field(default_factory=Config)


def test_study_overrides_use_the_engine_parser_and_the_annotations():
    config = apply_study_overrides(
        _Study(),
        [
            "seeds=1,2",  # typed by the annotation, although the current value is empty
            "inner.window=30,300",
            "inner.limit=5",
            "options.smear.strength=0.3",  # nested dict entries, as in the engine config
            "run.training.epochs=4",
        ],
    )
    assert config.seeds == (1, 2) and config.inner.window == (30.0, 300.0) and config.inner.limit == 5
    assert config.options == {"smear": {"strength": 0.3}} and config.run.training.epochs == 4
    assert apply_study_overrides(config, ["inner.limit=null"]).inner.limit is None
    with pytest.raises(ConfigError, match="'inner.window' expects 2 values"):
        apply_study_overrides(config, ["inner.window=1,2,3"])
    with pytest.raises(ConfigError, match="'options.x': '{bad' is not valid JSON"):
        apply_study_overrides(config, ["options.x={bad"])
    with pytest.raises(ConfigError, match="'run.training.epochz'"):
        apply_study_overrides(config, ["run.training.epochz=1"])
