"""Crystal Ball fits of mass shapes (for bias weights).

:func:`fit_crystal_ball` fits a Crystal Ball (Gaussian core, power-law low tail) or a
double-sided Crystal Ball (power-law tails on both sides) by weighted maximum likelihood,
truncated to a range ``[lo, hi]`` and normalised analytically on it. The result, a
:class:`MassShapeFit`, has ``pdf(x)`` (zero outside the range), parameters with uncertainties from
the inverse Hessian (sandwich-corrected for weighted fits, as RooFit's ``SumW2Error``), a chi2
goodness of fit against a histogram, and ``to_dict()`` (JSON). The histogram alternative is
:class:`codec_jax.data.bias.HistogramDensity`.

With ``t = (x - mu) / sigma`` the Crystal Ball shape is ``exp(-t^2/2)`` for ``-alpha_lo < t <
alpha_hi`` and ``exp(-alpha^2/2) (1 + alpha (|t| - alpha) / n)^(-n)`` beyond (continuous with a
continuous derivative); the one-sided model has ``alpha_hi = inf``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from codec_jax.errors import ConfigError, DataError

__all__ = [
    "CRYSTAL_BALL_PARAMETERS",
    "FitFailedError",
    "MassShapeFit",
    "crystal_ball_pdf",
    "fit_crystal_ball",
]

#: Parameter names of each fit model, in the order of :attr:`MassShapeFit.values`.
CRYSTAL_BALL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "crystalball": ("mu", "sigma", "alpha", "n"),
    "double_crystalball": ("mu", "sigma", "alpha_lo", "n_lo", "alpha_hi", "n_hi"),
}
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))
_FINE_BINS = 20_000


# --------------------------------------------------------------------------- the shape
def _tails(model: str, values: np.ndarray) -> tuple[float, float, float, float]:
    """(alpha_lo, n_lo, alpha_hi, n_hi); the one-sided model has no high tail (alpha_hi = inf)."""
    if model == "crystalball":
        return float(values[2]), float(values[3]), np.inf, 2.0
    return float(values[2]), float(values[3]), float(values[4]), float(values[5])


def _log_shape(t: np.ndarray, a_lo: float, n_lo: float, a_hi: float, n_hi: float) -> np.ndarray:
    """Log of the unnormalised Crystal Ball shape at standardised ``t`` (any shape)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.array(-0.5 * t**2, dtype=np.float64)
    low = t < -a_lo
    out[low] = -0.5 * a_lo**2 - n_lo * np.log1p(a_lo * (-t[low] - a_lo) / n_lo)
    if np.isfinite(a_hi):
        high = t > a_hi
        out[high] = -0.5 * a_hi**2 - n_hi * np.log1p(a_hi * (t[high] - a_hi) / n_hi)
    return out


def _shape_cdf(t: np.ndarray, a_lo: float, n_lo: float, a_hi: float, n_hi: float) -> np.ndarray:
    """Integral of the unnormalised shape from -inf to ``t`` (analytic; needs n > 1)."""
    t = np.asarray(t, dtype=np.float64)

    def low_tail(s):  # integral from -inf to s <= -a_lo
        u = 1.0 + a_lo * (-s - a_lo) / n_lo
        return (n_lo / a_lo) / (n_lo - 1.0) * np.exp(-0.5 * a_lo**2) * u ** (1.0 - n_lo)

    tail_total = low_tail(-a_lo)
    core_end = min(a_hi, np.inf)
    core = tail_total + _SQRT_2PI * (scipy.special.ndtr(np.minimum(t, core_end)) - scipy.special.ndtr(-a_lo))
    out = np.where(t <= -a_lo, low_tail(np.minimum(t, -a_lo)), core)
    if np.isfinite(a_hi):
        at_hi = tail_total + _SQRT_2PI * (scipy.special.ndtr(a_hi) - scipy.special.ndtr(-a_lo))
        v = 1.0 + a_hi * (np.maximum(t, a_hi) - a_hi) / n_hi
        high = at_hi + (n_hi / a_hi) / (n_hi - 1.0) * np.exp(-0.5 * a_hi**2) * (1.0 - v ** (1.0 - n_hi))
        out = np.where(t > a_hi, high, out)
    return out


def crystal_ball_pdf(
    x: np.ndarray, model: str, values: np.ndarray, fit_range: tuple[float, float]
) -> np.ndarray:
    """Normalised Crystal Ball density on ``fit_range`` (zero outside), ``x`` of any shape.

    ``values`` are the parameters in the order of :data:`CRYSTAL_BALL_PARAMETERS[model]`.
    """
    values = np.asarray(values, dtype=np.float64)
    mu, sigma = values[0], values[1]
    tails = _tails(model, values)
    lo, hi = fit_range
    norm = sigma * (_shape_cdf((hi - mu) / sigma, *tails) - _shape_cdf((lo - mu) / sigma, *tails))
    x = np.asarray(x, dtype=np.float64)
    density = np.exp(_log_shape((x - mu) / sigma, *tails)) / norm
    return np.where((x >= lo) & (x <= hi), density, 0.0)


class FitFailedError(RuntimeError):
    """A Crystal Ball fit did not converge or its parameters are not constrained."""


# --------------------------------------------------------------------------- fit results
@dataclasses.dataclass(frozen=True)
class MassShapeFit:
    """A fitted Crystal Ball density on ``fit_range``.

    Attributes:
        model: ``"crystalball"`` or ``"double_crystalball"``.
        names: parameter names (:data:`CRYSTAL_BALL_PARAMETERS`).
        values: ``[n_params]`` best-fit values.
        covariance: ``[n_params, n_params]`` covariance (inverse Hessian, sandwich for weights).
        fit_range: ``(lo, hi)`` of the truncated fit.
        chi2, ndf: goodness of fit against a histogram of the data (see :func:`fit_crystal_ball`).
        n_jets: number of jets in the fit; ``sum_weights`` their total weight.
        fixed: names of tail parameters whose tail lies outside the range (``nan`` errors).
    """

    model: str
    names: tuple[str, ...]
    values: np.ndarray
    covariance: np.ndarray
    fit_range: tuple[float, float]
    chi2: float
    ndf: int
    n_jets: int
    sum_weights: float
    fixed: tuple[str, ...] = ()

    @property
    def errors(self) -> np.ndarray:
        """``[n_params]`` one-sigma uncertainties (square roots of the covariance diagonal)."""
        return np.sqrt(np.diag(self.covariance))

    @property
    def params(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(self.names, self.values)}

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / max(self.ndf, 1)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Normalised density at ``x`` (any shape), zero outside :attr:`fit_range`."""
        return crystal_ball_pdf(x, self.model, self.values, self.fit_range)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "fit",
            "model": self.model,
            "params": self.params,
            "errors": {name: _json_float(err) for name, err in zip(self.names, self.errors)},
            "fixed": list(self.fixed),
            "fit_range": list(self.fit_range),
            "chi2": self.chi2,
            "ndf": self.ndf,
            "chi2_ndf": self.chi2_ndf,
            "p_value": float(scipy.stats.chi2.sf(self.chi2, max(self.ndf, 1))),
            "n_jets": self.n_jets,
            "sum_weights": self.sum_weights,
        }


def _json_float(value: float) -> float | None:
    """``value`` as a float, ``None`` (JSON null) for nan."""
    return float(value) if np.isfinite(value) else None


# --------------------------------------------------------------------------- the fit
def _nll(values: np.ndarray, model: str, x: np.ndarray, w: np.ndarray, fit_range) -> float:
    """Weighted negative log-likelihood of the truncated, normalised Crystal Ball."""
    mu, sigma = values[0], values[1]
    tails = _tails(model, values)
    lo, hi = fit_range
    norm = sigma * (_shape_cdf((hi - mu) / sigma, *tails) - _shape_cdf((lo - mu) / sigma, *tails))
    if not np.isfinite(norm) or norm <= 0:
        return np.inf
    return float(-np.sum(w * _log_shape((x - mu) / sigma, *tails)) + np.sum(w) * np.log(norm))


def _hessian(fun, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of a scalar function of ``values [n]``."""
    n = len(values)
    hess = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = steps[i]
            ej[j] = steps[j]
            fpp = fun(values + ei + ej)
            fpm = fun(values + ei - ej)
            fmp = fun(values - ei + ej)
            fmm = fun(values - ei - ej)
            hess[i, j] = hess[j, i] = (fpp - fpm - fmp + fmm) / (4.0 * steps[i] * steps[j])
    return hess


def _goodness_of_fit(fit_pdf_cdf, x, w, w2, fit_range, n_bins: int, n_params: int) -> tuple[float, int]:
    """Pearson chi2 of the weighted histogram against the fitted bin contents.

    The variance of bin b is its expected content times ``sum(w^2) / sum(w)`` (Pearson for unit
    weights); ``ndf = n_bins - 1 - n_params`` (the total is fixed by the data).
    """
    edges = np.linspace(*fit_range, n_bins + 1)
    observed, _ = np.histogram(x, bins=edges, weights=w)
    cdf = fit_pdf_cdf(edges)
    expected = np.sum(w) * np.diff(cdf) / (cdf[-1] - cdf[0])
    variance = expected * np.sum(w2) / np.sum(w)
    used = variance > 0
    chi2 = float(np.sum((observed[used] - expected[used]) ** 2 / variance[used]))
    return chi2, int(used.sum()) - 1 - n_params


def _inactive_tails(model: str, values: np.ndarray, fit_range) -> list[int]:
    """Indices of tail parameters whose tail starts outside the fit range."""
    a_lo, _, a_hi, _ = _tails(model, values)
    t_lo, t_hi = ((np.asarray(fit_range) - values[0]) / values[1]).tolist()
    inactive = [2, 3] if t_lo >= -a_lo else []
    if model == "double_crystalball" and t_hi <= a_hi:
        inactive += [4, 5]
    return inactive


def _covariance(model, values, x, w, w2, fit_range, field) -> tuple[np.ndarray, tuple[str, ...]]:
    """Sandwich covariance ``H_w^-1 H_{w^2} H_w^-1`` of the active parameters (``H^-1`` for unit
    weights), ``nan`` rows/columns for inactive tails; and the names of those."""
    scale = fit_range[1] - fit_range[0]
    steps = 1e-4 * np.concatenate([[scale, values[1]], np.maximum(np.abs(values[2:]), 0.1)])
    inactive = _inactive_tails(model, values, fit_range)
    active = np.array([i for i in range(len(values)) if i not in inactive])

    def nll_of_active(weights):
        def nll(sub):
            full = values.copy()
            full[active] = sub
            return _nll(full, model, x, weights, fit_range)

        return nll

    hess_w = _hessian(nll_of_active(w), values[active], steps[active])
    hess_w2 = _hessian(nll_of_active(w2), values[active], steps[active])
    diagonal = np.diag(hess_w)
    # positive definiteness judged on the scale-free (correlation-like) form of the Hessian
    normalised = hess_w / np.sqrt(np.outer(np.abs(diagonal), np.abs(diagonal)))
    if not (np.all(diagonal > 0) and np.linalg.eigvalsh(0.5 * (normalised + normalised.T)).min() > 1e-8):
        raise FitFailedError(
            f"{model} fit of {field!r}: the Hessian is not positive definite (a parameter is not "
            "constrained by the data)"
        )
    inverse = np.linalg.inv(hess_w)
    covariance = np.full((len(values), len(values)), np.nan)
    covariance[np.ix_(active, active)] = inverse @ hess_w2 @ inverse
    names = CRYSTAL_BALL_PARAMETERS[model]
    return covariance, tuple(names[i] for i in inactive)


def fit_crystal_ball(
    x: np.ndarray,
    *,
    fit_range: tuple[float, float],
    model: str = "crystalball",
    weight: np.ndarray | None = None,
    gof_bins: int = 40,
    max_unbinned: int = 200_000,
    field: str = "mass",
) -> MassShapeFit:
    """Weighted maximum-likelihood fit of a (double-sided) Crystal Ball to ``x`` in ``fit_range``.

    Args:
        x: ``[n_jets]`` masses; values outside ``fit_range`` are ignored.
        fit_range: ``(lo, hi)``; the density is truncated to it and normalised analytically.
        model: ``"crystalball"`` (low tail) or ``"double_crystalball"`` (both tails).
        weight: ``[n_jets]`` per-jet weights (default 1).
        gof_bins: bins of the chi2 goodness-of-fit histogram.
        max_unbinned: above this many jets the likelihood is evaluated on a histogram of
            20,000 bins across the range (same fit, far faster; the binning error is
            negligible for shapes wider than a few bins).
        field: name of the mass field, for error messages.

    A tail whose onset lies outside the fit range (e.g. ``alpha_lo`` beyond ``lo``) does not
    shape the density there: its two parameters are kept at their fitted values, listed in
    :attr:`MassShapeFit.fixed` and given ``nan`` errors; the others get the usual covariance.

    Raises:
        FitFailedError: the minimiser did not converge or the Hessian of the free parameters is
            not positive definite (the caller may fall back to a histogram).
        DataError: fewer than 20 jets in the range.
    """
    if model not in CRYSTAL_BALL_PARAMETERS:
        raise ConfigError(
            f"unknown mass-shape model {model!r}; expected one of {sorted(CRYSTAL_BALL_PARAMETERS)}"
        )
    x = np.asarray(x, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    lo, hi = map(float, fit_range)
    inside = (x >= lo) & (x <= hi) & (w > 0)
    x, w = x[inside], w[inside]
    n_jets, sum_weights = int(x.size), float(np.sum(w))
    if n_jets < 20:
        raise DataError(f"field {field!r}: {n_jets} jets in the fit range [{lo:g}, {hi:g}]; need at least 20")
    quantiles = np.quantile(x, [0.16, 0.5, 0.84])  # starting values
    w2 = w**2
    if n_jets > max_unbinned:  # large samples: the likelihood of a fine histogram (bin centres)
        edges = np.linspace(lo, hi, _FINE_BINS + 1)
        w = np.histogram(x, bins=edges, weights=w)[0]
        w2 = np.histogram(x, bins=edges, weights=w2)[0]
        x = 0.5 * (edges[1:] + edges[:-1])

    # Minimise in scaled, unconstrained coordinates: mu / s, log(sigma / s), log(alpha), log(n - 1).
    scale = hi - lo
    sigma0 = max(0.5 * (quantiles[2] - quantiles[0]), 1e-3 * scale)
    n_tail_params = len(CRYSTAL_BALL_PARAMETERS[model]) - 2

    def to_values(z):
        tail = np.exp(z[2:]).reshape(-1, 2) + np.array([0.0, 1.0])
        return np.concatenate([[z[0] * scale, np.exp(z[1]) * scale], tail.reshape(-1)])

    def objective(z):
        return _nll(to_values(z), model, x, w, (lo, hi)) / np.sum(w)

    best = None
    for alpha0 in (0.8, 1.8):
        z0 = np.concatenate(
            [
                [quantiles[1] / scale, np.log(sigma0 / scale)],
                [np.log(alpha0), np.log(4.0)] * (n_tail_params // 2),
            ]
        )
        bounds = [(None, None), (np.log(1e-4), np.log(10.0))] + [
            (np.log(0.05), np.log(20.0)),
            (np.log(0.01), np.log(200.0)),
        ] * (n_tail_params // 2)
        result = scipy.optimize.minimize(
            objective,
            z0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    if not best.success or not np.isfinite(best.fun):
        raise FitFailedError(f"{model} fit of {field!r} did not converge ({best.message})")
    values = to_values(best.x)
    covariance, fixed = _covariance(model, values, x, w, w2, (lo, hi), field)

    tails = _tails(model, values)
    chi2, ndf = _goodness_of_fit(
        lambda e: _shape_cdf((e - values[0]) / values[1], *tails), x, w, w2, (lo, hi), gof_bins, len(values)
    )
    return MassShapeFit(
        model=model,
        names=CRYSTAL_BALL_PARAMETERS[model],
        values=values,
        covariance=covariance,
        fit_range=(lo, hi),
        chi2=chi2,
        ndf=ndf,
        n_jets=n_jets,
        sum_weights=sum_weights,
        fixed=fixed,
    )
