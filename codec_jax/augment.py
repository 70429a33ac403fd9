"""Keyed, jittable jet augmentations on padded batches of relative particle features.

Every augmentation takes ``key`` first and works on a padded batch

* ``parts`` ``[batch, particles, features]`` with the feature order of
  :data:`codec_jax.jets.RELATIVE_FEATURES` -- ``(pt_rel, eta_rel, phi_rel)`` -- followed by any
  extra features, which pass through untouched;
* ``mask`` ``[batch, particles]`` bool, True for real particles;

and returns a new ``(parts, mask)`` of the same shapes and dtypes. Padded slots (mask False) come
back exactly zero. Each augmentation is applied to a jet with probability ``probability``
(independently per jet), so a batch mixes augmented and untouched jets.

Augmentations (names accepted by :func:`build_augmentation`, and their functions):

* ``rotate`` (:func:`rotate`): rotation in (eta, phi) about the jet axis by an angle U(-pi, pi).
* ``smear`` (:func:`smear`): eta, phi += N(0, 1) * strength / sqrt(pT / GeV).
* ``translate`` (:func:`translate`): shift of a whole jet by U(-width, width) in eta and in phi.
* ``split`` (:func:`collinear_split`): collinear splitting of particles into empty slots.
* ``drop`` (:func:`drop_soft`): random removal of particles below a pT fraction (never the
  hardest one).
* ``shift`` (:func:`shift_mean_pt`): the MACK "shift", scaling pT so that the mean particle pT
  matches the nominal sample's.

After ``split`` and ``drop`` the real particles are no longer guaranteed to be pT-ordered or
contiguous (split daughters go to the first empty slots, dropped particles leave holes); every
consumer in codec_jax uses the mask, never the particle order.
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from codec_jax.errors import ConfigError, DataError

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "build_augmentation",
    "collinear_split",
    "drop_soft",
    "mean_particle_pt",
    "rotate",
    "shift_mean_pt",
    "smear",
    "translate",
]

PT, ETA, PHI = 0, 1, 2

#: The signature of every augmentation and of what :func:`build_augmentation` returns:
#: ``fn(key, parts [batch, P, F], mask [batch, P]) -> (parts, mask)``.
Augmentation = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


# --------------------------------------------------------------------------- helpers
def _check_inputs(parts: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    parts = jnp.asarray(parts)
    mask = jnp.asarray(mask)
    if parts.ndim != 3 or parts.shape[-1] < 3:
        raise DataError(
            f"augmentation input 'parts' must be [batch, particles, features>=3] with features "
            f"(pt_rel, eta_rel, phi_rel, ...), got shape {parts.shape}"
        )
    if mask.shape != parts.shape[:2]:
        raise DataError(f"augmentation input 'mask' must have shape {parts.shape[:2]}, got {mask.shape}")
    return parts, mask.astype(bool)


def _check_number(name: str, value: Any, low: float, high: float = math.inf) -> None:
    """Validate a Python number at trace time (traced values are left alone)."""
    if isinstance(value, (int, float)) and not (low <= value <= high):
        raise ConfigError(f"augmentation parameter {name!r} must lie in [{low}, {high}], got {value}")


def _zero_padding(parts: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.where(mask[..., None], parts, jnp.zeros((), parts.dtype))


def _uniform_draws(
    key: jax.Array, batch: int, per_jet: int, per_particle: int = 0, slots: int = 0
) -> tuple[jax.Array, jax.Array]:
    """All the U[0, 1) numbers one augmentation needs, from a single flat float32 draw.

    Returns ``[batch, per_jet]`` and ``[batch, slots, per_particle]``. One flat draw instead of
    several keyed draws of multi-dimensional shapes keeps compilation cheap: on the XLA CPU
    backend (jax 0.10) a threefry draw of shape ``[4, 64, 12]`` compiles in ~6 s of CPU against
    ~0.5 s for the same number of values drawn 1-D, and every extra draw costs ~0.3 s.
    """
    columns = per_jet + per_particle * slots
    draws = jax.random.uniform(key, (batch * columns,), jnp.float32).reshape(batch, columns)
    return draws[:, :per_jet], draws[:, per_jet:].reshape(batch, slots, per_particle)


def _per_jet(
    chosen: jax.Array,
    augmented: tuple[jax.Array, jax.Array],
    original: tuple[jax.Array, jax.Array],
) -> tuple[jax.Array, jax.Array]:
    """Take the augmented version of the jets where ``chosen [batch]`` is True, else the original."""
    new_parts, new_mask = augmented
    parts, mask = original
    parts = jnp.where(chosen[:, None, None], new_parts, parts)
    mask = jnp.where(chosen[:, None], new_mask, mask)
    return _zero_padding(parts, mask), mask


# --------------------------------------------------------------------------- augmentations
def rotate(
    key: jax.Array, parts: jax.Array, mask: jax.Array, *, probability: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """Rotate each jet in the (eta_rel, phi_rel) plane about the jet axis (the origin).

    The angle is drawn per jet from U(-pi, pi). Rotation keeps every particle's pT and all pairwise
    angular distances; phi_rel is not re-wrapped (relative coordinates stay well inside (-pi, pi]
    for jets of radius R <= 1.5).

    Args:
        key: PRNG key.
        parts: ``[batch, P, F]`` relative features ``(pt_rel, eta_rel, phi_rel, ...)``.
        mask: ``[batch, P]`` bool.
        probability: chance that a given jet is rotated.
    """
    _check_number("rotate.probability", probability, 0.0, 1.0)
    parts, mask = _check_inputs(parts, mask)
    jet_draws, _ = _uniform_draws(key, parts.shape[0], 2)
    angle = (jnp.pi * (2.0 * jet_draws[:, 1:] - 1.0)).astype(parts.dtype)  # [batch, 1]
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    eta, phi = parts[..., ETA], parts[..., PHI]
    rotated = parts.at[..., ETA].set(cos * eta - sin * phi).at[..., PHI].set(sin * eta + cos * phi)
    return _per_jet(jet_draws[:, 0] < probability, (rotated, mask), (parts, mask))


def smear(
    key: jax.Array,
    parts: jax.Array,
    mask: jax.Array,
    *,
    strength: float = 0.1,
    pt_scale: float | None = None,
    jet_pt: jax.Array | None = None,
    probability: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """pT-dependent Gaussian smearing of eta_rel and phi_rel (the MACK / JetCLR smearing).

    ``eta += N(0, 1) * strength / sqrt(pT)`` and independently for phi, with the particle pT in
    GeV: ``pT = pt_rel * jet_pt`` when ``jet_pt`` ``[batch]`` (GeV) is given, else
    ``pT = pt_rel * pt_scale`` (e.g. ``pt_scale=1000`` for JetNet's ~1 TeV jets, or
    ``pt_scale=1`` if the first feature already is the particle pT in GeV). One of the two is
    required: the smearing width depends on the unit. MACK's default is ``strength=0.1``.

    Args:
        key: PRNG key.
        parts: ``[batch, P, F]`` relative features.
        mask: ``[batch, P]`` bool.
        strength: ``s`` in ``sigma = s / sqrt(pT / GeV)``.
        pt_scale: GeV per unit of ``pt_rel`` (a constant), used when ``jet_pt`` is None.
        jet_pt: ``[batch]`` jet pT in GeV.
        probability: chance that a given jet is smeared.
    """
    _check_number("smear.probability", probability, 0.0, 1.0)
    _check_number("smear.strength", strength, 0.0)
    parts, mask = _check_inputs(parts, mask)
    if jet_pt is not None:
        jet_pt = jnp.asarray(jet_pt, parts.dtype)
        if jet_pt.shape != parts.shape[:1]:
            raise DataError(f"smear: 'jet_pt' must have shape {parts.shape[:1]}, got {jet_pt.shape}")
        scale = jet_pt[:, None]
    elif pt_scale is not None:
        _check_number("smear.pt_scale", pt_scale, 0.0)
        scale = jnp.asarray(pt_scale, parts.dtype)
    else:
        raise ConfigError(
            "smear needs the particle pT in GeV: pass jet_pt=[batch] GeV to the augmentation call "
            "or set pt_scale (GeV per unit of pt_rel, e.g. smear={'pt_scale': 1000.0})"
        )
    jet_draws, particle_draws = _uniform_draws(key, parts.shape[0], 1, 2, parts.shape[1])
    # Box-Muller: two independent N(0, 1) per particle (eta, phi) from two uniforms.
    radius = jnp.sqrt(-2.0 * jnp.log1p(-particle_draws[..., 0]))
    turn = 2.0 * jnp.pi * particle_draws[..., 1]
    pt_gev = jnp.where(mask, parts[..., PT] * scale, 1.0)
    sigma = strength / jnp.sqrt(jnp.maximum(pt_gev, 1e-6))
    d_eta = (sigma * radius * jnp.cos(turn)).astype(parts.dtype)
    d_phi = (sigma * radius * jnp.sin(turn)).astype(parts.dtype)
    smeared = parts.at[..., ETA].add(d_eta).at[..., PHI].add(d_phi)
    return _per_jet(jet_draws[:, 0] < probability, (smeared, mask), (parts, mask))


def translate(
    key: jax.Array, parts: jax.Array, mask: jax.Array, *, width: float = 0.1, probability: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """Shift all particles of a jet by the same (d_eta, d_phi), each drawn from U(-width, width).

    Args:
        key: PRNG key.
        parts: ``[batch, P, F]`` relative features.
        mask: ``[batch, P]`` bool.
        width: half-width of the uniform shift, in units of eta / rad.
        probability: chance that a given jet is translated.
    """
    _check_number("translate.probability", probability, 0.0, 1.0)
    _check_number("translate.width", width, 0.0)
    parts, mask = _check_inputs(parts, mask)
    jet_draws, _ = _uniform_draws(key, parts.shape[0], 3)
    shift = (width * (2.0 * jet_draws[:, None, 1:] - 1.0)).astype(parts.dtype)  # [batch, 1, 2]
    moved = parts.at[..., ETA].add(shift[..., 0]).at[..., PHI].add(shift[..., 1])
    return _per_jet(jet_draws[:, 0] < probability, (moved, mask), (parts, mask))


def collinear_split(
    key: jax.Array,
    parts: jax.Array,
    mask: jax.Array,
    *,
    particle_probability: float = 0.5,
    z_min: float = 0.01,
    probability: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Split particles collinearly into empty (padded) slots.

    Each real particle is chosen with ``particle_probability``; the chosen ones, in random order,
    are split as long as empty slots remain. A split particle keeps a fraction ``z`` of its pT
    (``z ~ U(z_min, 1 - z_min)``) and a new particle with ``(1 - z) pT`` and the same eta, phi
    (and the same extra features) is written into the next empty slot. With massless particles
    the total pT and the jet four-momentum are unchanged; only empty slots are filled.

    Args:
        key: PRNG key.
        parts: ``[batch, P, F]`` relative features.
        mask: ``[batch, P]`` bool.
        particle_probability: chance that a real particle is chosen for splitting.
        z_min: smallest pT fraction a daughter can take (keeps both daughters' pT positive).
        probability: chance that a given jet is augmented at all.
    """
    _check_number("split.probability", probability, 0.0, 1.0)
    _check_number("split.particle_probability", particle_probability, 0.0, 1.0)
    _check_number("split.z_min", z_min, 0.0, 0.5)
    parts, mask = _check_inputs(parts, mask)
    batch, slots = mask.shape
    jet_draws, particle_draws = _uniform_draws(key, batch, 1, 3, slots)
    chosen = mask & (particle_draws[..., 0] < particle_probability)
    # Rank the chosen particles in a random order (0, 1, ...; the others rank after them) by
    # pairwise comparison, ties broken by slot so that the ranks are a permutation: O(P^2) per
    # jet, but ~15x faster than a sort on the XLA CPU backend.
    priority = jnp.where(chosen, particle_draws[..., 1], 2.0)
    other, this = priority[:, None, :], priority[:, :, None]  # [batch, P (this), P (other)]
    earlier_slot = jnp.arange(slots)[None, :] < jnp.arange(slots)[:, None]
    rank = jnp.sum((other < this) | ((other == this) & earlier_slot), axis=-1)  # [batch, P]
    # The e-th empty slot (in slot order) receives the daughter of the particle ranked e.
    empty = ~mask
    empty_index = jnp.cumsum(empty, axis=1) - 1
    n_chosen = jnp.sum(chosen, axis=1, keepdims=True)
    receives = empty & (empty_index < n_chosen)
    is_split = chosen & (rank < jnp.sum(empty, axis=1, keepdims=True))
    source = jnp.argmax(rank[:, None, :] == empty_index[:, :, None], axis=-1)  # [batch, P]
    z = (z_min + (1.0 - 2.0 * z_min) * particle_draws[..., 2]).astype(parts.dtype)
    pt = parts[..., PT]
    daughters = jnp.take_along_axis(parts, source[..., None], axis=1)
    daughters = daughters.at[..., PT].multiply(1.0 - jnp.take_along_axis(z, source, axis=1))
    new_parts = parts.at[..., PT].set(jnp.where(is_split, z * pt, pt))
    new_parts = jnp.where(receives[..., None], daughters, new_parts)
    new_mask = mask | receives
    return _per_jet(jet_draws[:, 0] < probability, (new_parts, new_mask), (parts, mask))


def drop_soft(
    key: jax.Array,
    parts: jax.Array,
    mask: jax.Array,
    *,
    pt_fraction: float = 0.01,
    particle_probability: float = 0.5,
    probability: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Drop soft particles: each real particle with ``pt_rel < pt_fraction`` is removed with
    ``particle_probability``. The hardest particle of a jet is never dropped, so every non-empty
    jet keeps at least one particle. Dropped slots become padding (zero, mask False); ``pt_rel`` of
    the remaining particles is not renormalised (the dropped pT is lost, like below a threshold).

    Args:
        key: PRNG key.
        parts: ``[batch, P, F]`` relative features.
        mask: ``[batch, P]`` bool.
        pt_fraction: particles with ``pt_rel`` below this are candidates.
        particle_probability: chance that a candidate is dropped.
        probability: chance that a given jet is augmented at all.
    """
    _check_number("drop.probability", probability, 0.0, 1.0)
    _check_number("drop.particle_probability", particle_probability, 0.0, 1.0)
    _check_number("drop.pt_fraction", pt_fraction, 0.0)
    parts, mask = _check_inputs(parts, mask)
    jet_draws, particle_draws = _uniform_draws(key, mask.shape[0], 1, 1, mask.shape[1])
    pt = parts[..., PT]
    hardest = jnp.argmax(jnp.where(mask, pt, -jnp.inf), axis=1)
    is_hardest = jnp.arange(mask.shape[1])[None, :] == hardest[:, None]
    candidate = mask & (pt < pt_fraction) & ~is_hardest
    dropped = candidate & (particle_draws[..., 0] < particle_probability)
    new_mask = mask & ~dropped
    return _per_jet(jet_draws[:, 0] < probability, (parts, new_mask), (parts, mask))


def shift_mean_pt(
    key: jax.Array,
    parts: jax.Array,
    mask: jax.Array,
    *,
    target_mean_pt: float,
    source_mean_pt: float | None = None,
    probability: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """The MACK "shift": scale particle pT so that the mean particle pT matches the nominal one.

    With ``source_mean_pt`` (the alternate sample's mean particle pT, a dataset statistic) every
    particle pT is multiplied by ``target_mean_pt / source_mean_pt``, aligning the alternate
    sample's mean to the nominal one. Without it each jet is scaled so that its own mean particle
    pT equals ``target_mean_pt``. Both statistics are in the unit of the first feature (compute
    them with :func:`mean_particle_pt` on the nominal and alternate samples).

    Args:
        key: PRNG key (used only for the per-jet ``probability``).
        parts: ``[batch, P, F]`` relative features.
        mask: ``[batch, P]`` bool.
        target_mean_pt: mean particle pT of the nominal sample.
        source_mean_pt: mean particle pT of the sample being shifted, or None for per-jet scaling.
        probability: chance that a given jet is shifted.
    """
    _check_number("shift.probability", probability, 0.0, 1.0)
    _check_number("shift.target_mean_pt", target_mean_pt, 0.0)
    parts, mask = _check_inputs(parts, mask)
    pt = parts[..., PT]
    if source_mean_pt is not None:
        _check_number("shift.source_mean_pt", source_mean_pt, 1e-30)
        factor = jnp.asarray(target_mean_pt / source_mean_pt, parts.dtype)
    else:
        count = jnp.maximum(jnp.sum(mask, axis=1, keepdims=True), 1)
        jet_mean = jnp.sum(jnp.where(mask, pt, 0.0), axis=1, keepdims=True) / count
        factor = jnp.where(jet_mean > 0, target_mean_pt / jnp.where(jet_mean > 0, jet_mean, 1.0), 1.0)
    shifted = parts.at[..., PT].set(pt * factor)
    jet_draws, _ = _uniform_draws(key, parts.shape[0], 1)
    return _per_jet(jet_draws[:, 0] < probability, (shifted, mask), (parts, mask))


def mean_particle_pt(parts: jax.Array, mask: jax.Array) -> float:
    """The mean pT (first feature) over all real particles of a sample: the dataset statistic
    that :func:`shift_mean_pt` aligns. ``parts [n, P, F]``, ``mask [n, P]``; works on NumPy too."""
    parts, mask = _check_inputs(parts, mask)
    count = jnp.sum(mask)
    if int(count) == 0:
        raise DataError("mean_particle_pt: the mask selects no particle")
    return float(jnp.sum(jnp.where(mask, parts[..., PT], 0.0)) / count)


# --------------------------------------------------------------------------- composition
#: Augmentation names accepted by :func:`build_augmentation` and their functions.
AUGMENTATIONS: Mapping[str, Callable[..., tuple[jax.Array, jax.Array]]] = types.MappingProxyType(
    {
        "rotate": rotate,
        "smear": smear,
        "translate": translate,
        "split": collinear_split,
        "drop": drop_soft,
        "shift": shift_mean_pt,
    }
)

# Call-time arguments (passed to the composed function, not configured).
_CALL_ARGUMENTS = ("jet_pt",)


def _parameters(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    signature = inspect.signature(function)
    return {
        name: parameter
        for name, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in _CALL_ARGUMENTS
    }


def build_augmentation(names: Sequence[str], **params: Mapping[str, Any]) -> Callable[..., Any]:
    """Compose augmentations, applied in the given order with independent keys.

    Args:
        names: augmentation names, from :data:`AUGMENTATIONS` (``rotate``, ``smear``,
            ``translate``, ``split``, ``drop``, ``shift``); an empty list gives the identity.
        **params: per augmentation, a mapping of its keyword parameters (see each function), e.g.
            ``smear={"strength": 0.1, "pt_scale": 1000.0}``, ``rotate={"probability": 0.5}``,
            ``shift={"target_mean_pt": 0.033, "source_mean_pt": 0.036}``.

    Returns:
        ``fn(key, parts [batch, P, F], mask [batch, P], *, jet_pt=None) -> (parts, mask)``, pure
        and jittable; ``jet_pt`` ``[batch]`` (GeV) is forwarded to ``smear``.

    Raises:
        ConfigError: an unknown name, parameters for a name not in ``names``, an unknown or
            missing parameter.

    Example::

        augment = build_augmentation(["rotate", "smear"], smear={"strength": 0.1, "pt_scale": 1000.0})
        parts, mask = jax.jit(augment)(key, parts, mask)
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    valid = sorted(AUGMENTATIONS)
    for name in names:
        if name not in AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {name!r}; valid names are {valid}")
    for name in params:
        if name not in names:
            raise ConfigError(f"parameters given for augmentation {name!r}, which is not in the list {names}")
    steps: list[tuple[Callable[..., Any], dict[str, Any], bool]] = []
    for name in names:
        function = AUGMENTATIONS[name]
        accepted = _parameters(function)
        given = dict(params.get(name) or {})
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {unknown} for augmentation {name!r}; accepted: {sorted(accepted)}"
            )
        missing = [
            p for p, spec in accepted.items() if spec.default is inspect.Parameter.empty and p not in given
        ]
        if missing:
            raise ConfigError(f"augmentation {name!r} needs parameter(s) {missing}")
        takes_jet_pt = "jet_pt" in inspect.signature(function).parameters
        steps.append((function, given, takes_jet_pt))

    def augment(
        key: jax.Array, parts: jax.Array, mask: jax.Array, *, jet_pt: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        parts, mask = _check_inputs(parts, mask)
        if not steps:
            return _zero_padding(parts, mask), mask
        keys = jax.random.split(key, len(steps))
        for step_key, (function, kwargs, takes_jet_pt) in zip(keys, steps):
            extra = {"jet_pt": jet_pt} if takes_jet_pt and jet_pt is not None else {}
            parts, mask = function(step_key, parts, mask, **kwargs, **extra)
        return parts, mask

    augment.__doc__ = f"Augmentations {names} (built by codec_jax.augment.build_augmentation)."
    # Trace once on a tiny abstract batch so that out-of-range parameters raise now, at
    # configuration time, rather than inside the first training step.
    jax.eval_shape(
        lambda key, parts, mask, jet_pt: augment(key, parts, mask, jet_pt=jet_pt),
        jax.random.key(0),
        jax.ShapeDtypeStruct((1, 2, 3), jnp.float32),
        jax.ShapeDtypeStruct((1, 2), jnp.bool_),
        jax.ShapeDtypeStruct((1,), jnp.float32),
    )
    return augment
