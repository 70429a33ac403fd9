"""seed_mean_bootstrap: per-seed values and bootstrapped seed means of several models, against
hand computations with the uncertainty functions."""

import numpy as np
import pytest

from codec_jax import metrics
from codec_jax.errors import DataError


@pytest.fixture(scope="module")
def study():
    """Two 'models' with two and three 'seeds': the mean of a test set's values plus a seed
    offset; a fixed model without seeds; 100 jets, labels 0/1."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 100)
    values = rng.normal(size=100)
    offsets = {"a": [0.0, 0.1], "b": [0.5, 0.3, 0.4], "fixed": [0.0]}

    def statistic(indices):
        mean = values[indices["test"]].mean()
        spread = values[indices["test"]].std()
        return {model: [[mean + o, spread] for o in seeds] for model, seeds in offsets.items()}

    resamples = metrics.bootstrap_resamples({"test": labels}, 50, seed=1)
    table = metrics.seed_mean_bootstrap(statistic, resamples, ("mean", "spread"), without_seeds=["fixed"])
    return values, offsets, resamples, table


def test_measurements_equal_hand_computations(study):
    values, offsets, resamples, table = study
    assert table.models == ("a", "b", "fixed") and table.quantities == ("mean", "spread")
    boot = np.array([values[idx["test"]].mean() for idx in resamples])
    for model in ("a", "b"):
        seeds = values.mean() + np.asarray(offsets[model])
        expected = metrics.measurement(seeds, boot + np.mean(offsets[model]))
        got = table.measurement(model, "mean")
        assert got.value == pytest.approx(expected.value) and got.error == pytest.approx(expected.error)
        assert got.seed_error == pytest.approx(np.std(seeds, ddof=1) / np.sqrt(len(seeds)))
    fixed = table.measurement("fixed", "mean")
    assert fixed.seed_error == 0 and fixed.n_seeds == 0
    assert fixed.error == pytest.approx(np.std(boot, ddof=1))
    # The paired difference: the bootstrap part cancels (both models saw the same jets).
    difference = table.difference("b", "a", "mean")
    assert difference.value == pytest.approx(0.4 - 0.05)
    assert difference.bootstrap_error == pytest.approx(0.0, abs=1e-12)
    assert difference.error == pytest.approx(
        np.sqrt(np.var([0.5, 0.3, 0.4], ddof=1) / 3 + np.var([0, 0.1], ddof=1) / 2)
    )
    assert table.means("mean")["b"] == pytest.approx(values.mean() + 0.4)


def test_inconsistent_statistics_are_refused(study):
    _, _, resamples, _ = study
    calls = []

    def changing(indices):
        calls.append(1)
        return {"a": [[1.0]] * (1 if len(calls) == 1 else 2)}

    with pytest.raises(DataError, match="seeds on resample"):
        metrics.seed_mean_bootstrap(changing, resamples, ("x",))
    with pytest.raises(DataError, match="expected"):
        metrics.seed_mean_bootstrap(lambda idx: {"a": [1.0, 2.0]}, resamples, ("x",))
    with pytest.raises(DataError, match="without_seeds"):
        metrics.seed_mean_bootstrap(lambda idx: {"a": [[1.0]]}, resamples, ("x",), without_seeds=["b"])
    _, _, _, table = study
    with pytest.raises(DataError, match="unknown quantity"):
        table.measurement("a", "auc")
