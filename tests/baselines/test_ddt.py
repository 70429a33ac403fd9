"""DDT for N2: weighted quantiles, the smoothed map, its file round trip, the CLI.

The synthetic QCD has a falling m^-2.5 mass spectrum, pT = 400 GeV + exponential, and
N2 = 0.2 + 0.03 (rho + 4) + 0.03 ln(pT / 500) + Gamma noise: its percentiles depend on rho and pT
(linearly), as a real N2 does, so an uncorrected cut would sculpt the mass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from codec_jax.baselines.ddt import (
    DDTMap,
    _local_linear_smooth,
    build_ddt_map,
    ddt_map_at_signal_efficiency,
    jet_rho,
    weighted_quantile,
)
from codec_jax.errors import DataError
from codec_jax.jets import ABSOLUTE_FEATURES, JetSample

MAP_SETTINGS = {"rho_range": (-7.0, -0.5), "rho_bins": 20, "pt_range": (400.0, 1200.0), "pt_bins": 5}


def make_qcd(rng: np.random.Generator, n: int) -> JetSample:
    lo, hi, power = 25.0, 400.0, 1.5
    msd = (lo**-power - rng.uniform(size=n) * (lo**-power - hi**-power)) ** (-1.0 / power)
    pt = 400.0 + rng.exponential(200.0, n)
    rho = 2.0 * np.log(msd / pt)
    n2 = 0.2 + 0.03 * (rho + 4.0) + 0.03 * np.log(pt / 500.0) + rng.gamma(4.0, 0.02, n)
    parts = np.zeros((n, 1, 4), np.float32)
    parts[:, 0, 0] = pt
    jets = {"pt": pt, "msd": msd, "mass": msd, "n2": n2}
    return JetSample.from_arrays(parts, np.ones((n, 1), bool), ABSOLUTE_FEATURES, jets)


@pytest.fixture(scope="module")
def qcd_pair() -> tuple[JetSample, JetSample]:
    rng = np.random.default_rng(26)
    return make_qcd(rng, 150_000), make_qcd(rng, 150_000)


@pytest.fixture(scope="module")
def ddt_map(qcd_pair) -> DDTMap:
    return build_ddt_map(qcd_pair[0], quantile=0.26, **MAP_SETTINGS)


def test_weighted_quantile_matches_numpy_and_repetition():
    rng = np.random.default_rng(0)
    values = rng.normal(size=301)
    weights = rng.integers(1, 5, size=301)
    for q in (0.1, 0.26, 0.5, 0.9):
        repeated = np.quantile(np.repeat(values, weights), q, method="inverted_cdf")
        assert weighted_quantile(values, q, weights) == repeated
        assert weighted_quantile(values, q) == np.quantile(values, q, method="inverted_cdf")
    assert np.isnan(weighted_quantile(np.array([]), 0.5))


def test_rho_is_log_of_mass_over_pt_squared():
    np.testing.assert_allclose(
        jet_rho(np.array([50.0, 100.0]), np.array([500.0, 400.0])), np.log([0.01, 1 / 16])
    )
    assert jet_rho(np.array([0.0]), np.array([500.0]))[0] == -np.inf


def test_local_linear_smoothing_keeps_linear_maps_and_fills_holes():
    i, j = np.meshgrid(np.arange(12), np.arange(4), indexing="ij")
    linear = 0.3 + 0.02 * i - 0.05 * j
    holes = linear.copy()
    holes[[0, 5, 11], [0, 2, 3]] = np.nan
    np.testing.assert_allclose(_local_linear_smooth(holes, 1.5), linear, atol=1e-7)
    # an empty pT column is extended flat from its neighbour (not extrapolated through zero)
    empty_column = linear.copy()
    empty_column[:, 3] = np.nan
    smoothed = _local_linear_smooth(empty_column, 1.0)
    np.testing.assert_allclose(smoothed[:, :3], linear[:, :3], atol=1e-7)
    np.testing.assert_allclose(smoothed[:, 3], linear[:, 2] - 0.05, atol=1e-6)  # the plane continues
    only_one_column = np.full_like(linear, np.nan)
    only_one_column[:, 0] = linear[:, 0]
    np.testing.assert_allclose(_local_linear_smooth(only_one_column, 1.0)[:, 3], linear[:, 0], atol=1e-6)
    # noise on a linear map is reduced (RMS error vs the truth at least halved)
    noisy = linear + np.random.default_rng(1).normal(0, 0.01, linear.shape)
    raw_error = np.sqrt(np.mean((noisy - linear) ** 2))
    assert np.sqrt(np.mean((_local_linear_smooth(noisy, 1.5) - linear) ** 2)) < 0.5 * raw_error


def test_ddt_cut_keeps_the_quantile_in_every_mass_bin(qcd_pair, ddt_map):
    """On an independent QCD sample, the fraction with N2_DDT < 0 in each of 10 equally populated
    msd bins (about 7k jets each) is within 3 binomial sigma (about 0.016) + 0.01 (allowance for
    the map's own statistical error and smoothing) of q = 0.26. Without DDT it varies a lot."""
    _, test = qcd_pair
    n2_ddt = ddt_map.transform(test)
    inside = (test.msd > 40) & (test.pt < 1200)
    edges = np.quantile(test.msd[inside], np.linspace(0, 1, 11))
    bins = np.clip(np.digitize(test.msd[inside], edges) - 1, 0, 9)
    fractions = np.array([np.mean(n2_ddt[inside][bins == b] < 0) for b in range(10)])
    counts = np.bincount(bins, minlength=10)
    tolerance = 3 * np.sqrt(0.26 * 0.74 / counts) + 0.01
    assert np.all(np.abs(fractions - 0.26) < tolerance), fractions
    fixed_cut = np.quantile(test.n2[inside], 0.26)
    plain = np.array([np.mean(test.n2[inside][bins == b] < fixed_cut) for b in range(10)])
    assert plain.max() - plain.min() > 0.3  # the test sample does sculpt without DDT


def _bin_pulls(ddt: DDTMap, sample: JetSample, quantile: float, min_jets: int = 100) -> np.ndarray:
    """Per (rho, pT) bin of the map with >= min_jets jets in the sample and in the map: the
    fraction of the sample passing N2_DDT < 0 minus q, over its statistical error (binomial for
    the sample and for the map's own quantile estimate)."""
    passing = ddt.transform(sample) < 0
    rho_bin = np.digitize(jet_rho(sample.msd, sample.pt), ddt.rho_edges) - 1
    pt_bin = np.digitize(sample.pt, ddt.pt_edges) - 1
    pulls = []
    for i in range(len(ddt.rho_edges) - 1):
        for j in range(len(ddt.pt_edges) - 1):
            in_bin = (rho_bin == i) & (pt_bin == j)
            n, n_map = int(in_bin.sum()), int(ddt.counts[i, j])
            if min(n, n_map) >= min_jets:
                error = np.sqrt(quantile * (1 - quantile) * (1 / n + 1 / n_map))
                pulls.append((passing[in_bin].mean() - quantile) / error)
    return np.asarray(pulls)


@pytest.mark.parametrize("quantile", [0.1, 0.26, 0.5])
def test_ddt_map_keeps_the_quantile_in_every_rho_pt_bin(qcd_pair, quantile):
    """The map (unsmoothed: the measured quantile of each bin, interpolated between bin centres)
    at quantile q keeps a fraction q of an independent QCD sample in every (rho, pT) bin, within
    the statistical error of the sample and of the map: every pull below 4 (about 90 bins), and
    the pulls' mean square compatible with 1."""
    train, test = qcd_pair
    ddt = build_ddt_map(train, quantile=quantile, smoothing=0.0, **MAP_SETTINGS)
    pulls = _bin_pulls(ddt, test, quantile)
    assert len(pulls) > 60
    assert np.abs(pulls).max() < 4, pulls
    assert np.mean(pulls**2) < 1 + 4 * np.sqrt(2 / len(pulls))
    # Without the DDT (one global cut at the q quantile) the bins are far from q.
    plain = DDTMap(
        quantile,
        ddt.rho_edges,
        ddt.pt_edges,
        np.full(ddt.values.shape, np.quantile(train.n2, quantile)),
        ddt.raw,
        ddt.counts,
        0.0,
    )
    assert np.abs(_bin_pulls(plain, test, quantile)).max() > 20


def make_signal(rng: np.random.Generator, n: int) -> JetSample:
    """Z'-like jets: flat in mass (40-200 GeV), lower N2 than QCD, with non-trivial weights."""
    msd = rng.uniform(40.0, 200.0, n)
    pt = 400.0 + rng.exponential(200.0, n)
    n2 = 0.2 + 0.03 * (2.0 * np.log(msd / pt) + 4.0) + 0.03 * np.log(pt / 500.0) + rng.gamma(2.5, 0.02, n)
    parts = np.zeros((n, 1, 4), np.float32)
    parts[:, 0, 0] = pt
    jets = {"pt": pt, "msd": msd, "mass": msd, "n2": n2, "weight": rng.uniform(0.5, 1.5, n)}
    return JetSample.from_arrays(parts, np.ones((n, 1), bool), ABSOLUTE_FEATURES, jets)


def test_ddt_map_at_signal_efficiency_puts_the_working_point_at_zero(qcd_pair):
    """The map found for a signal efficiency x keeps x of the (weighted) signal at N2_DDT < 0,
    and its quantile q is the QCD efficiency of that cut on an independent QCD sample (jets inside
    the map's rho and pT range), in every (rho, pT) bin."""
    train, test = qcd_pair
    signal = make_signal(np.random.default_rng(3), 40_000)
    rho = jet_rho(test.msd, test.pt)
    inside = (rho > MAP_SETTINGS["rho_range"][0]) & (rho < MAP_SETTINGS["rho_range"][1])
    inside &= test.pt < MAP_SETTINGS["pt_range"][1]
    for efficiency in (0.5, 0.3):
        ddt = ddt_map_at_signal_efficiency(train, signal, efficiency, smoothing=0.0, **MAP_SETTINGS)
        passing = ddt.transform(signal) < 0
        assert np.sum(signal.weight[passing]) / np.sum(signal.weight) == pytest.approx(efficiency, abs=2e-3)
        qcd_efficiency = np.mean(ddt.transform(test[inside]) < 0)
        error = np.sqrt(ddt.quantile * (1 - ddt.quantile) * 2 / inside.sum())
        assert qcd_efficiency == pytest.approx(ddt.quantile, abs=4 * error)
        assert np.abs(_bin_pulls(ddt, test, ddt.quantile)).max() < 4
        assert 0.0 < ddt.quantile < efficiency  # the signal has lower N2 than QCD
    with pytest.raises(DataError, match="signal_efficiency"):
        ddt_map_at_signal_efficiency(train, signal, 1.2)
    with pytest.raises(DataError, match="quantile"):
        ddt_map_at_signal_efficiency(train, signal, 0.5, quantile=0.3)


def test_ddt_map_weights_act_as_repetitions(qcd_pair):
    """Integer weights give the same percentile map as repeating the jets."""
    sample = qcd_pair[0][:30_000]
    repeats = np.where(sample.n2 > np.median(sample.n2), 3, 1)
    settings = {**MAP_SETTINGS, "min_jets_per_bin": 1}  # the counts differ, the percentiles do not
    weighted_map = build_ddt_map(sample.replace(weight=repeats.astype(np.float32)), **settings)
    repeated_map = build_ddt_map(sample[np.repeat(np.arange(len(sample)), repeats)], **settings)
    plain_map = build_ddt_map(sample, **settings)
    np.testing.assert_array_equal(weighted_map.raw, repeated_map.raw)
    np.testing.assert_allclose(weighted_map.values, repeated_map.values, atol=1e-12)
    assert np.nanmean(weighted_map.raw - plain_map.raw) > 0  # up-weighting high N2 raises the map


def test_ddt_map_save_load_round_trip(tmp_path, qcd_pair, ddt_map):
    path = ddt_map.save(tmp_path / "maps" / "n2_ddt.json")
    assert [p.name for p in path.parent.iterdir()] == ["n2_ddt.json"]  # no temporary file left
    loaded = DDTMap.load(path)
    for name in ("rho_edges", "pt_edges", "values", "counts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(ddt_map, name))
    np.testing.assert_array_equal(np.isnan(loaded.raw), np.isnan(ddt_map.raw))
    assert loaded.quantile == 0.26
    sample = qcd_pair[1][:1000]
    np.testing.assert_array_equal(loaded.transform(sample), ddt_map.transform(sample))
    applied = loaded.apply(sample)
    np.testing.assert_array_equal(applied.extra["n2_ddt"], ddt_map.transform(sample))
    np.testing.assert_allclose(
        applied.extra["n2_ddt"], sample.n2 - ddt_map(jet_rho(sample.msd, sample.pt), sample.pt), rtol=1e-6
    )


def test_ddt_bad_input(tmp_path, qcd_pair):
    sample = qcd_pair[0][:2000]
    n2 = sample.n2.copy()
    n2[3] = np.nan
    with pytest.raises(DataError, match="'n2'"):
        build_ddt_map(sample.replace(n2=n2))
    with pytest.raises(DataError, match="quantile"):
        build_ddt_map(sample, quantile=1.5)
    with pytest.raises(DataError, match="no \\(rho, pT\\) bin holds"):
        build_ddt_map(sample, min_jets_per_bin=5000)
    with pytest.raises(DataError, match="no such"):
        DDTMap.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a JSON"):
        DDTMap.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="'format'"):
        DDTMap.load(tmp_path / "other.json")


def test_cli_ddt_writes_the_map(tmp_path, qcd_pair):
    from codec_jax.cli import main
    from codec_jax.data.io import write_root

    write_root(qcd_pair[0][:20_000], tmp_path / "qcd.root")
    args = ["ddt", "--background", str(tmp_path / "qcd.root"), "--quantile", "0.3", "--rho-bins", "10"]
    status = main([*args, "--out", str(tmp_path / "ddt.json"), "--plot", str(tmp_path / "ddt.png")])
    assert status == 0
    loaded = DDTMap.load(tmp_path / "ddt.json")
    assert loaded.quantile == 0.3 and loaded.values.shape == (10, 6)
    assert (tmp_path / "ddt.png").read_bytes()[:4] == b"\x89PNG"
