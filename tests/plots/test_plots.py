"""Plots: the HEP style context, atomic PNG writing, and each flattening / DDT plot."""

from __future__ import annotations

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from codec_jax import plots
from codec_jax.baselines.ddt import DDTMap
from codec_jax.baselines.plots import plot_ddt_map
from codec_jax.data.bias import HistogramDensity
from codec_jax.data.massfit import MassShapeFit
from codec_jax.data.plots import plot_mass_fit, plot_spectra, plot_weights

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width=300):
    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= min_width and height >= 200
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp files
    assert plt.get_fignums() == []  # the figure was closed


def test_hep_style_is_scoped():
    before = plt.rcParams["xtick.direction"], plt.rcParams["legend.frameon"]
    with plots.hep_style():
        assert plt.rcParams["xtick.direction"] == "in" and plt.rcParams["xtick.top"]
        assert plt.rcParams["legend.frameon"] is False
    assert (plt.rcParams["xtick.direction"], plt.rcParams["legend.frameon"]) == before
    assert plots.AXIS_LABELS["msd"] == r"$m_{SD}$ [GeV]"


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1])
    path = plots.save_figure(figure, tmp_path / "sub" / "line.png")
    assert_png(path, min_width=200)

    figure, _ = plt.subplots()

    def broken_savefig(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(figure, tmp_path / "broken.png")
    assert not (tmp_path / "broken.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    assert plt.get_fignums() == []


def test_flattening_plots(tmp_path):
    rng = np.random.default_rng(0)
    signal = rng.normal(170, 50, 3000)
    background = 40 + rng.exponential(40, 3000)
    before = {"signal": (signal, None), "background": (background, None)}
    after = {
        "signal": (signal, rng.uniform(0.5, 2, 3000)),
        "background": (background, rng.uniform(0.5, 2, 3000)),
    }
    assert_png(plot_spectra(before, after, tmp_path / "spectra.png", bins=np.linspace(40, 300, 27)))
    weights = {"signal": rng.lognormal(0, 0.5, 3000), "background": rng.lognormal(0, 1, 3000)}
    assert_png(plot_weights(weights, tmp_path / "weights.png"))  # wide spread: log x
    narrow = {"signal": rng.uniform(0.8, 1.2, 500), "background": rng.uniform(0.9, 1.5, 500)}
    assert_png(plot_weights(narrow, tmp_path / "weights_narrow.png"))  # linear x
    fit = MassShapeFit(
        model="crystalball",
        names=("mu", "sigma", "alpha", "n"),
        values=np.array([170.0, 50.0, 1.5, 4.0]),
        covariance=np.eye(4) * 0.01,
        fit_range=(40.0, 300.0),
        chi2=35.0,
        ndf=35,
        n_jets=3000,
        sum_weights=3000.0,
    )
    assert_png(plot_mass_fit(fit, signal, tmp_path / "fit.png", value_range=(40, 300)))
    histogram = HistogramDensity.from_values(background, np.linspace(40, 200, 17))
    assert_png(plot_mass_fit(histogram, background, tmp_path / "hist.png", value_range=(40, 200)))


def test_ddt_map_plot(tmp_path):
    values = np.add.outer(np.linspace(0.15, 0.35, 8), np.linspace(0, 0.03, 3))
    ddt_map = DDTMap(
        quantile=0.26,
        rho_edges=np.linspace(-7, -1, 9),
        pt_edges=np.array([400.0, 600.0, 800.0, 1200.0]),
        values=values,
        raw=values,
        counts=np.full((8, 3), 100),
        smoothing=1.0,
    )
    assert_png(plot_ddt_map(ddt_map, tmp_path / "ddt.png"))


# --------------------------------------------------------------------------- experiment styles
def _spectra(path):
    rng = np.random.default_rng(0)
    masses = {
        "signal": (rng.uniform(40, 200, 500), np.ones(500)),
        "background": (rng.uniform(40, 200, 500), np.ones(500)),
    }
    return plot_spectra(masses, masses, path, variable="msd", bins=16, value_range=(40.0, 200.0))


def test_an_experiment_style_writes_pdf_beside_png(tmp_path):
    pytest.importorskip("mplhep")
    with plots.use_plot_settings(plots.PlotSettings(style="CMS", formats=("png", "pdf"))):
        default_size = plt.rcParams["font.size"]
        with plots.hep_style():
            assert plt.rcParams["font.size"] != default_size  # mplhep's CMS style is active
        path = _spectra(tmp_path / "cms.png")
    assert_png(path)
    assert (tmp_path / "cms.pdf").read_bytes()[:5] == b"%PDF-"
    plain = _spectra(tmp_path / "plain.png")  # outside: the default style, PNG only
    assert not (tmp_path / "plain.pdf").exists()
    assert plain.read_bytes() != path.read_bytes()


def test_the_experiment_label_is_drawn(tmp_path, monkeypatch):
    pytest.importorskip("mplhep")
    figure, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    texts = []
    original = plt.close

    def keep_texts(fig=None):
        if fig is figure:
            texts.extend(text.get_text() for text in ax.texts)
        original(fig)

    monkeypatch.setattr(plt, "close", keep_texts)  # read the texts as the figure is closed
    with plots.use_plot_settings(plots.PlotSettings(style="ATLAS", label="Simulation Internal")):
        plots.save_figure(figure, tmp_path / "atlas.png")
    assert "ATLAS" in texts and any("Simulation Internal" in text for text in texts)


def test_plot_settings_are_checked_and_set_from_a_study_config():
    from codec_jax.errors import ConfigError
    from codec_jax.studies.common.config import apply_study_overrides, load_study_config

    with pytest.raises(ConfigError, match="plots.style='CDF'"):
        plots.PlotSettings(style="CDF")
    with pytest.raises(ConfigError, match="must include 'png'"):
        plots.PlotSettings(formats=("pdf",))
    config = apply_study_overrides(
        load_study_config("configs/mack.py", "smoke"), ["plots.style=CMS", "plots.formats=png,pdf"]
    )
    assert config.plots == plots.PlotSettings(style="CMS", formats=("png", "pdf"))
    with pytest.raises(ConfigError, match="plots.style"):
        apply_study_overrides(config, ["plots.style=nope"])
