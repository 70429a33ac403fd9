"""Tests of claims as data (codec_jax.metrics.claims): verdicts at the rule's boundaries, signs,
undefined inputs, JSON round trips and the markdown lines of reports."""

from __future__ import annotations

import json
import math

import pytest

from codec_jax import metrics
from codec_jax.errors import ConfigError


@pytest.mark.parametrize(
    ("effect", "error", "verdict"),
    [
        (3.0, 1.0, "supported"),  # exactly at the threshold
        (-3.0, 1.0, "contradicted"),
        (2.999, 1.0, "inconclusive"),  # just below
        (-2.999, 1.0, "inconclusive"),
        (0.0, 1.0, "inconclusive"),
        (0.42, 0.1, "supported"),
        (-0.42, 0.1, "contradicted"),
        (6.0, 2.5, "inconclusive"),  # 2.4 sigma
    ],
)
def test_verdicts_at_the_default_three_sigma_rule(effect, error, verdict):
    claim = metrics.evaluate_claim("c1", "a statement", effect, error)
    assert claim.verdict == verdict
    assert claim.n_sigma == pytest.approx(effect / error, rel=1e-15)
    assert math.copysign(1.0, claim.n_sigma) == math.copysign(1.0, effect)  # the sign is kept
    assert claim.rule == metrics.ClaimRule().text and "3" in claim.rule
    assert claim.reason is None


def test_the_rule_threshold_is_configurable_and_validated():
    strict = metrics.ClaimRule(threshold=5.0)
    assert metrics.evaluate_claim("c", "s", 4.9, 1.0, strict).verdict == "inconclusive"
    assert metrics.evaluate_claim("c", "s", 5.0, 1.0, strict).verdict == "supported"
    assert metrics.evaluate_claim("c", "s", -5.0, 1.0, strict).verdict == "contradicted"
    assert "n_sigma >= 5" in strict.text and "<= -5" in strict.text
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="threshold"):
            metrics.ClaimRule(threshold=bad)


@pytest.mark.parametrize(
    ("effect", "error", "reason"),
    [
        (1.0, 0.0, "not positive"),
        (1.0, -0.5, "not positive"),
        (math.nan, 0.1, "effect is not finite"),
        (math.inf, 0.1, "effect is not finite"),
        (1.0, math.nan, "error is not finite"),
        (1.0, math.inf, "error is not finite"),
    ],
)
def test_undefined_inputs_are_inconclusive_with_a_reason(effect, error, reason):
    claim = metrics.evaluate_claim("c", "s", effect, error)
    assert claim.verdict == "inconclusive" and claim.n_sigma is None
    assert reason in claim.reason


def test_json_round_trip_without_nan():
    claims = [
        metrics.evaluate_claim("robust", "MACK changes eps_QCD less", 0.12, 0.03),
        metrics.evaluate_claim("undefined", "no error estimate", math.nan, math.inf),
    ]
    for claim in claims:
        data = claim.to_dict()
        assert set(data) == {"id", "statement", "effect", "error", "n_sigma", "verdict", "rule", "reason"}
        text = json.dumps(data, allow_nan=False)  # raises on NaN/inf
        back = metrics.Claim.from_dict(json.loads(text))
        assert back.to_dict() == data
    assert claims[0].to_dict()["n_sigma"] == pytest.approx(4.0)
    assert metrics.Claim.from_dict(claims[0].to_dict()) == claims[0]
    assert claims[1].to_dict()["effect"] is None and claims[1].to_dict()["n_sigma"] is None
    with pytest.raises(ConfigError, match="unknown verdict"):
        metrics.Claim.from_dict({**claims[0].to_dict(), "verdict": "true"})


def test_markdown_lines():
    lines = metrics.claims_markdown(
        [
            metrics.evaluate_claim("a", "MACK changes eps_QCD less", 0.126, 0.03),
            metrics.evaluate_claim("b", "CoDec sculpts less", -0.5, 0.1),
            metrics.evaluate_claim("c", "no error", 0.5, 0.0),
            metrics.evaluate_claim("d", "just short", 0.125, 0.042),
        ]
    )
    assert lines[0] == "- **supported** (4.20σ): MACK changes eps_QCD less: 0.126 ± 0.03"
    assert lines[1] == "- **contradicted** (-5.00σ): CoDec sculpts less: -0.5 ± 0.1"
    assert lines[2].startswith("- **inconclusive** (n/a): no error: 0.5 ± 0 (the error is not positive")
    # 2.976 sigma is inconclusive and must not read as "3.0σ"
    assert lines[3] == "- **inconclusive** (2.98σ): just short: 0.125 ± 0.042"
