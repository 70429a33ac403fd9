"""Bias weights: flatten a mass (and optionally pT) spectrum by its inverse density.

The CoDec flat sample starts from a wide-width Z' whose jet-mass shape f(m) is fitted (Crystal
Ball, double-sided Crystal Ball, or a histogram; see :mod:`codec_jax.data.massfit`). Each jet then
gets the bias weight ``w(m) = u(m) / f(m)``, with ``u = 1 / (m_hi - m_lo)`` the flat target density,
so the weighted mass spectrum is flat and the weights average to one. With pT, the weight is
multiplied by ``u(pT) / g(pT)``, g the pT density of the mass-weighted sample (a histogram).

:class:`HistogramDensity` is the binned density (interpolated log-linearly between bin centres):
the fallback when a fit fails, and the smooth model of falling (QCD) spectra.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codec_jax.data.massfit import CRYSTAL_BALL_PARAMETERS, FitFailedError, MassShapeFit, fit_crystal_ball
from codec_jax.errors import ConfigError, DataError

__all__ = [
    "FIT_MODELS",
    "BiasWeights",
    "FitFallbackWarning",
    "HistogramDensity",
    "checked_finite",
    "checked_range",
    "density_from_dict",
    "fit_bias_weights",
]

#: Mass-shape models of :func:`fit_bias_weights`.
FIT_MODELS: tuple[str, ...] = ("crystalball", "double_crystalball", "histogram")


class FitFallbackWarning(RuntimeWarning):
    """The Crystal Ball fit failed and a histogram inverse density was used instead."""


@dataclasses.dataclass(frozen=True)
class HistogramDensity:
    """A binned density on ``[edges[0], edges[-1]]``, interpolated log-linearly between bin
    centres (and extrapolated along the end segments to the edges); zero outside the range.

    Attributes:
        edges: ``[n_bins + 1]`` increasing bin edges.
        density: ``[n_bins]`` density per bin (weighted count / (total weight * bin width)).
    """

    edges: np.ndarray
    density: np.ndarray

    @classmethod
    def from_values(
        cls, values: np.ndarray, edges: np.ndarray, *, weight: np.ndarray | None = None, field: str = "mass"
    ) -> HistogramDensity:
        """Histogram ``values [n]`` (optionally weighted) in ``edges``; every bin needs jets.

        Raises:
            DataError: a bin holds no jets or no positive weight (names ``field`` and the bin).
        """
        edges = np.asarray(edges, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        weight = np.ones_like(values) if weight is None else np.asarray(weight, dtype=np.float64)
        counts, _ = np.histogram(values, bins=edges, weights=weight)
        empty = np.flatnonzero(counts <= 0)
        if empty.size:
            b = int(empty[0])
            raise DataError(
                f"field {field!r}: histogram bin [{edges[b]:g}, {edges[b + 1]:g}) holds no jets "
                f"({empty.size} empty bin(s)); use fewer bins or a narrower range"
            )
        return cls(edges=edges, density=counts / (counts.sum() * np.diff(edges)))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Interpolated density at ``x`` (any shape), zero outside the edges."""
        x = np.asarray(x, dtype=np.float64)
        centres = 0.5 * (self.edges[1:] + self.edges[:-1])
        log_density = np.log(self.density)
        if len(centres) == 1:
            inside = np.full(x.shape, float(self.density[0]))
        else:
            # log-linear interpolation, continued linearly beyond the first/last centre.
            index = np.clip(np.searchsorted(centres, x) - 1, 0, len(centres) - 2)
            slope = (log_density[index + 1] - log_density[index]) / (centres[index + 1] - centres[index])
            inside = np.exp(log_density[index] + slope * (x - centres[index]))
        return np.where((x >= self.edges[0]) & (x <= self.edges[-1]), inside, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "histogram", "edges": self.edges.tolist(), "density": self.density.tolist()}


def density_from_dict(entry: Mapping[str, Any]) -> MassShapeFit | HistogramDensity:
    """Rebuild a density from its ``to_dict()`` form (values only; fit covariance is not kept)."""
    if entry["kind"] == "histogram":
        return HistogramDensity(np.asarray(entry["edges"], float), np.asarray(entry["density"], float))
    names = CRYSTAL_BALL_PARAMETERS[entry["model"]]
    errors = np.array([np.nan if entry["errors"][name] is None else entry["errors"][name] for name in names])
    return MassShapeFit(
        model=entry["model"],
        names=names,
        values=np.array([entry["params"][name] for name in names]),
        covariance=np.diag(errors**2),
        fit_range=tuple(entry["fit_range"]),
        chi2=float(entry["chi2"]),
        ndf=int(entry["ndf"]),
        n_jets=int(entry["n_jets"]),
        sum_weights=float(entry["sum_weights"]),
        fixed=tuple(entry.get("fixed", ())),
    )


@dataclasses.dataclass(frozen=True)
class BiasWeights:
    """``w(m[, pT]) = u(m)/f(m) [* u(pT)/g(pT)]``: flat target over fitted density; 0 outside range.

    Attributes:
        mass_density: the mass density f (a fit, or a histogram).
        mass_range: ``(m_lo, m_hi)``.
        pt_density: optional pT density g of the mass-weighted sample (histogram).
        pt_range: ``(pt_lo, pt_hi)`` when ``pt_density`` is set.
    """

    mass_density: MassShapeFit | HistogramDensity
    mass_range: tuple[float, float]
    pt_density: HistogramDensity | None = None
    pt_range: tuple[float, float] | None = None

    def __call__(self, mass: np.ndarray, pt: np.ndarray | None = None) -> np.ndarray:
        """Weights ``[n_jets]`` for masses (and pTs) ``[n_jets]``; zero outside the ranges."""
        weights = _inverse(self.mass_density.pdf(mass), self.mass_range)
        if self.pt_density is not None:
            if pt is None:
                raise ConfigError("these bias weights depend on pT: pass pt=... as well as mass")
            weights = weights * _inverse(self.pt_density.pdf(pt), self.pt_range)
        return weights

    def to_dict(self) -> dict[str, Any]:
        return {
            "mass_range": list(self.mass_range),
            "mass_density": self.mass_density.to_dict(),
            "pt_range": None if self.pt_range is None else list(self.pt_range),
            "pt_density": None if self.pt_density is None else self.pt_density.to_dict(),
        }


def _inverse(density: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """``u / density`` with ``u = 1 / (hi - lo)``; zero where the density vanishes."""
    density = np.asarray(density, dtype=np.float64)
    safe = np.where(density > 0, density, 1.0)
    return np.where(density > 0, 1.0 / ((value_range[1] - value_range[0]) * safe), 0.0)


def checked_range(name: str, value_range: Sequence[float]) -> tuple[float, float]:
    """``(lo, hi)`` as floats; :class:`ConfigError` naming ``name`` unless finite with lo < hi."""
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError(f"{name} must be two finite numbers lo < hi, got {tuple(value_range)}")
    return lo, hi


def checked_finite(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as float64; :class:`DataError` naming ``name`` if any is NaN/inf."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{name} holds {int(bad.sum())} NaN/inf value(s) (first at jet {int(np.argmax(bad))})"
        )
    return values


def fit_bias_weights(
    mass: np.ndarray,
    *,
    mass_range: tuple[float, float],
    model: str = "crystalball",
    weight: np.ndarray | None = None,
    pt: np.ndarray | None = None,
    pt_range: tuple[float, float] | None = None,
    hist_bins: int = 40,
    pt_bins: int = 20,
    field: str = "mass",
) -> BiasWeights:
    """Fit the mass shape of ``mass [n_jets]`` in ``mass_range`` and return its bias weights.

    Args:
        mass: ``[n_jets]`` masses (truth or soft-drop) [GeV].
        mass_range: ``(m_lo, m_hi)`` fit and flattening range [GeV].
        model: ``"crystalball"``, ``"double_crystalball"`` or ``"histogram"`` (see
            :data:`FIT_MODELS`). A failed fit falls back to ``"histogram"`` with a
            :class:`FitFallbackWarning`.
        weight: ``[n_jets]`` input (e.g. generator) weights; default 1.
        pt, pt_range: ``[n_jets]`` jet pT and its range: also flatten in pT, ``w(m, pT)``.
        hist_bins, pt_bins: bins of the histogram densities (mass fallback, pT factor).
        field: name of the mass field, for messages.

    Raises:
        DataError: no jets / too few jets in the range, NaN weights, empty histogram bins.
    """
    if model not in FIT_MODELS:
        raise ConfigError(f"unknown fit model {model!r}; expected one of {FIT_MODELS}")
    lo, hi = checked_range("mass_range", mass_range)
    mass = checked_finite(f"field {field!r}", mass)
    weight = np.ones_like(mass) if weight is None else checked_finite("field 'weight'", weight)
    if np.any(weight < 0):
        raise DataError("field 'weight' holds negative values; bias weights need non-negative weights")
    inside = (mass >= lo) & (mass <= hi)
    if pt is not None:
        if pt_range is None:
            raise ConfigError("pt_range is required when pt is given")
        pt_lo, pt_hi = checked_range("pt_range", pt_range)
        pt = checked_finite("field 'pt'", pt)
        inside &= (pt >= pt_lo) & (pt <= pt_hi)
    if not inside.any():
        raise DataError(f"field {field!r}: no jets in the range [{lo:g}, {hi:g}] GeV")

    density: MassShapeFit | HistogramDensity | None = None
    if model != "histogram":
        try:
            density = fit_crystal_ball(
                mass[inside], fit_range=(lo, hi), model=model, weight=weight[inside], field=field
            )
        except FitFailedError as failure:
            warnings.warn(
                f"{failure}; using the histogram inverse density in [{lo:g}, {hi:g}] GeV instead",
                FitFallbackWarning,
                stacklevel=2,
            )
    if density is None:
        edges = np.linspace(lo, hi, hist_bins + 1)
        density = HistogramDensity.from_values(mass[inside], edges, weight=weight[inside], field=field)
    bias = BiasWeights(mass_density=density, mass_range=(lo, hi))
    if pt is None:
        return bias
    mass_weighted = weight[inside] * bias(mass[inside])
    pt_edges = np.linspace(pt_lo, pt_hi, pt_bins + 1)
    pt_density = HistogramDensity.from_values(pt[inside], pt_edges, weight=mass_weighted, field="pt")
    return dataclasses.replace(bias, pt_density=pt_density, pt_range=(pt_lo, pt_hi))
