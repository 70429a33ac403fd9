"""One hard process, two showers: the Pythia side of same-hard-event samples.

Three Pythia instances per worker process:

* the **hard-process instance** runs the process settings of :func:`pythia_settings` (Z' narrow or
  wide, QCD, ``pTHatMin``, ...) with ``PartonLevel:all = off`` and ``HadronLevel:all = off``: its
  ``process`` record is the hard 2 -> 2 scattering including the resonance decay (Z' -> q qbar);
* two **showering instances** (nominal and alternate shower/hadronisation variant) with
  ``Beams:frameType = 5``: their hard process comes from an ``LHAup`` (:class:`HardProcessFeed`, a
  Python subclass of ``pythia8mc.LHAup``) that serves copies of the hard-process records, in order,
  one per ``Pythia::next()``. Each instance then adds its own ISR, FSR, MPI, beam remnants,
  hadronisation and decays (``nextBatch(n, "none")``: a failed event stays in place as None, so
  event ``i`` of both showers is hard event ``i``).

Why this and not the bindings' ready-made classes: ``pythia8mc.LHAupFromPYTHIA8(process, info)``
and ``LHEF3FromPythia8(process, info)`` need a live pointer to the hard instance's ``Info``, but the
bindings expose only ``Pythia.infoPython()``, which returns a *copy*. With that copy the LHAup reads
stale scales (SCALUP = QRen = 0: showers start at zero scale, i.e. no ISR/FSR; measured 2 ms instead
of 20 ms per event) or, with a temporary copy, a dangling pointer (``init()`` fails). Writing an LHEF
and reading it back (``Beams:frameType = 4``) works, but rounds the momenta to the file's digits,
needs a file per chunk and drops the incoming partons' transverse momenta; the in-memory feed passes
the record's doubles unchanged.

What the showers receive: all entries of the hard ``process`` record after the beams, with their ids,
mothers, colours, momenta, masses, lifetimes and polarisations; ``SCALUP`` = ``process.scale()`` (the
factorisation scale, where an ordinary run starts its showers too), alpha_s, alpha_em, x1, x2 and
the PDF values of the hard event. Pythia re-derives energies from (p, m) and re-balances the
incoming partons (``LesHouches:matchInOut``): the showers' copies agree with the hard record to
about 1e-15 relative, and with each other exactly.

Checked for every batch (:meth:`SharedShowers.shower` raises :class:`CodecJaxError` otherwise):
each shower called the feed exactly once per event, and the hard-process kinematics each shower
reports (``info`` x1, x2, pT2Hat, mHat) are bit-identical between nominal and alternate and equal to
the hard instance's within 1e-9 relative. (The event-record copies of the hard partons are not
compared: Vincia boosts them in place.)
"""

from __future__ import annotations

import dataclasses
import functools

import awkward as ak
import numpy as np

from codec_jax.data.generate import _initialise, _new_pythia
from codec_jax.data.generation_plan import GenerationConfig
from codec_jax.data.pythia_settings import MAX_SEED, VARIANTS
from codec_jax.errors import CodecJaxError

__all__ = [
    "HARD_PROCESS_ONLY",
    "ROLES",
    "HardEvent",
    "SharedShowers",
    "hard_process_settings",
    "shower_settings",
    "shower_seed",
    "check_shared_hard_process",
    "shared_showers",
    "CHECKED_INFO",
]

#: Lines added to the process settings for the hard-process instance.
HARD_PROCESS_ONLY: tuple[str, ...] = ("PartonLevel:all = off", "HadronLevel:all = off")
#: The two showering instances, in output order.
ROLES: tuple[str, ...] = ("nominal", "alternate")
_STREAM = {"nominal": 1, "alternate": 2}
_PARTICLE_FIELDS = (
    "id",
    "status",
    "mother1",
    "mother2",
    "col",
    "acol",
    "px",
    "py",
    "pz",
    "e",
    "m",
    "tau",
    "pol",
)
#: Hard-process kinematics every shower reports in ``info``, compared between the two showers.
CHECKED_INFO: tuple[str, ...] = ("x1", "x2", "pT2Hat", "mHat")
_RTOL = 1e-9


def hard_process_settings(config: GenerationConfig, seed: int) -> list[str]:
    """Pythia lines of the hard-process instance: the process settings of ``config`` (whatever its
    variant: the shower settings play no role here) plus :data:`HARD_PROCESS_ONLY`."""
    return [*dataclasses.replace(config, variant="nominal").settings(seed), *HARD_PROCESS_ONLY]


def shower_settings(config: GenerationConfig, variant: str, seed: int) -> list[str]:
    """Pythia lines of a showering instance: beams and hard process from the LHAup feed, the boson's
    particle data (``23:...``, Z' only) and the lines of ``VARIANTS[variant]``."""
    boson = [line for line in hard_process_settings(config, seed) if line.startswith("23:")]
    return [
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Beams:frameType = 5",
        *boson,
        *VARIANTS[variant].settings,
    ]


def shower_seed(chunk_seed: int, role: str) -> int:
    """The Pythia seed of the ``role`` shower of a chunk (the hard-process instance uses the chunk
    seed itself): independent random streams, so the two showers share only the hard process."""
    state = np.random.SeedSequence([chunk_seed, _STREAM[role]]).generate_state(1, dtype=np.uint64)[0]
    return int(state % MAX_SEED) + 1


@dataclasses.dataclass(frozen=True)
class HardEvent:
    """A copy of one hard-process record and the ``info`` values a showering instance needs.

    Attributes:
        particles: process entries after the beams (index 3 on), each a tuple of
            ``id, status, mother1, mother2, col, acol, px, py, pz, e, m, tau, pol``.
        scale, alpha_em, alpha_s: ``process.scale()`` [GeV] and the couplings of the event.
        id_x: ``id1, id2, x1, x2`` of the incoming partons.
        pdf: ``id1pdf, id2pdf, x1pdf, x2pdf, QFac, pdf1, pdf2``.
        kinematics: the :data:`CHECKED_INFO` values of the hard instance.
    """

    particles: tuple[tuple, ...]
    scale: float
    alpha_em: float
    alpha_s: float
    id_x: tuple
    pdf: tuple
    kinematics: tuple[float, ...]

    @classmethod
    def from_pythia(cls, pythia) -> HardEvent:
        process = pythia.process
        info = pythia.infoPython()  # a copy, taken after next()
        entries = (process[i] for i in range(3, process.size()))
        particles = tuple(tuple(getattr(entry, field)() for field in _PARTICLE_FIELDS) for entry in entries)
        return cls(
            particles=particles,
            scale=process.scale(),
            alpha_em=info.alphaEM(),
            alpha_s=info.alphaS(),
            id_x=(info.id1(), info.id2(), info.x1(), info.x2()),
            pdf=(
                info.id1pdf(),
                info.id2pdf(),
                info.x1pdf(),
                info.x2pdf(),
                info.QFac(),
                info.pdf1(),
                info.pdf2(),
            ),
            kinematics=(info.x1(), info.x2(), info.pT2Hat(), info.mHat()),
        )


@functools.cache
def _feed_class():
    """:class:`HardProcessFeed`, defined on first use (it subclasses ``pythia8mc.LHAup``)."""
    import pythia8mc

    class HardProcessFeed(pythia8mc.LHAup):
        """Serves ``events`` (a list of :class:`HardEvent`) in order, one per ``setEvent`` call.

        ``calls`` counts ``setEvent`` calls since :meth:`load`; the LHA strategy is 3 (unit
        weights, every event accepted), the process code 9999 as in Pythia's own
        ``LHAupFromPYTHIA8``.
        """

        def __init__(self, beams: tuple[tuple[int, float], tuple[int, float]]) -> None:
            super().__init__(3)
            self.beams = beams
            self.load([])

        def load(self, events: list[HardEvent]) -> None:
            self.events, self.calls = events, 0

        def setInit(self) -> bool:  # noqa: N802 - Pythia's virtual method
            (id_a, e_a), (id_b, e_b) = self.beams
            self.setBeamA(id_a, e_a, 0, 0)
            self.setBeamB(id_b, e_b, 0, 0)
            self.setStrategy(3)
            self.addProcess(9999, 1.0, 0.0, 1.0)
            return True

        def setEvent(self, idProcess: int = 0) -> bool:  # noqa: N802, N803 - Pythia's virtual method
            self.calls += 1
            if self.calls > len(self.events):
                return False
            event = self.events[self.calls - 1]
            self.setProcess(9999, 1.0, event.scale, event.alpha_em, event.alpha_s)
            for pid, status, mother1, mother2, col, acol, *momentum in event.particles:
                # Pythia -> LHA status: incoming -1, intermediate (resonance) 2, outgoing 1;
                # LHA mothers count from the first incoming parton (Pythia entry 3).
                lha_status = -1 if status == -21 else 2 if status < 0 else 1
                mothers = max(0, mother1 - 2), max(0, mother2 - 2)
                self.addParticle(pid, lha_status, *mothers, col, acol, *momentum, -1.0)
            self.setIdX(*event.id_x)
            self.setPdf(*event.pdf, True)
            return True

    return HardProcessFeed


def check_shared_hard_process(hard: list[HardEvent], nominal: ak.Array, alternate: ak.Array) -> None:
    """Raise :class:`CodecJaxError` unless the two showered batches (``nextBatch(n, "none")``
    output, None for failed events) report the hard kinematics of ``hard``: bit-identical
    between the showers, equal to the hard instance's within 1e-9 relative."""
    expected = np.array([event.kinematics for event in hard], dtype=np.float64).reshape(-1, len(CHECKED_INFO))
    for column, name in enumerate(CHECKED_INFO):
        values = [
            np.asarray(ak.fill_none(batch.info[name], np.nan), dtype=np.float64)
            for batch in (nominal, alternate)
        ]
        both = ~np.isnan(values[0]) & ~np.isnan(values[1])
        if not np.array_equal(values[0][both], values[1][both]):
            raise CodecJaxError(f"the nominal and alternate showers report different hard-process {name}")
        for value in values:
            valid = ~np.isnan(value)
            if not np.allclose(value[valid], expected[valid, column], rtol=_RTOL, atol=0.0):
                raise CodecJaxError(
                    f"a showering instance reports a hard-process {name} that differs from the hard-process "
                    "instance's: it did not shower the shared hard process"
                )


class SharedShowers:
    """The hard-process instance and the two showering instances of one configuration.

    Example::

        showers = SharedShowers(config, "fsr_had_alt")
        showers.initialise(chunk.seed)
        hard = showers.hard_events(100)
        nominal, alternate = showers.shower(hard)  # [100] events each, None where a shower failed
    """

    def __init__(self, config: GenerationConfig, alternate_variant: str) -> None:
        self.config = config
        self.variants = {"nominal": config.variant, "alternate": alternate_variant}
        self.hard = _new_pythia(hard_process_settings(config, config.seed))
        self.instances: dict[str, tuple[object, object]] = {}

    @staticmethod
    def settings_of(config: GenerationConfig, alternate_variant: str, seed: int) -> dict[str, list[str]]:
        """The Pythia lines of the three instances (``hard_process``, ``nominal``, ``alternate``)
        for a chunk seeded with ``seed``."""
        variants = {"nominal": config.variant, "alternate": alternate_variant}
        lines = {"hard_process": hard_process_settings(config, seed)}
        for role in ROLES:
            lines[role] = shower_settings(config, variants[role], shower_seed(seed, role))
        return lines

    def settings(self, chunk_seed: int) -> dict[str, list[str]]:
        """The Pythia lines of the three instances for a chunk seeded with ``chunk_seed``."""
        return self.settings_of(self.config, self.variants["alternate"], chunk_seed)

    def initialise(self, chunk_seed: int) -> None:
        """(Re-)initialise all three instances for the chunk seeded with ``chunk_seed``."""
        lines = self.settings(chunk_seed)
        _initialise(self.hard, chunk_seed, lines["hard_process"])
        info = self.hard.infoPython()
        beams = ((info.idA(), info.eA()), (info.idB(), info.eB()))
        for role in ROLES:
            if role not in self.instances:
                pythia = _new_pythia(lines[role])
                feed = _feed_class()(beams)
                pythia.setLHAupPtr(feed)
                self.instances[role] = (pythia, feed)
            pythia, feed = self.instances[role]
            feed.beams = beams
            feed.load([])
            _initialise(pythia, shower_seed(chunk_seed, role), lines[role])

    def hard_events(self, n: int) -> list[HardEvent]:
        """The next ``n`` hard processes (failed ``next()`` calls of the hard instance are retried)."""
        events, failures = [], 0
        while len(events) < n:
            if self.hard.next():
                events.append(HardEvent.from_pythia(self.hard))
            else:
                failures += 1
                if failures > 10 * n + 100:
                    raise CodecJaxError(f"the hard-process instance failed {failures} times for {n} events")
        return events

    def shower(self, hard: list[HardEvent]) -> tuple[ak.Array, ak.Array]:
        """Shower and hadronise each hard event with both instances: ``(nominal, alternate)``, each
        ``[len(hard)]`` ``nextBatch`` events with None where that instance's ``next()`` failed."""
        batches = []
        for role in ROLES:
            pythia, feed = self.instances[role]
            feed.load(hard)
            batch = pythia.nextBatch(len(hard), "none")
            if feed.calls != len(hard) or len(batch) != len(hard):
                raise CodecJaxError(
                    f"the {role} shower read {feed.calls} hard events for {len(batch)} events "
                    f"({len(hard)} given): nominal and alternate events would not line up"
                )
            batches.append(batch)
        check_shared_hard_process(hard, *batches)
        return batches[0], batches[1]


_SHOWERS: dict[tuple, SharedShowers] = {}


def shared_showers(config: GenerationConfig, alternate_variant: str) -> SharedShowers:
    """The :class:`SharedShowers` of this configuration, reused within a process (one at a time)."""
    lines = SharedShowers.settings_of(config, alternate_variant, seed=1)
    key = tuple(tuple(line for line in role if not line.startswith("Random:seed")) for role in lines.values())
    if key not in _SHOWERS:
        _SHOWERS.clear()
        _SHOWERS[key] = SharedShowers(config, alternate_variant)
    return _SHOWERS[key]
