"""Flat-mass training sets: Crystal Ball fits, bias weights, 1D/2D flattening, peaky sets, CLI.

Synthetic samples are drawn with NumPy/SciPy from known distributions: the wide signal's truth
mass is a Crystal Ball (scipy.stats.crystalball, an independent implementation), its soft-drop
mass a 4% smearing of it; QCD has a falling m^-2.5 spectrum; pT is 400 GeV + an exponential.
Flatness and agreement are judged with chi2 tests whose variances are the sums of squared weights.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from codec_jax.data import bias as bias_module
from codec_jax.data.bias import FitFallbackWarning, HistogramDensity, density_from_dict, fit_bias_weights
from codec_jax.data.flat import flatten, mass_values
from codec_jax.data.massfit import (
    FitFailedError,
    MassShapeFit,
    crystal_ball_pdf,
    fit_crystal_ball,
)
from codec_jax.data.peaky import peaky_sample
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample

CB_TRUTH = {"beta": 1.2, "m": 4.0, "loc": 175.0, "scale": 30.0}
CB_VALUES = np.array([175.0, 30.0, 1.2, 4.0])
FIT_RANGE = (40.0, 320.0)


def make_sample(rng: np.random.Generator, n: int, *, signal: bool) -> JetSample:
    """A minimal JetSample (one particle per jet) with known mass and pT distributions."""
    if signal:
        truth = scipy.stats.crystalball(beta=1.0, m=3.0, loc=170.0, scale=60.0).rvs(
            size=2 * n, random_state=rng
        )
        truth = truth[truth > 10.0][:n]
        msd = truth * rng.normal(0.97, 0.04, n)
    else:  # inverse-CDF draw from m^-2.5 on [25, 400] GeV
        lo, hi, power = 25.0, 400.0, 1.5
        msd = (lo**-power - rng.uniform(size=n) * (lo**-power - hi**-power)) ** (-1.0 / power)
        truth = np.zeros(n)
    pt = 400.0 + rng.exponential(200.0, n)
    parts = np.zeros((n, 1, 4), np.float32)
    parts[:, 0, 0] = pt
    jets = {"pt": pt, "msd": msd, "mass": msd, "truth_mass": truth, "label": np.full(n, int(signal))}
    return JetSample.from_arrays(parts, np.ones((n, 1), bool), ABSOLUTE_FEATURES, jets)


@pytest.fixture(scope="module")
def samples() -> tuple[JetSample, JetSample]:
    rng = np.random.default_rng(2024)
    return make_sample(rng, 40_000, signal=True), make_sample(rng, 250_000, signal=False)


def chi2_flat(values, weights, edges, target_per_bin=None) -> tuple[float, int]:
    """chi2 of a weighted histogram against a constant (the mean, or a given value)."""
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    variance, _ = np.histogram(values, bins=edges, weights=np.asarray(weights) ** 2)
    target = counts.mean() if target_per_bin is None else target_per_bin
    ndf = len(counts) - (1 if target_per_bin is None else 0)
    return float(np.sum((counts - target) ** 2 / variance)), ndf


# --------------------------------------------------------------------------- Crystal Ball fits
def test_crystal_ball_pdf_matches_scipy_and_is_normalised():
    x = np.linspace(40.0, 320.0, 57)
    reference = scipy.stats.crystalball(**CB_TRUTH)
    truncated = reference.pdf(x) / (reference.cdf(FIT_RANGE[1]) - reference.cdf(FIT_RANGE[0]))
    np.testing.assert_allclose(
        crystal_ball_pdf(x, "crystalball", CB_VALUES, FIT_RANGE), truncated, rtol=1e-10
    )
    assert crystal_ball_pdf(np.array([30.0, 330.0]), "crystalball", CB_VALUES, FIT_RANGE).tolist() == [
        0.0,
        0.0,
    ]
    double = np.array([175.0, 30.0, 1.2, 4.0, 0.8, 6.0])
    integral, _ = scipy.integrate.quad(
        lambda m: crystal_ball_pdf(m, "double_crystalball", double, FIT_RANGE), *FIT_RANGE, points=[139, 199]
    )
    assert integral == pytest.approx(1.0, abs=1e-8)
    # a high tail starting far out is the one-sided shape
    far = np.array([175.0, 30.0, 1.2, 4.0, 30.0, 6.0])
    np.testing.assert_allclose(
        crystal_ball_pdf(x, "double_crystalball", far, FIT_RANGE), truncated, rtol=1e-10
    )


def test_fit_recovers_crystal_ball_parameters_within_stated_errors():
    """4 independent samples of 20k jets: every parameter within 3 sigma of the truth, and the
    pulls of all 16 (parameter, sample) pairs have an RMS compatible with 1 (99.9% range of
    sqrt(chi2_16/16) is [0.58, 1.56]; the bounds allow for the correlation between parameters)."""
    reference = scipy.stats.crystalball(**CB_TRUTH)
    pulls = []
    for seed in range(4):
        masses = reference.rvs(size=20_000, random_state=np.random.default_rng(seed))
        fit = fit_crystal_ball(masses, fit_range=FIT_RANGE, model="crystalball")
        assert isinstance(fit, MassShapeFit)
        assert fit.names == ("mu", "sigma", "alpha", "n")
        assert np.all(fit.errors > 0)
        pull = (fit.values - CB_VALUES) / fit.errors
        assert np.all(np.abs(pull) < 3.0), (fit.params, fit.errors)
        assert scipy.stats.chi2.sf(fit.chi2, fit.ndf) > 1e-3
        pulls.append(pull)
        if seed == 0:  # the binned likelihood of large samples gives the same fit
            binned = fit_crystal_ball(masses, fit_range=FIT_RANGE, max_unbinned=1000)
            np.testing.assert_allclose(binned.values, fit.values, atol=0.05 * fit.errors.min())
            np.testing.assert_allclose(binned.errors, fit.errors, rtol=0.02)
    rms = float(np.sqrt(np.mean(np.square(pulls))))
    assert 0.45 < rms < 1.7


def _double_cb_shape(m, mu, sigma, a_lo, n_lo, a_hi, n_hi):
    """Test-side double-sided Crystal Ball shape, written from the textbook formula."""
    t = (m - mu) / sigma
    low = (n_lo / a_lo) ** n_lo * np.exp(-(a_lo**2) / 2) * (n_lo / a_lo - a_lo - t) ** -n_lo
    high = (n_hi / a_hi) ** n_hi * np.exp(-(a_hi**2) / 2) * (n_hi / a_hi - a_hi + t) ** -n_hi
    return np.where(t < -a_lo, low, np.where(t > a_hi, high, np.exp(-(t**2) / 2)))


def test_double_crystal_ball_fit_recovers_parameters():
    truth = np.array([150.0, 25.0, 1.0, 3.0, 1.5, 5.0])
    rng = np.random.default_rng(11)
    proposals = rng.uniform(*FIT_RANGE, 200_000)
    keep = rng.uniform(size=proposals.size) < _double_cb_shape(proposals, *truth)
    masses = proposals[keep][:25_000]
    fit = fit_crystal_ball(masses, fit_range=FIT_RANGE, model="double_crystalball")
    assert fit is not None and fit.model == "double_crystalball"
    assert np.all(np.abs(fit.values - truth) < 3.0 * fit.errors), (fit.params, fit.errors)
    assert fit.ndf == 40 - 1 - 6


def test_tail_outside_the_range_is_reported_as_fixed():
    """Gaussian data on [mu - sigma/3, mu + 5 sigma]: the low tail cannot start inside the range,
    so alpha and n are unconstrained; they are reported as fixed (nan errors), mu and sigma fitted."""
    masses = np.random.default_rng(0).normal(100.0, 30.0, 20_000)
    fit = fit_crystal_ball(masses, fit_range=(90.0, 250.0))
    assert fit.fixed == ("alpha", "n")
    assert np.isnan(fit.errors[2:]).all() and np.all(fit.errors[:2] > 0)
    assert np.all(np.abs(fit.values[:2] - [100.0, 30.0]) < 3.0 * fit.errors[:2])
    assert fit.to_dict()["errors"]["alpha"] is None


def test_densities_survive_their_dict_form():
    fit = fit_crystal_ball(
        scipy.stats.crystalball(**CB_TRUTH).rvs(size=2000, random_state=np.random.default_rng(3)),
        fit_range=FIT_RANGE,
    )
    histogram = HistogramDensity.from_values(np.linspace(40, 300, 500) ** 1.1, np.linspace(60, 500, 9))
    x = np.linspace(30, 520, 99)
    for density in (fit, histogram):
        rebuilt = density_from_dict(json.loads(json.dumps(density.to_dict())))
        np.testing.assert_allclose(rebuilt.pdf(x), density.pdf(x), rtol=1e-12)
    np.testing.assert_allclose(rebuilt.edges, histogram.edges)


# --------------------------------------------------------------------------- bias weights
def test_bias_weights_make_the_wide_sample_flat():
    """A wide shape (sigma = 60 GeV, the range reaches 2.2 sigma above the peak)."""
    wide = scipy.stats.crystalball(beta=1.0, m=3.0, loc=170.0, scale=60.0)
    masses = wide.rvs(size=50_000, random_state=np.random.default_rng(5))
    weights_of = fit_bias_weights(masses, mass_range=(40, 300), model="crystalball", field="truth_mass")
    weights = weights_of(masses)
    inside = (masses >= 40) & (masses <= 300)
    assert np.all(np.isfinite(weights)) and np.all(weights[inside] > 0) and np.all(weights[~inside] == 0)
    assert np.mean(weights[inside]) == pytest.approx(1.0, rel=0.03)  # u/f averages to one under f
    chi2, ndf = chi2_flat(masses[inside], weights[inside], np.linspace(40, 300, 21))
    assert 0.3 < chi2 / ndf < 2.0 and scipy.stats.chi2.sf(chi2, ndf) > 1e-3
    # without the weights the same histogram is far from flat (the test can fail)
    chi2_raw, _ = chi2_flat(masses[inside], np.ones(inside.sum()), np.linspace(40, 300, 21))
    assert chi2_raw > 100 * chi2


def test_bias_weights_in_mass_and_pt(samples):
    signal, _ = samples
    truth, pt = signal.truth_mass, signal.pt
    weights_of = fit_bias_weights(truth, mass_range=(60, 280), pt=pt, pt_range=(400, 900), pt_bins=10)
    with pytest.raises(ConfigError, match="pt"):
        weights_of(truth)
    weights = weights_of(truth, pt)
    inside = (truth >= 60) & (truth <= 280) & (pt >= 400) & (pt <= 900)
    assert np.all(weights[inside] > 0) and np.all(weights[~inside] == 0)
    for values, edges in ((pt, np.linspace(400, 900, 11)), (truth, np.linspace(60, 280, 12))):
        chi2, ndf = chi2_flat(values[inside], weights[inside], edges)
        assert scipy.stats.chi2.sf(chi2, ndf) > 1e-3, (chi2, ndf)


def test_failed_fit_falls_back_to_histogram_with_a_warning(monkeypatch):
    masses = np.random.default_rng(0).uniform(50, 250, 5_000)

    def failing_fit(*args, **kwargs):
        raise FitFailedError("crystalball fit of 'mass' did not converge (test)")

    monkeypatch.setattr(bias_module, "fit_crystal_ball", failing_fit)
    with pytest.warns(FitFallbackWarning, match="did not converge .test.; using the histogram"):
        weights_of = fit_bias_weights(masses, mass_range=(50, 250), hist_bins=10)
    assert isinstance(weights_of.mass_density, HistogramDensity)
    counts, _ = np.histogram(masses, np.linspace(50, 250, 11))
    centre_of_bin_3 = 50 + 20 * 3.5
    expected = (counts.sum() * 20 / counts[3]) / 200  # u / f at a bin centre
    assert weights_of(np.array([centre_of_bin_3]))[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mass_range": (500, 600)}, DataError, "no jets"),
        ({"mass_range": (300, 100)}, ConfigError, "mass_range"),
        ({"mass_range": (50, 250), "weight": np.r_[np.nan, np.ones(199)]}, DataError, "'weight'"),
        ({"mass_range": (50, 250), "model": "gauss"}, ConfigError, "gauss"),
        ({"mass_range": (50, 250), "model": "histogram", "hist_bins": 400}, DataError, "holds no jets"),
    ],
)
def test_bias_weights_bad_input(kwargs, error, match):
    masses = np.random.default_rng(1).uniform(50, 250, 200)
    with pytest.raises(error, match=match):
        fit_bias_weights(masses, **kwargs)


# --------------------------------------------------------------------------- flattening
def _cell_checks(flat, sample, mass, sub_bins: int):
    """Every cell sums to the target; sub-bins inside cells are flat (chi2 with one constraint
    per cell: ndf = n_cells * (sub_bins - 1))."""
    edges = np.linspace(flat.mass_edges[0], flat.mass_edges[-1], (len(flat.mass_edges) - 1) * sub_bins + 1)
    sums, _ = np.histogram(mass, flat.mass_edges, weights=sample.weight)
    return sums, chi2_flat(mass, sample.weight, edges, target_per_bin=flat.jets_per_cell / sub_bins)


def test_flatten_1d_signal_and_qcd_agree_and_are_flat(samples):
    signal, background = samples
    flat = flatten(0, signal, background, mass_range=(40, 300), mode="1d", mass_bins=13)
    target = flat.jets_per_cell
    assert target == min(flat.available["signal"].min(), flat.available["background"].min())
    assert len(flat.signal) == len(flat.background) == 13 * target
    histograms = []
    for sample in (flat.signal, flat.background):
        assert np.all(np.isfinite(sample.weight)) and np.all(sample.weight > 0)
        sums, (chi2, _) = _cell_checks(flat, sample, sample.msd, sub_bins=3)
        np.testing.assert_allclose(sums, target, rtol=1e-4)
        ndf = 13 * 2
        assert scipy.stats.chi2.sf(chi2, ndf) > 1e-3, chi2 / ndf
        histograms.append(np.histogram(sample.msd, np.linspace(40, 300, 40), weights=sample.weight)[0])
        histograms.append(np.histogram(sample.msd, np.linspace(40, 300, 40), weights=sample.weight**2)[0])
    chi2_two_sample = np.sum((histograms[0] - histograms[2]) ** 2 / (histograms[1] + histograms[3]))
    assert scipy.stats.chi2.sf(chi2_two_sample, 39 - 13) > 1e-3
    # no jet drawn twice, all inside the range
    assert len(np.unique(flat.signal.msd)) == len(flat.signal)
    assert flat.background.msd.min() >= 40 and flat.background.msd.max() <= 300
    assert json.loads(json.dumps(flat.summary()))["settings"]["mode"] == "1d"


def test_flatten_is_deterministic_in_the_seed(samples):
    signal, background = samples[0][:8000], samples[1][:80_000]
    kwargs = {"mass_range": (40, 200), "mass_bins": 8, "fit": "histogram"}
    first, again, other = (flatten(seed, signal, background, **kwargs) for seed in (0, 0, 1))
    np.testing.assert_array_equal(again.signal.weight, first.signal.weight)
    np.testing.assert_array_equal(again.background.msd, first.background.msd)
    assert not np.array_equal(other.background.msd, first.background.msd)


def test_flatten_1d_too_many_jets_requested_get_residual_weights(samples):
    signal, background = samples
    flat = flatten(
        3, signal, background, mass_range=(40, 300), mass_bins=13, jets_per_cell=800, fit="histogram"
    )
    short = flat.available["background"] < 800
    assert short.any()  # high-mass QCD cells hold fewer jets than asked for
    np.testing.assert_array_equal(flat.selected["background"][short], flat.available["background"][short])
    sums, _ = np.histogram(flat.background.msd, flat.mass_edges, weights=flat.background.weight)
    np.testing.assert_allclose(sums, 800, rtol=1e-4)


def test_flatten_2d_cells_agree_and_are_flat(samples):
    signal, background = samples
    flat = flatten(
        0, signal, background, mass_range=(40, 300), mode="2d", pt_range=(400, 900), mass_bins=5, pt_bins=3
    )
    target = flat.jets_per_cell
    m_edges, p_edges = flat.mass_edges, flat.pt_edges
    fine_m = np.linspace(40, 300, 11)
    fine_p = np.linspace(400, 900, 7)
    counts_2d = []
    for sample in (flat.signal, flat.background):
        sums, _, _ = np.histogram2d(sample.msd, sample.pt, [m_edges, p_edges], weights=sample.weight)
        np.testing.assert_allclose(sums, target, rtol=1e-4)
        counts, _, _ = np.histogram2d(sample.msd, sample.pt, [fine_m, fine_p], weights=sample.weight)
        variance, _, _ = np.histogram2d(sample.msd, sample.pt, [fine_m, fine_p], weights=sample.weight**2)
        chi2 = np.sum((counts - target / 4) ** 2 / variance)
        assert scipy.stats.chi2.sf(chi2, 15 * 3) > 1e-3, chi2 / 45  # 60 sub-cells, 15 cell constraints
        counts_2d.append((counts, variance))
    (c_s, v_s), (c_b, v_b) = counts_2d
    assert scipy.stats.chi2.sf(np.sum((c_s - c_b) ** 2 / (v_s + v_b)), 45) > 1e-3


def test_flatten_in_truth_mass(samples):
    signal, background = samples
    flat = flatten(
        0, signal, background, mass_range=(60, 280), mass_variable="truth", mass_bins=11, fit="crystalball"
    )
    field, truth = mass_values(flat.signal, "truth")
    assert field == "truth_mass"
    sums, _ = np.histogram(truth, flat.mass_edges, weights=flat.signal.weight)
    np.testing.assert_allclose(sums, flat.jets_per_cell, rtol=1e-4)
    assert flat.signal_bias.mass_density.model == "crystalball"
    with pytest.raises(DataError, match="truth_mass"):
        mass_values(background, "truth")


def test_flatten_bad_input(samples):
    signal, background = samples
    small_signal, small_background = signal[:3000], background[:3000]
    with pytest.raises(DataError, match="no jets"):
        flatten(0, small_signal, small_background, mass_range=(1000, 2000), fit="histogram")
    with pytest.raises(DataError, match=r"background: mass bin \[.*\) GeV holds \d+ jets"):
        flatten(0, small_signal, small_background, mass_range=(40, 300), mass_bins=26, fit="histogram")
    nan_weights = small_signal.weight.copy()
    nan_weights[7] = np.nan
    with pytest.raises(DataError, match="signal field 'weight' holds 1 NaN"):
        flatten(
            0, small_signal.replace(weight=nan_weights), small_background, mass_range=(40, 100), mass_bins=2
        )
    with pytest.raises(ConfigError, match="pt_range"):
        flatten(0, small_signal, small_background, mass_range=(40, 100), mode="2d")
    with pytest.raises(ConfigError, match="mode"):
        flatten(0, small_signal, small_background, mass_range=(40, 100), mode="3d")


def test_peaky_sample_matches_size_in_equal_shares():
    rng = np.random.default_rng(4)
    narrow = []
    for k, mass in enumerate((80.0, 125.0, 200.0)):
        sample = make_sample(rng, 2000, signal=True)
        jet_id = {"jet_id": np.arange(2000) + 2000 * k}
        narrow.append(
            sample.replace(msd=rng.normal(mass, 3.0, 2000), weight=np.full(2000, 3.0), extra=jet_id)
        )
    peaky = peaky_sample(7, narrow, 1000, mass_range=(40, 300))
    assert len(peaky) == 1000 and np.all(peaky.weight == 1.0)
    nearest = np.argmin(np.abs(peaky.msd[:, None] - np.array([80.0, 125.0, 200.0])), axis=1)
    assert np.bincount(nearest).tolist() == [334, 333, 333]
    assert len(np.unique(peaky.extra["jet_id"])) == 1000
    np.testing.assert_array_equal(peaky_sample(7, narrow, 1000).msd, peaky_sample(7, narrow, 1000).msd)
    with pytest.raises(DataError, match="needs 2000"):
        peaky_sample(0, narrow[:1], 2000, mass_range=(100, 300))


# --------------------------------------------------------------------------- CLI
def test_cli_flatten_writes_all_files(tmp_path, samples):
    from codec_jax.cli import main
    from codec_jax.data.io import read_root, write_root

    signal, background = samples
    write_root(signal[:4000], tmp_path / "signal_in.root")
    write_root(background[:60_000], tmp_path / "background_in.root")
    out = tmp_path / "flat"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitFallbackWarning)
        status = main(
            [
                "flatten",
                "--signal", str(tmp_path / "signal_in.root"),
                "--background", str(tmp_path / "background_in.root"),
                "--mode", "1d", "--mass-range", "40", "200", "--mass-bins", "8", "--seed", "5",
                "--out", str(out),
            ]
        )  # fmt: skip
    assert status == 0
    expected = {"signal.root", "background.root", "flatten.json", "spectra_mass.png", "spectra_pt.png"}
    expected |= {"weights.png", "mass_fit.png", ".codec_jax_set.json"}  # the set manifest, written last
    assert {path.name for path in out.iterdir()} == expected
    summary = json.loads((out / "flatten.json").read_text())
    assert summary["settings"]["seed"] == 5 and summary["signal_bias"]["mass_density"]["kind"] == "fit"
    flat_signal = read_root(out / "signal.root")
    assert len(flat_signal) == summary["n_jets"]["signal"] == 8 * summary["jets_per_cell"]
    sums, _ = np.histogram(flat_signal.msd, np.linspace(40, 200, 9), weights=flat_signal.weight)
    np.testing.assert_allclose(sums, summary["jets_per_cell"], rtol=1e-4)
    assert flat_signal.metadata["flattening"]["mode"] == "1d"
    for name in expected - {"signal.root", "background.root", "flatten.json", ".codec_jax_set.json"}:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = main(
        ["flatten", "--signal", str(tmp_path / "missing.root"), "--background", "x", "--out", str(out)]
    )
    assert bad == 2
