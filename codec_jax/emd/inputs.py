"""What every EMD function takes: a pair of padded particle clouds and the EMD settings.

* :class:`EMDSettings` -- ``(R, beta, norm)``, the definition of the distance;
* :class:`ParticleClouds` -- jets as padded arrays ``pt [batch, P]``, ``xy [batch, P, 2]``;
* :class:`CloudPair` -- the two sides ``a`` and ``b`` of a batch of jet pairs;
* :func:`check_inputs` -- the one type and shape check of every EMD function.

Both cloud types are NamedTuples, hence JAX pytrees: they pass through ``jax.jit``, ``jax.vmap``
and ``jax.tree.map`` as they are. Every EMD function has the form
``f(pair: CloudPair, settings: EMDSettings | None = None, *, solver options)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from codec_jax.errors import ConfigError

__all__ = ["CloudPair", "EMDSettings", "ParticleClouds", "check_inputs"]


@dataclasses.dataclass(frozen=True)
class EMDSettings:
    """The definition of the EMD: ground cost ``(theta_ij / R)^beta`` plus the energy difference.

    Attributes:
        R: the jet-radius scale dividing the angular distances ``theta_ij`` (distances in
            (eta, phi), dimensionless); > 0. The EMD is a metric when ``R`` is at least half the
            largest angular distance. Default 0.8 (the jet radius); MACK uses 1.
        beta: the angular exponent of the ground cost; > 0.
        norm: normalise each jet's pT to sum to one first: the EMD is then dimensionless and the
            energy term vanishes. With ``norm=False`` EMDs (and cutoffs on them) are in GeV.

    A frozen value, compared and hashed by value: the validated copy of :meth:`checked` is the
    ``jax.jit`` static argument of the Sinkhorn solver. Study overrides (``--set
    pairing.emd.R=0.8``) replace it with a new, validated value.

    Raises:
        ConfigError: ``R`` or ``beta`` not a number > 0, naming the field.
    """

    R: float = 0.8
    beta: float = 1.0
    norm: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, prefix: str = "EMDSettings.") -> None:
        """Raise :class:`ConfigError` naming ``prefix + field`` for an invalid R or beta."""
        for name in ("R", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"{prefix}{name} must be a number > 0, got {value!r}")
            if not value > 0:
                raise ConfigError(f"{prefix}{name} must be > 0, got {value!r}")

    def checked(self) -> EMDSettings:
        """A validated copy with ``float`` R and beta and a ``bool`` norm (what the solvers use)."""
        self.validate()
        return EMDSettings(float(self.R), float(self.beta), bool(self.norm))


class ParticleClouds(NamedTuple):
    """Jets as padded particle clouds (a pytree).

    Attributes:
        pt: ``[batch, P]`` particle transverse momenta in GeV; zero marks a padded slot.
        xy: ``[batch, P, 2]`` particle (eta, phi) relative to each jet's axis.

    One jet (``pt [P]``, ``xy [P, 2]``) is the same type without the batch axis (:meth:`take`
    with an int).
    """

    pt: Any
    xy: Any

    @property
    def n_jets(self) -> int:
        """``batch``, the number of jets."""
        return np.shape(self.pt)[0]

    @property
    def width(self) -> int:
        """``P``, the padded number of particle slots per jet."""
        return np.shape(self.pt)[-1]

    def take(self, rows: Any) -> ParticleClouds:
        """The jets ``rows``: an index array, a slice, or an int (one jet, no batch axis)."""
        return ParticleClouds(self.pt[rows], self.xy[rows])

    def pad_to(self, width: int) -> ParticleClouds:
        """Host (NumPy) clouds zero-padded along the particle axis to ``width >= P`` slots."""
        extra = width - self.width
        if extra < 0:
            raise ValueError(f"cannot pad {self.width} particle slots to {width}")
        return ParticleClouds(
            np.pad(self.pt, ((0, 0), (0, extra))), np.pad(self.xy, ((0, 0), (0, extra), (0, 0)))
        )


class CloudPair(NamedTuple):
    """A batch of jet pairs, jet ``i`` of ``a`` against jet ``i`` of ``b`` (a pytree).

    Attributes:
        a: :class:`ParticleClouds` ``pt [batch, P]``, ``xy [batch, P, 2]``.
        b: :class:`ParticleClouds` ``pt [batch, Q]``, ``xy [batch, Q, 2]`` (the same ``batch``).

    One pair is the same type with clouds without batch axis (:meth:`take` with an int).
    """

    a: ParticleClouds
    b: ParticleClouds

    @property
    def n_pairs(self) -> int:
        """``batch``, the number of pairs."""
        return self.a.n_jets

    def take(self, rows: Any) -> CloudPair:
        """The pairs ``rows``: an index array, a slice, or an int (one pair, no batch axis)."""
        return CloudPair(self.a.take(rows), self.b.take(rows))

    def swapped(self) -> CloudPair:
        """The same pairs with the sides exchanged (``b`` against ``a``)."""
        return CloudPair(self.b, self.a)


def check_inputs(
    pair: CloudPair, settings: EMDSettings | None, *, batched: bool = True
) -> tuple[CloudPair, EMDSettings]:
    """Check the arguments of an EMD function; returns the pair and a validated settings copy.

    ``settings=None`` means ``EMDSettings()`` (R = 0.8, beta = 1, norm = False). With
    ``batched=False`` the clouds are one jet each (``pt [P]``, ``xy [P, 2]``).

    Raises:
        TypeError: ``pair`` is not a :class:`CloudPair` of :class:`ParticleClouds`, or
            ``settings`` is not an :class:`EMDSettings` (e.g. the arrays of the old signature).
        ValueError: a shape differs from the documented one, naming the side and both shapes.
        ConfigError: an invalid setting.
    """
    if not (
        isinstance(pair, CloudPair)
        and isinstance(pair.a, ParticleClouds)
        and isinstance(pair.b, ParticleClouds)
    ):
        raise TypeError(
            f"expected CloudPair(a=ParticleClouds(pt, xy), b=ParticleClouds(pt, xy)), got {type(pair).__name__}"
        )
    if settings is None:
        settings = EMDSettings()
    if not isinstance(settings, EMDSettings):
        raise TypeError(f"settings must be an EMDSettings(R, beta, norm), got {type(settings).__name__}")
    expected = (
        "[batch, particles] and xy [batch, particles, 2]" if batched else "[particles] and xy [particles, 2]"
    )
    for name, clouds in (("a", pair.a), ("b", pair.b)):
        pt_shape, xy_shape = np.shape(clouds.pt), np.shape(clouds.xy)
        if len(pt_shape) != (2 if batched else 1) or xy_shape != (*pt_shape, 2):
            raise ValueError(f"pair.{name}: pt must be {expected}; got {pt_shape} and {xy_shape}")
    if batched and pair.a.n_jets != pair.b.n_jets:
        raise ValueError(
            f"pair.a and pair.b need the same batch size, got {pair.a.n_jets} and {pair.b.n_jets}"
        )
    return pair, settings.checked()
