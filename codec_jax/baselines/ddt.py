"""Designing decorrelated taggers (DDT) for N2: ``N2_DDT = N2 - X_q(rho, pT)``.

``X_q(rho, pT)`` is the q-th percentile (CMS: q = 26%) of N2 in QCD, measured in bins of
``rho = ln(m_SD^2 / pT^2)`` and pT, smoothed and interpolated between bin centres. A cut
``N2_DDT < 0`` then keeps the same fraction q of QCD at every (rho, pT), so it does not sculpt the
QCD mass spectrum (Dolen et al. 2016).

The map is built with :func:`build_ddt_map`, saved and loaded as JSON (:meth:`DDTMap.save`,
:meth:`DDTMap.load`) and applied to any :class:`~codec_jax.jets.JetSample` with
:meth:`DDTMap.transform` (or :meth:`DDTMap.apply`, which stores ``extra["n2_ddt"]``).

The guarantee holds at the cut ``N2_DDT < 0`` only, i.e. at a QCD efficiency of q. A tagger
compared at a fixed *signal* efficiency (e.g. eps_Z' = 50%, where N2 keeps ~10% of QCD rather
than 26%) is cut elsewhere and sculpts again; :func:`ddt_map_at_signal_efficiency` finds the
quantile q whose cut at zero keeps the wanted signal fraction (on training jets), so that the
working point sits where the DDT holds.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.interpolate

from codec_jax.errors import DataError
from codec_jax.files import atomic_path
from codec_jax.jets import JetSample

__all__ = ["DDTMap", "build_ddt_map", "ddt_map_at_signal_efficiency", "jet_rho", "weighted_quantile"]

_FORMAT = "codec_jax.ddt_map/1"


def jet_rho(msd: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """``rho = ln(msd^2 / pt^2)`` for ``[n_jets]`` arrays; -inf where ``msd <= 0``."""
    msd = np.asarray(msd, dtype=np.float64)
    pt = np.asarray(pt, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(msd > 0, 2.0 * np.log(np.where(msd > 0, msd, 1.0) / pt), -np.inf)


def weighted_quantile(values: np.ndarray, quantile: float, weights: np.ndarray | None = None) -> float:
    """The ``quantile`` of ``values [n]`` under ``weights [n]``: the smallest value whose
    cumulative weight reaches ``quantile`` of the total (the inverted CDF; NumPy's
    ``method="inverted_cdf"``). ``nan`` for no values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan")
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    position = np.searchsorted(cumulative, quantile * cumulative[-1], side="left")
    return float(values[order][min(position, values.size - 1)])


@dataclasses.dataclass(frozen=True)
class DDTMap:
    """The smoothed N2 percentile map ``X(rho, pT)``.

    Attributes:
        quantile: the QCD percentile q (0.26 for CMS's N2_DDT).
        rho_edges: ``[n_rho + 1]``; pt_edges: ``[n_pt + 1]`` [GeV].
        values: ``[n_rho, n_pt]`` smoothed percentile of N2 per bin (what is interpolated).
        raw: ``[n_rho, n_pt]`` unsmoothed percentile (``nan`` in bins with too few jets).
        counts: ``[n_rho, n_pt]`` QCD jets per bin.
        smoothing: Gaussian smoothing width in bins.
    """

    quantile: float
    rho_edges: np.ndarray
    pt_edges: np.ndarray
    values: np.ndarray
    raw: np.ndarray
    counts: np.ndarray
    smoothing: float

    def __call__(self, rho: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """``X(rho, pT)`` for ``[n_jets]`` arrays: bilinear between bin centres, constant
        beyond the outermost centres."""
        rho_centres = 0.5 * (self.rho_edges[1:] + self.rho_edges[:-1])
        pt_centres = 0.5 * (self.pt_edges[1:] + self.pt_edges[:-1])
        points = np.stack(
            [
                np.clip(np.asarray(rho, dtype=np.float64), rho_centres[0], rho_centres[-1]),
                np.clip(np.asarray(pt, dtype=np.float64), pt_centres[0], pt_centres[-1]),
            ],
            axis=-1,
        )
        grid = self.values
        if len(rho_centres) == 1 or len(pt_centres) == 1:  # interpolate along the longer axis only
            axis_centres, along = (pt_centres, 1) if len(rho_centres) == 1 else (rho_centres, 0)
            if len(axis_centres) == 1:
                return np.full(points.shape[0], float(grid[0, 0]))
            return np.interp(points[:, along], axis_centres, grid.reshape(-1))
        interpolator = scipy.interpolate.RegularGridInterpolator((rho_centres, pt_centres), grid)
        return interpolator(points)

    def transform(self, sample: JetSample) -> np.ndarray:
        """``N2_DDT = N2 - X(rho, pT)``, ``[n_jets]`` float32, for any sample (uses msd, pt)."""
        rho = jet_rho(sample.msd, sample.pt)
        return (sample.n2 - self(rho, sample.pt)).astype(np.float32)

    def apply(self, sample: JetSample) -> JetSample:
        """A copy of ``sample`` with ``extra["n2_ddt"]`` set by :meth:`transform`."""
        return sample.replace(extra={**sample.extra, "n2_ddt": self.transform(sample)})

    # ------------------------------------------------------------------ file round trip
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "quantile": self.quantile,
            "smoothing": self.smoothing,
            "rho_edges": self.rho_edges.tolist(),
            "pt_edges": self.pt_edges.tolist(),
            "values": self.values.tolist(),
            "raw": np.where(np.isfinite(self.raw), self.raw, None).tolist(),
            "counts": self.counts.tolist(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the map as JSON, atomically. Returns the path."""

        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DDTMap:
        """Read a map written by :meth:`save`.

        Raises:
            DataError: missing file, not JSON, wrong format tag, missing key or bad shapes.
        """
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such DDT map file")
        try:
            entry = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: not a JSON DDT map ({error})") from None
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            raise DataError(f"{path}: key 'format' must be {_FORMAT!r} (a map written by DDTMap.save)")
        try:
            raw = np.array([[np.nan if v is None else v for v in row] for row in entry["raw"]], dtype=float)
            ddt = cls(
                quantile=float(entry["quantile"]),
                rho_edges=np.asarray(entry["rho_edges"], dtype=np.float64),
                pt_edges=np.asarray(entry["pt_edges"], dtype=np.float64),
                values=np.asarray(entry["values"], dtype=np.float64),
                raw=raw,
                counts=np.asarray(entry["counts"], dtype=np.int64),
                smoothing=float(entry["smoothing"]),
            )
        except KeyError as error:
            raise DataError(f"{path}: DDT map lacks key {error}") from None
        shape = (len(ddt.rho_edges) - 1, len(ddt.pt_edges) - 1)
        for name in ("values", "raw", "counts"):
            if getattr(ddt, name).shape != shape:
                raise DataError(
                    f"{path}: key {name!r} has shape {getattr(ddt, name).shape}, expected {shape}"
                )
        if not np.all(np.isfinite(ddt.values)):
            raise DataError(f"{path}: key 'values' holds NaN/inf")
        return ddt


def _local_linear_smooth(raw: np.ndarray, width: float) -> np.ndarray:
    """Gaussian-weighted local-linear smoothing of ``raw [n_rho, n_pt]`` (``nan`` = no data).

    At every bin a plane in (rho index, pT index) is fitted to the filled bins with Gaussian
    weights of ``width`` bins; its value at the bin is the smoothed value. Unlike a plain
    Gaussian filter this keeps linear trends exact, also at the edges of the map, and fills
    empty bins from their neighbours.
    """
    n_rho, n_pt = raw.shape
    filled = np.argwhere(np.isfinite(raw)).astype(np.float64)
    targets = raw[np.isfinite(raw)]
    smoothed = np.empty(raw.shape)
    for i in range(n_rho):
        for j in range(n_pt):
            offsets = filled - [i, j]
            squared = np.sum(offsets**2, axis=1)
            kernel = np.exp(-0.5 * (squared - squared.min()) / width**2)  # 1 at the nearest filled bin
            root = np.sqrt(kernel)[:, None]
            # a tiny ridge on the two slopes: where the filled bins do not span a direction (e.g.
            # an empty pT column) the slope along it is 0, i.e. the map is extended flat.
            ridge = np.sqrt(1e-8 * kernel.sum()) * np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            design = np.vstack([np.column_stack([np.ones(len(offsets)), offsets]) * root, ridge])
            rhs = np.concatenate([targets * root[:, 0], [0.0, 0.0]])
            coefficients, *_ = np.linalg.lstsq(design, rhs, rcond=None)
            smoothed[i, j] = coefficients[0]
    return smoothed


def build_ddt_map(
    background: JetSample,
    *,
    quantile: float = 0.26,
    rho_range: tuple[float, float] = (-7.0, -1.0),
    rho_bins: int = 24,
    pt_range: tuple[float, float] | None = None,
    pt_bins: int = 6,
    smoothing: float = 1.0,
    min_jets_per_bin: int = 50,
) -> DDTMap:
    """Measure ``X_q(rho, pT)`` on a QCD sample (per-jet ``weight`` used in the quantiles).

    Args:
        background: QCD jets (fields ``msd``, ``pt``, ``n2``, ``weight``).
        quantile: the percentile q in (0, 1).
        rho_range, rho_bins: uniform rho binning (jets outside, or with msd <= 0, are ignored).
        pt_range, pt_bins: uniform pT binning [GeV]; default the sample's 0.5%-99.5% pT range.
        smoothing: width (in bins) of the Gaussian-weighted local-linear smoothing of the map
            (keeps linear trends, also at the edges); 0 for none. Bins with fewer than
            ``min_jets_per_bin`` jets are filled from their neighbours by the same fit.
        min_jets_per_bin: bins with fewer jets do not enter the map.

    Raises:
        DataError: bad quantile, NaN in ``n2``/``pt``/``msd``/``weight``, or no bin with enough jets.
    """
    if not 0.0 < quantile < 1.0:
        raise DataError(f"quantile must be in (0, 1), got {quantile}")
    for field in ("msd", "pt", "n2", "weight"):
        values = getattr(background, field)
        if not np.all(np.isfinite(values)):
            raise DataError(f"background field {field!r} holds NaN/inf values")
    if len(background) == 0:
        raise DataError("background sample has no jets")
    rho = jet_rho(background.msd, background.pt)
    pt = background.pt.astype(np.float64)
    if pt_range is None:
        pt_range = tuple(np.quantile(pt, [0.005, 0.995]))
    rho_edges = np.linspace(*rho_range, rho_bins + 1)
    pt_edges = np.linspace(*pt_range, pt_bins + 1)
    rho_bin = np.digitize(rho, rho_edges) - 1
    pt_bin = np.clip(np.digitize(pt, pt_edges) - 1, 0, pt_bins - 1)  # pT beyond the range: edge bins
    inside = (rho_bin >= 0) & (rho_bin < rho_bins)

    raw = np.full((rho_bins, pt_bins), np.nan)
    counts = np.zeros((rho_bins, pt_bins), dtype=np.int64)
    cell = np.where(inside, rho_bin * pt_bins + pt_bin, -1)
    order = np.argsort(cell, kind="stable")
    boundaries = np.searchsorted(cell[order], np.arange(rho_bins * pt_bins + 1))
    for flat_index in range(rho_bins * pt_bins):
        members = order[boundaries[flat_index] : boundaries[flat_index + 1]]
        i, j = divmod(flat_index, pt_bins)
        counts[i, j] = members.size
        if members.size >= min_jets_per_bin:
            raw[i, j] = weighted_quantile(background.n2[members], quantile, background.weight[members])
    valid = np.isfinite(raw)
    if not valid.any():
        raise DataError(
            f"no (rho, pT) bin holds {min_jets_per_bin} QCD jets (rho in {rho_range}, pT in "
            f"{tuple(float(v) for v in pt_range)} GeV); use fewer bins or more jets"
        )
    values = _local_linear_smooth(raw, smoothing) if smoothing > 0 else raw.copy()
    if not np.all(np.isfinite(values)):  # unsmoothed map: empty bins take the nearest filled value
        filled = np.argwhere(np.isfinite(values))
        for i, j in np.argwhere(~np.isfinite(values)):
            nearest = filled[np.argmin(np.sum((filled - [i, j]) ** 2, axis=1))]
            values[i, j] = values[tuple(nearest)]
    return DDTMap(
        quantile=float(quantile),
        rho_edges=rho_edges,
        pt_edges=pt_edges,
        values=values,
        raw=raw,
        counts=counts,
        smoothing=float(smoothing),
    )


def ddt_map_at_signal_efficiency(
    background: JetSample,
    signal: JetSample,
    signal_efficiency: float,
    *,
    tolerance: float = 1e-4,
    max_iterations: int = 40,
    **map_settings: Any,
) -> DDTMap:
    """The DDT map whose cut ``N2_DDT < 0`` keeps ``signal_efficiency`` of ``signal`` (weighted).

    The fraction of the signal passing ``N2 < X_q(rho, pT)`` grows with q, so q is found by
    bisection in (0, 1). The QCD efficiency of that cut is q in every (rho, pT) bin of the map
    (on ``background``): a tagger evaluated at ``signal_efficiency`` then sits exactly at the
    working point where the DDT decorrelates. Use training (or validation) jets for both samples,
    never the jets the tagger is evaluated on.

    Args:
        background: QCD jets the map is measured on (as :func:`build_ddt_map`).
        signal: signal jets (fields ``msd``, ``pt``, ``n2``, ``weight``) that fix q.
        signal_efficiency: the working point, in (0, 1).
        tolerance: stop when the bracket on q is narrower than this.
        max_iterations: at most this many bisection steps.
        map_settings: further keyword arguments of :func:`build_ddt_map` (not ``quantile``).

    Raises:
        DataError: a bad efficiency, an empty signal sample, or no quantile reaching it.
    """
    if not 0.0 < signal_efficiency < 1.0:
        raise DataError(f"signal_efficiency must be in (0, 1), got {signal_efficiency}")
    if "quantile" in map_settings:
        raise DataError("ddt_map_at_signal_efficiency chooses the quantile itself: do not pass 'quantile'")
    if len(signal) == 0:
        raise DataError("signal sample has no jets")
    weights = np.asarray(signal.weight, dtype=np.float64)

    def passing(ddt: DDTMap) -> float:
        return float(np.sum(weights[ddt.transform(signal) < 0]) / np.sum(weights))

    low, high = 0.0, 1.0
    for _ in range(max_iterations):
        middle = 0.5 * (low + high)
        if passing(build_ddt_map(background, quantile=middle, **map_settings)) < signal_efficiency:
            low = middle
        else:
            high = middle
        if high - low < tolerance:
            break
    if high >= 1.0 - tolerance:
        raise DataError(f"no DDT quantile below 1 keeps {signal_efficiency} of the signal")
    return build_ddt_map(background, quantile=high, **map_settings)
