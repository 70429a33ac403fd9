"""Claims as data: a statement, the measured effect with its error, and a verdict by a rule fixed
before the run (DESIGN.md, convention 13).

The caller orients the effect: ``effect`` is positive in the direction the statement claims
(for "MACK changes eps_QCD less than the supervised tagger": ``|r_sup| - |r_MACK|``). Then
``n_sigma = effect / error`` and, for the rule's threshold ``t`` (3 by default):

* ``"supported"`` if ``n_sigma >= t``;
* ``"contradicted"`` if ``n_sigma <= -t`` (the data show the opposite);
* ``"inconclusive"`` otherwise, and whenever the effect or the error is not finite or the error
  is not positive (then ``n_sigma`` is ``None`` and ``reason`` says why).

:class:`Claim.to_dict` is JSON-ready (``None`` instead of NaN/inf) and :meth:`Claim.from_dict`
reads it back; :func:`claims_markdown` renders claims as report lines.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from codec_jax.errors import ConfigError

__all__ = ["VERDICTS", "Claim", "ClaimRule", "claims_markdown", "evaluate_claim"]

#: The possible verdicts.
VERDICTS = ("supported", "contradicted", "inconclusive")

Verdict = Literal["supported", "contradicted", "inconclusive"]


@dataclasses.dataclass(frozen=True)
class ClaimRule:
    """The decision rule, fixed in a study config before the run: ``threshold`` in sigma (> 0)."""

    threshold: float = 3.0

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ConfigError(f"ClaimRule.threshold must be a finite number, got {self.threshold!r}")
        if self.threshold <= 0:
            raise ConfigError(f"ClaimRule.threshold must be > 0, got {self.threshold}")

    @property
    def text(self) -> str:
        """The rule in words, stored with every claim."""
        t = f"{self.threshold:g}"
        return (
            f"n_sigma = effect / error (positive in the claimed direction); supported if n_sigma >= {t}, "
            f"contradicted if n_sigma <= -{t}, otherwise inconclusive"
        )

    def verdict(self, n_sigma: float) -> Verdict:
        """The verdict for a finite ``n_sigma``."""
        if n_sigma >= self.threshold:
            return "supported"
        if n_sigma <= -self.threshold:
            return "contradicted"
        return "inconclusive"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim with its evidence. ``n_sigma`` is ``None`` when it is undefined (``reason``)."""

    id: str
    statement: str
    effect: float
    error: float
    n_sigma: float | None
    verdict: Verdict
    rule: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become ``None``)."""
        out = dataclasses.asdict(self)
        for key in ("effect", "error", "n_sigma"):
            value = out[key]
            out[key] = None if value is None or not math.isfinite(value) else float(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claim:
        """Inverse of :meth:`to_dict` (``None`` effect or error read back as NaN)."""
        number = lambda key: math.nan if data[key] is None else float(data[key])  # noqa: E731
        verdict = data["verdict"]
        if verdict not in VERDICTS:
            raise ConfigError(f"claim {data.get('id')!r}: unknown verdict {verdict!r}")
        return cls(
            id=str(data["id"]),
            statement=str(data["statement"]),
            effect=number("effect"),
            error=number("error"),
            n_sigma=None if data["n_sigma"] is None else float(data["n_sigma"]),
            verdict=verdict,
            rule=str(data["rule"]),
            reason=data.get("reason"),
        )


def evaluate_claim(
    id: str,
    statement: str,
    effect: float,
    error: float,
    rule: ClaimRule | None = None,
) -> Claim:
    """The :class:`Claim` for ``effect ± error`` (effect positive in the claimed direction)
    under ``rule`` (default :class:`ClaimRule` ``()``, 3 sigma)."""
    rule = ClaimRule() if rule is None else rule
    effect, error = float(effect), float(error)
    reason = None
    if not math.isfinite(effect):
        reason = f"the effect is not finite ({effect})"
    elif not math.isfinite(error):
        reason = f"the error is not finite ({error})"
    elif error <= 0:
        reason = f"the error is not positive ({error}): no uncertainty estimate"
    if reason is not None:
        return Claim(id, statement, effect, error, None, "inconclusive", rule.text, reason)
    n_sigma = effect / error
    return Claim(id, statement, effect, error, n_sigma, rule.verdict(n_sigma), rule.text)


def claims_markdown(claims: Iterable[Claim]) -> list[str]:
    """One markdown line per claim: ``- **supported** (4.21σ): statement: effect ± error``
    (``(n/a)`` and the reason when ``n_sigma`` is undefined)."""
    lines = []
    for claim in claims:
        significance = "n/a" if claim.n_sigma is None else f"{claim.n_sigma:.2f}σ"  # 2.98σ, not "3.0σ"
        line = f"- **{claim.verdict}** ({significance}): {claim.statement}: {claim.effect:.3g} ± {claim.error:.2g}"
        if claim.reason:
            line += f" ({claim.reason})"
        lines.append(line)
    return lines
