"""The Pythia 8 settings of every process, width mode and shower/hadronisation variant.

Everything the generator tells Pythia is built here as a list of ``readString`` lines, so a user can
print it (``pythia_settings(...)``) and the generator stores it in the sample's metadata.

Processes (13 TeV pp):

* ``zprime`` -- a vector boson decaying to light quarks (u, d, s). Pythia has no Z'+photon/jet
  process, so the SM Z (id 23) is used with its mass moved and its width forced
  (``WeakZ0:gmZmode = 2`` keeps only the Z part of gamma*/Z). Recoil against a photon
  (``WeakBosonAndParton:ffbar2gmZgm``) or a parton (``qqbar2gmZg`` + ``qg2gmZq``).
  Width modes: ``narrow`` (m0 = mass, width = 1% of the mass, generated within +-10%) and ``wide``
  (m0 = 120 GeV, width = 360 GeV, 30 < m < 320 GeV: a broad spectrum, within a factor ~4 of flat
  over 40-300 GeV, for flat-mass training). Forced widths make the cross-section unphysical.
* ``qcd`` -- ``HardQCD:all`` (parton recoil) or ``PromptPhoton:all`` (photon recoil).

Both use ``PhaseSpace:pTHatMin`` (450 GeV by default, for jets above 400 GeV).
"""

from __future__ import annotations

import dataclasses

from codec_jax.errors import ConfigError

__all__ = [
    "PROCESSES",
    "WIDTH_MODES",
    "RECOILS",
    "VARIANTS",
    "Variant",
    "MAX_SEED",
    "WIDE_MASS_RANGE",
    "DEFAULT_NARROW_MASS",
    "pythia_settings",
    "check_choice",
]

PROCESSES: tuple[str, ...] = ("zprime", "qcd")
WIDTH_MODES: tuple[str, ...] = ("narrow", "wide")
RECOILS: tuple[str, ...] = ("parton", "photon")

#: Pythia accepts seeds 1..900000000 (0 would mean "seed from the clock").
MAX_SEED = 900_000_000

#: Wide mode: Breit-Wigner m0 and forced width [GeV], generated between the two limits [GeV].
WIDE_M0, WIDE_WIDTH = 120.0, 360.0
WIDE_MASS_RANGE: tuple[float, float] = (30.0, 320.0)
#: Narrow mode: width and generated window as fractions of the mass.
NARROW_WIDTH_FRACTION, NARROW_WINDOW_FRACTION = 0.01, 0.10
DEFAULT_NARROW_MASS = 100.0


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named shower/hadronisation set-up: Pythia lines on top of the defaults (Monash tune)."""

    name: str
    settings: tuple[str, ...]
    description: str


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("nominal", (), "Pythia 8.3 defaults: Monash tune, simple shower, FSR alpha_s(mZ) = 0.1365"),
        Variant(
            "fsr_low",
            ("TimeShower:alphaSvalue = 0.118",),
            "less final-state radiation: FSR alpha_s(mZ) 0.1365 -> 0.118 (fewer constituents)",
        ),
        Variant(
            "fsr_high",
            ("TimeShower:alphaSvalue = 0.150",),
            "more final-state radiation: FSR alpha_s(mZ) 0.1365 -> 0.150 (more constituents)",
        ),
        Variant(
            "had_alt",
            ("StringZ:aLund = 0.90", "StringZ:bLund = 0.80", "StringPT:sigma = 0.30"),
            "alternate Lund string fragmentation: aLund 0.68 -> 0.90, bLund 0.98 -> 0.80, "
            "sigma_pT 0.335 -> 0.30 GeV (softer hadrons, more constituents)",
        ),
        Variant(
            "fsr_had_alt",
            (
                "TimeShower:alphaSvalue = 0.150",
                "StringZ:aLund = 0.90",
                "StringZ:bLund = 0.80",
                "StringPT:sigma = 0.30",
            ),
            "fsr_high and had_alt together: more final-state radiation and softer fragmentation (the "
            "largest Pythia-only mismodeling here, standing in for a Pythia vs Herwig comparison)",
        ),
        Variant(
            "vincia",
            ("PartonShowers:model = 2",),
            "the Vincia antenna shower instead of the simple shower (10-30x slower)",
        ),
    )
}


def check_choice(name: str, value: str, choices: tuple[str, ...] | dict) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :class:`ConfigError` naming ``name``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 1..{MAX_SEED} (Pythia's range); got {seed!r}")
    return seed


def _boson_settings(width_mode: str, mass: float | None, recoil: str) -> list[str]:
    if width_mode == "wide":
        if mass is not None:
            raise ConfigError(
                f"mass applies to width_mode 'narrow' only; the wide mode covers {WIDE_MASS_RANGE} GeV"
            )
        m0, width, (m_min, m_max) = WIDE_M0, WIDE_WIDTH, WIDE_MASS_RANGE
    else:
        m0 = DEFAULT_NARROW_MASS if mass is None else float(mass)
        if not 20.0 <= m0 <= 2000.0:
            raise ConfigError(f"mass must be between 20 and 2000 GeV; got {mass!r}")
        width = NARROW_WIDTH_FRACTION * m0
        m_min, m_max = m0 * (1 - NARROW_WINDOW_FRACTION), m0 * (1 + NARROW_WINDOW_FRACTION)
    if recoil == "photon":
        production = ["WeakBosonAndParton:ffbar2gmZgm = on"]
    else:
        production = ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on"]
    return [
        *production,
        "WeakZ0:gmZmode = 2",
        "23:doForceWidth = on",
        f"23:m0 = {m0:g}",
        f"23:mWidth = {width:g}",
        f"23:mMin = {m_min:g}",
        f"23:mMax = {m_max:g}",
        "23:onMode = off",
        "23:onIfAny = 1 2 3",
    ]


def pythia_settings(
    process: str,
    *,
    seed: int,
    variant: str = "nominal",
    width_mode: str = "narrow",
    mass: float | None = None,
    recoil: str = "parton",
    pthat_min: float = 450.0,
) -> list[str]:
    """The Pythia ``readString`` lines for one generation job.

    Args:
        process: ``"zprime"`` or ``"qcd"``.
        seed: Pythia seed, 1..900000000.
        variant: a key of :data:`VARIANTS`.
        width_mode: ``"narrow"`` (peak at ``mass``) or ``"wide"`` (30-320 GeV); Z' only.
        mass: narrow-mode boson mass [GeV] (default 100); must be None in wide mode.
        recoil: ``"parton"`` or ``"photon"``.
        pthat_min: ``PhaseSpace:pTHatMin`` [GeV].

    Raises:
        ConfigError: an unknown name or a value out of range, naming the argument.
    """
    check_choice("process", process, PROCESSES)
    check_choice("variant", variant, VARIANTS)
    check_choice("width_mode", width_mode, WIDTH_MODES)
    check_choice("recoil", recoil, RECOILS)
    _check_seed(seed)
    if not pthat_min > 0:
        raise ConfigError(f"pthat_min must be positive (GeV); got {pthat_min!r}")
    lines = [
        "Beams:eCM = 13000.",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        f"PhaseSpace:pTHatMin = {pthat_min:g}",
    ]
    if process == "zprime":
        lines += _boson_settings(width_mode, mass, recoil)
    else:
        if width_mode != "narrow" or mass is not None:
            raise ConfigError("width_mode and mass apply to process 'zprime' only, not 'qcd'")
        lines.append("PromptPhoton:all = on" if recoil == "photon" else "HardQCD:all = on")
    return lines + list(VARIANTS[variant].settings)
