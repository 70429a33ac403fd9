"""A binned truth-level calibration of the soft-drop mass: a correction map in (m_SD, pT).

:meth:`BinnedCalibration.fit` takes jets with a true mass ``t`` (signal only) and stores, in every
cell of an (m_SD, pT) grid, the weighted median of ``log(t / m_SD)``; :meth:`BinnedCalibration.apply`
returns ``m_cal = m_SD * exp(c(m_SD, pT))`` with ``c`` interpolated bilinearly between cell
centres (held constant beyond the outer centres). Cells with fewer than ``min_jets`` jets take the
value of the nearest filled cell (in cell-index distance): a calibration fitted on a peaky sample
extrapolates there, which is what the closure test is meant to expose.

The median of ``t`` given the *reconstructed* mass depends on the prior of ``t`` in the fit sample
(jets migrate from where the prior is large): fitted on a flat true-mass sample the prior is the
same everywhere, fitted on narrow resonances it pulls every jet towards their masses. Soft-drop
masses below :data:`MSD_FLOOR` are raised to it before the logarithm (a jet groomed to one
particle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codec_jax.errors import ConfigError, DataError
from codec_jax.metrics.response import weighted_quantile

__all__ = ["MSD_FLOOR", "BinnedCalibration"]

#: Smallest soft-drop mass [GeV] used in the log-ratio (and in the calibrated mass).
MSD_FLOOR = 1.0


def _cell_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``[n]`` bin index of ``values`` in ``edges``, values outside clamped to the outer bins."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _interpolation(values: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower cell index and fraction towards the next centre, clamped at the outer centres."""
    if len(centres) == 1:
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values))
    x = np.clip(values, centres[0], centres[-1])
    lower = np.clip(np.searchsorted(centres, x, side="right") - 1, 0, len(centres) - 2)
    fraction = (x - centres[lower]) / (centres[lower + 1] - centres[lower])
    return lower, fraction


@dataclasses.dataclass(frozen=True)
class BinnedCalibration:
    """The correction map.

    Attributes:
        msd_edges: ``[n_msd + 1]``, pt_edges: ``[n_pt + 1]`` cell edges [GeV].
        correction: ``[n_msd, n_pt]`` median ``log(t / m_SD)`` per cell (filled cells and copies).
        n_jets: ``[n_msd, n_pt]`` jets per cell in the fit sample.
        filled: ``[n_msd, n_pt]`` bool, True where the cell had at least ``min_jets`` jets.
    """

    msd_edges: np.ndarray
    pt_edges: np.ndarray
    correction: np.ndarray
    n_jets: np.ndarray
    filled: np.ndarray

    @classmethod
    def fit(
        cls,
        msd: np.ndarray,
        pt: np.ndarray,
        truth: np.ndarray,
        *,
        msd_edges: Sequence[float],
        pt_edges: Sequence[float],
        weights: np.ndarray | None = None,
        min_jets: int = 10,
    ) -> BinnedCalibration:
        """Fit the map on jets ``msd, pt, truth [n]`` (optional ``weights [n]``). Jets outside
        the grid count in the nearest edge cell.

        Raises:
            DataError: mismatched lengths, NaN/inf, non-positive true masses, or no cell with
                ``min_jets`` jets.
        """
        msd_edges = np.asarray(msd_edges, dtype=np.float64)
        pt_edges = np.asarray(pt_edges, dtype=np.float64)
        for name, edges in (("msd_edges", msd_edges), ("pt_edges", pt_edges)):
            if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
                raise ConfigError(f"{name} must be at least two increasing values, got {edges.tolist()}")
        arrays = {"msd": msd, "pt": pt, "truth": truth}
        arrays = {name: np.asarray(value, dtype=np.float64) for name, value in arrays.items()}
        n = len(arrays["truth"])
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        for name, value in {**arrays, "weights": weights}.items():
            if value.shape != (n,):
                raise DataError(f"BinnedCalibration.fit: {name!r} has shape {value.shape}, expected ({n},)")
            if not np.all(np.isfinite(value)):
                raise DataError(f"BinnedCalibration.fit: {name!r} holds NaN/inf values")
        if np.any(arrays["truth"] <= 0):
            raise DataError("BinnedCalibration.fit: true masses must be positive (signal jets only)")
        log_ratio = np.log(arrays["truth"] / np.maximum(arrays["msd"], MSD_FLOOR))
        i, j = _cell_of(arrays["msd"], msd_edges), _cell_of(arrays["pt"], pt_edges)
        shape = (len(msd_edges) - 1, len(pt_edges) - 1)
        correction = np.full(shape, np.nan)
        counts = np.zeros(shape, dtype=np.int64)
        np.add.at(counts, (i, j), 1)
        for a, b in zip(*np.nonzero(counts >= max(min_jets, 1))):
            rows = (i == a) & (j == b)
            if weights[rows].sum() > 0:
                correction[a, b] = weighted_quantile(log_ratio[rows], 0.5, weights[rows])
        filled = np.isfinite(correction)
        if not filled.any():
            raise DataError(
                f"BinnedCalibration.fit: no (m_SD, pT) cell holds min_jets={min_jets} jets; "
                "use fewer cells or more jets"
            )
        # Empty cells: copy the nearest filled cell (Euclidean distance in cell indices).
        full_a, full_b = np.nonzero(filled)
        for a, b in zip(*np.nonzero(~filled)):
            nearest = np.argmin((full_a - a) ** 2 + (full_b - b) ** 2)
            correction[a, b] = correction[full_a[nearest], full_b[nearest]]
        return cls(msd_edges, pt_edges, correction, counts, filled)

    def factor(self, msd: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """``[n]`` interpolated correction ``c(m_SD, pT)`` (a log-ratio)."""
        msd = np.asarray(msd, dtype=np.float64)
        pt = np.asarray(pt, dtype=np.float64)
        msd_centres = 0.5 * (self.msd_edges[1:] + self.msd_edges[:-1])
        pt_centres = 0.5 * (self.pt_edges[1:] + self.pt_edges[:-1])
        a, u = _interpolation(msd, msd_centres)
        b, v = _interpolation(pt, pt_centres)
        a1 = np.minimum(a + 1, len(msd_centres) - 1)
        b1 = np.minimum(b + 1, len(pt_centres) - 1)
        c = self.correction
        return (
            (1 - u) * (1 - v) * c[a, b] + u * (1 - v) * c[a1, b] + (1 - u) * v * c[a, b1] + u * v * c[a1, b1]
        )

    def apply(self, msd: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """``[n]`` calibrated masses ``max(m_SD, MSD_FLOOR) * exp(c(m_SD, pT))`` [GeV]."""
        msd = np.asarray(msd, dtype=np.float64)
        return np.maximum(msd, MSD_FLOOR) * np.exp(self.factor(msd, pt))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "msd_edges": self.msd_edges.tolist(),
            "pt_edges": self.pt_edges.tolist(),
            "correction": self.correction.tolist(),
            "n_jets": self.n_jets.tolist(),
            "filled": self.filled.tolist(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BinnedCalibration:
        try:
            return cls(
                np.asarray(values["msd_edges"], dtype=np.float64),
                np.asarray(values["pt_edges"], dtype=np.float64),
                np.asarray(values["correction"], dtype=np.float64),
                np.asarray(values["n_jets"], dtype=np.int64),
                np.asarray(values["filled"], dtype=bool),
            )
        except KeyError as error:
            raise DataError(f"calibration map JSON lacks the field {error.args[0]!r}") from None
