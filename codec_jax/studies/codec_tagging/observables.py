"""The observable taggers of the CoDec tagging study: N2 and N2_DDT (scores ``-N2``, ``-N2_DDT``).

* ``n2`` -- ``-N2``;
* ``n2_ddt`` -- ``-N2_DDT`` with CMS's map at a fixed QCD quantile (``ddt.quantile``, 26%): it
  decorrelates only at the cut where 26% of QCD passes, while a working point at eps_Z' = 50%
  keeps about 10% of QCD, so it sculpts there;
* ``n2_ddt_wp`` -- one map per working point x, at the QCD quantile q_x whose cut
  ``N2_DDT < 0`` keeps a fraction x of the flat Z' *training and validation* rows
  (:func:`codec_jax.baselines.ddt.ddt_map_at_signal_efficiency`): evaluated at eps_Z' = x, the
  cut then sits at the map's zero, where the DDT keeps q_x of QCD in every (rho, pT) bin.

Every map is measured on the QCD training rows (never on test or sculpting jets), saved as
``n2_ddt_map.json`` / ``n2_ddt_wp<percent>_map.json`` (with a plot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from codec_jax.baselines.ddt import build_ddt_map, ddt_map_at_signal_efficiency
from codec_jax.baselines.plots import plot_ddt_map
from codec_jax.errors import ConfigError
from codec_jax.jets import concatenate
from codec_jax.studies.codec_tagging.analysis import TaggerScores
from codec_jax.studies.codec_tagging.evaluation import point_name

__all__ = ["observable_scores"]


def _save(ddt_map, out: Path, stem: str) -> None:
    ddt_map.save(out / f"{stem}.json")
    plot_ddt_map(ddt_map, out / f"{stem}.png")


def observable_scores(config, sets, test_sample, out: Path) -> tuple[dict[str, TaggerScores], dict[str, Any]]:
    """The :class:`TaggerScores` of n2, n2_ddt and n2_ddt_wp (those in ``config.models``) on the
    test and sculpting jets, and per working point the QCD quantile of n2_ddt_wp's map."""
    qcd_train = sets.raw["qcd"]["train"]
    sculpting = sets.sculpting
    found = {"n2": TaggerScores(-test_sample.n2.astype(np.float64), -sculpting.n2.astype(np.float64))}
    quantiles: dict[str, Any] = {}
    try:
        if "n2_ddt" in config.models:
            ddt_map = build_ddt_map(qcd_train, **config.ddt)
            _save(ddt_map, out, "n2_ddt_map")
            found["n2_ddt"] = TaggerScores(
                *(-ddt_map.transform(s).astype(np.float64) for s in (test_sample, sculpting))
            )
        if "n2_ddt_wp" in config.models:
            settings = {key: value for key, value in config.ddt.items() if key != "quantile"}
            signal = concatenate(
                [
                    part[part.label == 1]
                    for part in (sets.sets["flat_1d"]["train"], sets.sets["flat_1d"]["validation"])
                ]
            )
            points = {}
            for point in config.working_points:
                ddt_map = ddt_map_at_signal_efficiency(qcd_train, signal, point, **settings)
                _save(ddt_map, out, f"n2_ddt_wp{point_name('', point)}_map")
                quantiles[point_name("n2_ddt_wp", point)] = {
                    "working_point": point,
                    "qcd_quantile": ddt_map.quantile,
                }
                points[point] = tuple(
                    -ddt_map.transform(s).astype(np.float64) for s in (test_sample, sculpting)
                )
            found["n2_ddt_wp"] = TaggerScores(*points[config.working_points[0]], points=points)
    except TypeError as error:
        raise ConfigError(f"ddt: {error}") from None
    return found, quantiles
