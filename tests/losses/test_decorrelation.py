"""DisCo and MoDe against NumPy references written here, closed forms, gradients, and a toy
training in which MoDe[0] flattens the false-positive rate versus mass."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpy.polynomial import legendre

from codec_jax.errors import ConfigError
from codec_jax.losses import bce, disco, mode

# ----------------------------------------------------------------------------------- DisCo

disco_jit = jax.jit(disco)  # one compilation per shape instead of one per eager primitive


def disco_reference(x, y, weights=None):
    """Kasieczka-Shih distance correlation written out with explicit means (weights -> mean 1)."""
    n = len(x)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    w = w * n / w.sum()

    def centred(v):
        a = np.abs(v[:, None] - v[None, :])
        row = np.mean(a * w[None, :], axis=1)
        return a - row[None, :] - row[:, None] + np.mean(row * w)

    a, b = centred(np.asarray(x, float)), centred(np.asarray(y, float))

    def moment(p, q):
        return np.mean(np.mean(p * q * w[None, :], axis=1) * w)

    return moment(a, b) / np.sqrt(moment(a, a) * moment(b, b))


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(11)
    mass = rng.uniform(50, 250, size=64)
    score = 1 / (1 + np.exp(-(mass - 150) / 40 + rng.normal(size=64)))
    weights = rng.uniform(0.2, 3.0, size=64)
    return mass, score, weights


def test_disco_matches_reference(correlated):
    mass, score, weights = correlated
    value, aux = disco_jit(jnp.float32(mass), jnp.float32(score))
    np.testing.assert_allclose(float(value), disco_reference(mass, score), rtol=1e-4)
    value, aux = disco_jit(jnp.float32(mass), jnp.float32(score), jnp.float32(weights))
    np.testing.assert_allclose(float(value), disco_reference(mass, score, weights), rtol=1e-4)
    np.testing.assert_allclose(
        float(aux["dcov2"]) / np.sqrt(float(aux["dvar_x"]) * float(aux["dvar_y"])), float(value), rtol=1e-6
    )


def test_disco_gradient_matches_finite_differences(correlated):
    mass, score, weights = correlated
    with jax.enable_x64(True):
        grad_mass, grad_score = jax.jit(jax.grad(lambda m, s, w: disco(m, s, w)[0], argnums=(0, 1)))(
            *map(jnp.asarray, (mass, score, weights))
        )
    for values, grad, as_args in (
        (mass, grad_mass, lambda v: (v, score)),
        (score, grad_score, lambda v: (mass, v)),
    ):
        # |v_i - v_j| has a kink where two values meet: keep the step below the smallest gap.
        step = 0.25 * np.diff(np.sort(values)).min()
        numeric = np.zeros(len(values))
        for i in range(len(values)):
            plus, minus = values.copy(), values.copy()
            plus[i] += step
            minus[i] -= step
            difference = disco_reference(*as_args(plus), weights) - disco_reference(*as_args(minus), weights)
            numeric[i] = difference / (2 * step)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-4, atol=1e-5 * np.abs(numeric).max())


def test_disco_zero_for_independent_one_for_identical():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2, 1024))
    independent, _ = disco_jit(jnp.float32(x), jnp.float32(y))
    assert float(independent) < 0.02  # the finite-sample bias of dCorr^2 is O(1/n): ~0.004
    identical, _ = disco_jit(jnp.float32(x), jnp.float32(x))
    np.testing.assert_allclose(float(identical), 1.0, rtol=1e-5)
    affine, _ = disco_jit(jnp.float32(x), jnp.float32(-3 * x + 2))
    np.testing.assert_allclose(float(affine), 1.0, rtol=1e-5)
    # A dependence that Pearson correlation misses (y = x^2) is still seen.
    quadratic, _ = disco_jit(jnp.float32(x), jnp.float32(x**2))
    assert float(quadratic) > 0.1 and abs(np.corrcoef(x, x**2)[0, 1]) < 0.1


def test_disco_integer_weights_equal_repeated_jets(correlated):
    mass, score, _ = correlated
    counts = np.random.default_rng(2).integers(0, 4, size=len(mass))  # 0 removes a jet
    weighted, _ = disco_jit(jnp.float32(mass), jnp.float32(score), jnp.float32(counts))
    repeated, _ = disco_jit(jnp.float32(np.repeat(mass, counts)), jnp.float32(np.repeat(score, counts)))
    np.testing.assert_allclose(float(weighted), float(repeated), rtol=1e-4)


# ------------------------------------------------------------------------------------ MoDe


def _uniform_widths(t, w, index, n_bins, used, edges_t):
    """Widths in t of the populated bins (sum 2): fixed edges, or for equal-occupancy bins from
    halfway between neighbouring bins' extreme jets (the first from -1, the last to 1)."""
    if edges_t is not None:
        widths = np.where(used, np.diff(edges_t), 0.0)
    else:
        populated = [b for b in range(n_bins) if used[b]]
        low = {b: t[(index == b) & (w > 0)].min() for b in populated}
        high = {b: t[(index == b) & (w > 0)].max() for b in populated}
        widths = np.zeros(n_bins)
        for k, b in enumerate(populated):
            lower = -1.0 if k == 0 else 0.5 * (high[populated[k - 1]] + low[b])
            upper = 1.0 if k == len(populated) - 1 else 0.5 * (high[b] + low[populated[k + 1]])
            widths[b] = upper - lower
    return 2 * widths / widths.sum()


def mode_reference(scores, mass, order, weights=None, bins=8, score_range=(0.0, 1.0), fit="count"):
    """MoDe flatness written independently: explicit per-bin CDFs on thresholds between the
    sorted scores (where the integrand is constant), NumPy's Legendre Vandermonde matrix and a
    weighted least-squares fit with lstsq (``fit="count"``), or the paper's Legendre projection
    ``a_l = (2l+1)/2 sum_b dt_b F_b P_l(t_b)`` evaluated with ``legval`` (``fit="uniform"``)."""
    scores = np.clip(np.asarray(scores, float), *score_range)
    mass = np.asarray(mass, float)
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, float)
    if np.ndim(bins) == 0:  # equal occupancy: consecutive chunks of cumulative weight in mass order
        order_m = np.argsort(mass, kind="stable")
        before = np.concatenate([[0.0], np.cumsum(w[order_m])[:-1]])
        index = np.empty(len(mass), int)
        index[order_m] = np.minimum((before * bins / w.sum()).astype(int), bins - 1)
        n_bins = bins
        low, high = mass[w > 0].min(), mass[w > 0].max()
        edges_t = None
    else:
        edges = np.asarray(bins, float)
        n_bins = len(edges) - 1
        index = np.digitize(mass, edges) - 1
        index[mass == edges[-1]] = n_bins - 1
        w = np.where((mass >= edges[0]) & (mass <= edges[-1]), w, 0.0)
        index = np.clip(index, 0, n_bins - 1)
        low, high = edges[0], edges[-1]
        edges_t = 2 * (edges - low) / (high - low) - 1
    t = 2 * (mass - low) / (high - low) - 1
    bin_weight = np.array([w[index == b].sum() for b in range(n_bins)])
    used = bin_weight > 0
    prob = bin_weight / bin_weight.sum()
    position = np.array(
        [np.average(t[index == b], weights=w[index == b]) if used[b] else 0 for b in range(n_bins)]
    )
    points = np.unique(np.concatenate([[score_range[0]], scores, [score_range[1]]]))
    thresholds, widths = 0.5 * (points[1:] + points[:-1]), np.diff(points)
    cdf = np.zeros((len(thresholds), n_bins))
    for b in np.flatnonzero(used):
        in_bin = index == b
        cdf[:, b] = (w[in_bin][None, :] * (scores[in_bin][None, :] <= thresholds[:, None])).sum(
            1
        ) / bin_weight[b]
    if fit == "uniform":
        bin_widths = _uniform_widths(t, w, index, n_bins, used, edges_t)
        residual = np.empty_like(cdf)
        for k, row in enumerate(cdf):
            coefficients = [
                (2 * degree + 1)
                / 2
                * np.sum(bin_widths * row * legendre.legval(position, np.eye(order + 1)[degree]))
                for degree in range(order + 1)
            ]
            residual[k] = row - legendre.legval(position, coefficients)
        return np.sum(widths * (residual**2 @ prob)) / (score_range[1] - score_range[0])
    vander = legendre.legvander(position, order)
    sqrt_p = np.sqrt(prob)
    coefficients = np.linalg.lstsq(sqrt_p[:, None] * vander, (sqrt_p[:, None] * cdf.T), rcond=None)[0]
    residual = cdf - (vander @ coefficients).T
    return np.sum(widths * (residual**2 @ prob)) / (score_range[1] - score_range[0])


# One jitted entry point shared by the tests keeps the number of compilations small.
mode_jit = jax.jit(mode, static_argnames=("order", "mass_bins", "fit"))
EDGES = (60.0, 100.0, 130.0, 170.0, 200.0, 250.0, 280.0)  # jets outside the edges are ignored


@pytest.fixture(scope="module")
def toy_scores():
    rng = np.random.default_rng(21)
    n = 96
    mass = rng.uniform(40, 300, size=n)
    scores = 1 / (1 + np.exp(-(mass - 170) / 50 - rng.normal(size=n)))
    weights = rng.uniform(0.0, 2.0, size=n) * (rng.uniform(size=n) < 0.8)  # ~20% zero ("signal")
    return scores, mass, weights


@pytest.mark.parametrize(("order", "bins"), [(0, 8), (1, EDGES), (2, 8)])
def test_mode_matches_reference(toy_scores, order, bins):
    scores, mass, weights = toy_scores
    for jet_weights in (np.ones_like(weights), weights):
        value, aux = mode_jit(
            jnp.float32(scores), jnp.float32(mass), order, jnp.float32(jet_weights), mass_bins=bins
        )
        expected = mode_reference(scores, mass, order, jet_weights, bins)
        assert expected > 1e-4  # the toy scores are strongly mass dependent
        np.testing.assert_allclose(float(value), expected, rtol=2e-4)
        assert float(aux["flatness"]) == float(value)
    if order == 0:  # weights=None means unit weights.
        value, _ = jax.jit(lambda s, m: mode(s, m, 0, mass_bins=8))(jnp.float32(scores), jnp.float32(mass))
        np.testing.assert_allclose(float(value), mode_reference(scores, mass, 0, None, 8), rtol=2e-4)


def test_mode_closed_form():
    """Four mass bins, a fraction alpha_b = 0.2, 0.4, 0.6, 0.8 of jets at score 0.25, the rest at
    0.75: F_b(s) = alpha_b on (0.25, 0.75), linear in mass. MoDe[0] = 0.5 * var(alpha) = 0.025;
    MoDe[1] and MoDe[2] = 0 exactly, with equal-occupancy bins or with fixed edges."""
    mass = jnp.float32(np.repeat([0.5, 1.5, 2.5, 3.5], 10))
    ones = jnp.ones(40)
    scores = np.concatenate([np.where(np.arange(10) < k, 0.25, 0.75) for k in (2, 4, 6, 8)])
    edges = (0.0, 1.0, 2.0, 3.0, 4.0)
    values = [
        float(mode_jit(jnp.float32(scores), mass, order, ones, mass_bins=bins)[0])
        for order, bins in ((0, 4), (1, 4), (2, edges))
    ]
    np.testing.assert_allclose(values, [0.025, 0.0, 0.0], atol=1e-7)
    # A score distribution independent of mass (identical in every bin) is exactly flat.
    flat_scores = np.tile(np.linspace(0.05, 0.95, 10), 4)
    assert float(mode_jit(jnp.float32(flat_scores), mass, 0, ones, mass_bins=4)[0]) < 1e-12


def _falling_spectrum(seed, n=300):
    """Background-like jets: a falling mass spectrum in 40-200 GeV and mass-dependent scores."""
    rng = np.random.default_rng(seed)
    mass = 40 + rng.exponential(50.0, 3 * n)
    mass = mass[mass < 200][:n]
    scores = 1 / (1 + np.exp(-(mass - 100) / 40 - rng.normal(size=len(mass))))
    return scores, mass


@pytest.mark.parametrize(("order", "bins"), [(0, 8), (1, 8), (0, EDGES), (1, EDGES), (2, 8)])
def test_mode_uniform_fit_matches_an_independent_legendre_projection(order, bins):
    """On a falling spectrum, fit="uniform" equals the paper's projection written here with
    numpy's legval, and differs from the count-weighted fit."""
    scores, mass = _falling_spectrum(3)
    if not np.ndim(bins) == 0:
        mass = 60 + (mass - 40) * 1.4  # spread over the edges of EDGES (60-280)
    weights = np.random.default_rng(4).uniform(0.5, 1.5, len(mass))
    value, _ = mode_jit(
        jnp.float32(scores), jnp.float32(mass), order, jnp.float32(weights), mass_bins=bins, fit="uniform"
    )
    expected = mode_reference(scores, mass, order, weights, bins, fit="uniform")
    np.testing.assert_allclose(float(value), expected, rtol=2e-4)
    count = mode_reference(scores, mass, order, weights, bins)
    assert abs(expected / count - 1) > 0.1  # a falling spectrum: the two fits differ


def test_mode_fits_agree_on_a_uniform_spectrum():
    """Equal jets in equal-width bins: p_b = dt_b / 2, so MoDe[0] is the same for both fits; with
    equal-occupancy bins on uniformly distributed masses the widths are equal up to fluctuations.
    For MoDe[1] the projection's slope is (1 - 1/K^2) times the least-squares one, so with K = 32
    the penalties agree to about a percent, with K = 4 they do not."""
    rng = np.random.default_rng(7)
    mass = np.repeat(np.linspace(0, 32, 33)[:-1] + 0.5, 40)  # 32 bins of width 1, 40 jets each
    scores = 1 / (1 + np.exp(-(mass - 16) / 8 - rng.normal(size=len(mass))))
    uniform_mass = rng.uniform(0, 32, len(mass))
    uniform_scores = 1 / (1 + np.exp(-(uniform_mass - 16) / 8 - rng.normal(size=len(mass))))
    edges = tuple(np.linspace(0.0, 32.0, 33))
    for order, bins, tolerance, (s, m) in (
        (0, edges, 1e-5, (scores, mass)),
        (1, edges, 0.02, (scores, mass)),
        (0, 16, 0.02, (uniform_scores, uniform_mass)),
    ):
        args = (jnp.float32(s), jnp.float32(m), order, jnp.ones(len(m)))
        count, _ = mode_jit(*args, mass_bins=bins)
        uniform, _ = mode_jit(*args, mass_bins=bins, fit="uniform")
        np.testing.assert_allclose(float(uniform), float(count), rtol=tolerance)
    coarse = tuple(np.linspace(0.0, 32.0, 5))
    count = mode_reference(scores, mass, 1, None, coarse)
    assert abs(mode_reference(scores, mass, 1, None, coarse, fit="uniform") / count - 1) > 0.05


@pytest.mark.parametrize(("order", "bins"), [(0, 8), (1, EDGES)])
def test_mode_uniform_gradient_matches_finite_differences(toy_scores, order, bins):
    """The hand-written gradient with the uniform fit (which is not the least-squares projection
    in the loss's weights, so the fit's term stays in the derivative) against central
    differences of the NumPy reference, float64."""
    scores, mass, weights = toy_scores
    gaps = np.diff(np.sort(scores))
    step = 0.25 * gaps[gaps > 0].min()
    numeric = np.array(
        [
            (
                mode_reference(
                    np.where(np.arange(len(scores)) == i, scores + step, scores),
                    mass,
                    order,
                    weights,
                    bins,
                    fit="uniform",
                )
                - mode_reference(
                    np.where(np.arange(len(scores)) == i, scores - step, scores),
                    mass,
                    order,
                    weights,
                    bins,
                    fit="uniform",
                )
            )
            / (2 * step)
            for i in range(len(scores))
        ]
    )
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(lambda s, m, w: mode(s, m, order, w, mass_bins=bins, fit="uniform")[0]))(
            jnp.asarray(scores), jnp.asarray(mass), jnp.asarray(weights)
        )
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-9)


def _finite_difference_gradient(scores, mass, order, weights, bins):
    """Central differences of the NumPy reference in every score, with a step a quarter of the
    smallest gap between scores (so no score crosses another)."""
    gaps = np.diff(np.sort(scores))
    step = 0.25 * gaps[gaps > 0].min()
    numeric = np.zeros(len(scores))
    for i in range(len(scores)):
        plus, minus = scores.copy(), scores.copy()
        plus[i] += step
        minus[i] -= step
        difference = mode_reference(plus, mass, order, weights, bins) - mode_reference(
            minus, mass, order, weights, bins
        )
        numeric[i] = difference / (2 * step)
    return numeric


@pytest.mark.parametrize(("order", "bins"), [(0, 8), (1, EDGES)])
def test_mode_gradient_matches_finite_differences(toy_scores, order, bins):
    """What is compared: L(scores), the exact integral over thresholds of the squared deviation of
    the per-bin CDFs from their fit, is continuous and piecewise linear in each score (moving a
    score only moves where its CDF step sits). Central differences of the NumPy reference with a
    step smaller than half the smallest gap between scores therefore give its exact derivative,
    which the hand-written backward pass of the custom_vjp must reproduce (float64, to 1e-6).
    Scores outside score_range and jets of weight 0 have zero derivative."""
    scores, mass, weights = toy_scores
    scores = scores.copy()
    scores[:2] = [-0.2, 1.3]  # clipped to the range: no gradient
    numeric = _finite_difference_gradient(scores, mass, order, weights, bins)
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(lambda s, m, w: mode(s, m, order, w, mass_bins=bins)[0]))(
            jnp.asarray(scores), jnp.asarray(mass), jnp.asarray(weights)
        )
    assert np.all(numeric[:2] == 0) and np.all(np.abs(numeric[weights == 0]) < 1e-10)
    assert np.all(np.asarray(grad)[:2] == 0) and np.all(np.asarray(grad)[weights == 0] == 0)
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-9)


def test_mode_float32_gradient_and_no_gradient_to_mass(toy_scores):
    scores, mass, weights = toy_scores
    numeric = _finite_difference_gradient(scores, mass, 2, weights, 8)
    grad_scores, grad_mass = jax.jit(
        jax.grad(lambda s, m, w: mode(s, m, 2, w, mass_bins=8)[0], argnums=(0, 1))
    )(jnp.float32(scores), jnp.float32(mass), jnp.float32(weights))
    np.testing.assert_allclose(np.asarray(grad_scores), numeric, rtol=1e-3, atol=1e-4 * np.abs(numeric).max())
    assert np.all(np.asarray(grad_mass) == 0)


def test_mode_checks_arguments(toy_scores):
    scores, mass, _ = toy_scores
    with pytest.raises(ConfigError, match="order"):
        mode(jnp.float32(scores), jnp.float32(mass), order=-1)
    with pytest.raises(ConfigError, match="at least 4"):
        mode(jnp.float32(scores), jnp.float32(mass), order=2, mass_bins=3)
    with pytest.raises(ConfigError, match="increasing edges"):
        mode(jnp.float32(scores), jnp.float32(mass), mass_bins=(100.0, 50.0, 200.0))
    with pytest.raises(ConfigError, match="score_range"):
        mode(jnp.float32(scores), jnp.float32(mass), score_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="mass must have shape"):
        mode(jnp.float32(scores), jnp.float32(mass[:-1]))
    with pytest.raises(ConfigError, match="fit must be one of"):
        mode(jnp.float32(scores), jnp.float32(mass), fit="gaussian")


# ------------------------------------------------------------------------------- training toy


def _toy_sample(seed, n):
    """Background: mass ~ U(0, 1), feature x1 = mass + noise (a mass proxy), x2 ~ N(0, 1).
    Signal: the same mass, x1 shifted by +0.8 and x2 by +1.5. The best unconstrained classifier
    leans on x1, which sculpts the background false-positive rate versus mass."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(size=n)
    label = (rng.uniform(size=n) < 0.5).astype(np.float32)
    noise = rng.normal(size=(n, 2))
    features = np.stack([mass + 0.8 * label + 0.15 * noise[:, 0], noise[:, 1] + 1.5 * label], axis=-1)
    return jnp.float32(features), jnp.float32(label), jnp.float32(mass)


@jax.jit
def _train_linear(penalty_weight, features, label, mass):
    """300 full-batch Adam steps on a logistic regression minimising
    BCE + penalty_weight * MoDe[0] of the background scores (one compilation for all weights)."""
    tx = optax.adam(0.05)

    def loss_fn(params):
        logits = features @ params["w"] + params["b"]
        classification, _ = bce(logits, label)
        flatness, _ = mode(jax.nn.sigmoid(logits), mass, 0, weights=1.0 - label, mass_bins=10)
        return classification + penalty_weight * flatness

    def step(carry, _):
        params, opt_state = carry
        updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=300)
    return params


def _fpr_spread(params, features, label, mass):
    """Relative spread (std / mean) over 5 mass bins of the background false-positive rate at the
    threshold that keeps 30% of background overall."""
    scores = np.asarray(features) @ np.asarray(params["w"]) + float(params["b"])
    background = np.asarray(label) == 0
    threshold = np.quantile(scores[background], 0.7)
    bins = np.minimum((np.asarray(mass)[background] * 5).astype(int), 4)
    rates = np.array([np.mean(scores[background][bins == b] > threshold) for b in range(5)])
    return rates.std() / rates.mean()


def test_mode_training_flattens_false_positive_rate():
    features, label, mass = _toy_sample(0, 2000)
    test_features, test_label, test_mass = _toy_sample(1, 20000)
    unconstrained = _train_linear(0.0, features, label, mass)
    decorrelated = _train_linear(100.0, features, label, mass)
    spread_unconstrained = _fpr_spread(unconstrained, test_features, test_label, test_mass)
    spread_decorrelated = _fpr_spread(decorrelated, test_features, test_label, test_mass)
    assert spread_unconstrained > 0.5  # the mass proxy sculpts the rate
    assert spread_decorrelated < 0.2 * spread_unconstrained
    # The decorrelated classifier moved its weight from the mass proxy x1 to x2.
    assert abs(float(decorrelated["w"][0])) < 0.3 * abs(float(unconstrained["w"][0]))


def test_degenerate_batches_give_finite_penalties(toy_scores, correlated):
    """A batch without background jets, or with a single mass value, must not produce NaN (the
    training loop stops on NaN): the penalties are then 0 (or a constant fit) with finite
    gradients."""
    scores, mass, _ = toy_scores
    no_background = jnp.zeros(len(scores))
    value, _ = mode_jit(jnp.float32(scores), jnp.float32(mass), 0, no_background, mass_bins=8)
    grad = jax.grad(lambda s: mode_jit(s, jnp.float32(mass), 0, no_background, mass_bins=8)[0])(
        jnp.float32(scores)
    )
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)
    single_mass = jnp.full(len(scores), 80.0)
    flat_fit, _ = mode_jit(jnp.float32(scores), single_mass, 0, jnp.ones(len(scores)), mass_bins=8)
    assert np.isfinite(float(flat_fit)) and float(flat_fit) > 0  # bins differ by their scores only
    # P1 and P2 are degenerate when every bin sits at one position: the fit falls back to a constant.
    quadratic_fit, _ = mode_jit(jnp.float32(scores), single_mass, 2, jnp.ones(len(scores)), mass_bins=8)
    np.testing.assert_allclose(float(quadratic_fit), float(flat_fit), rtol=1e-5)
    mass_c, score_c, _ = correlated
    value, _ = disco_jit(jnp.float32(mass_c), jnp.float32(score_c), jnp.zeros(len(mass_c)))
    assert float(value) == 0.0
