"""VICReg, Barlow Twins and NT-Xent against NumPy references written here, plus gradients and
batch-order invariance."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from codec_jax.losses import barlow_twins, ntxent, vicreg

N, D = 24, 5
# Column scales keep every per-dimension std clearly away from 1, the kink of the VICReg hinge,
# so that central differences do not straddle it.
SCALES = np.array([0.3, 0.5, 1.7, 2.0, 3.0])


# ------------------------------------------------------------------ NumPy references (float64)


def vicreg_reference(z_a, z_b, lam=25.0, mu=25.0, nu=1.0, reduction="sum"):
    n, d = z_a.shape
    invariance = np.sum((z_a - z_b) ** 2) / n if reduction == "sum" else np.mean((z_a - z_b) ** 2)
    off_diagonal = ~np.eye(d, dtype=bool)

    def variance(z):
        return np.sum(np.maximum(0.0, 1.0 - np.sqrt(np.var(z, axis=0, ddof=1) + 1e-4))) / d

    def covariance(z):
        cov = np.cov(z, rowvar=False)  # centred, normalised by n - 1
        return np.sum(cov[off_diagonal] ** 2) / d

    v = variance(z_a) + variance(z_b)
    c = covariance(z_a) + covariance(z_b)
    return lam * invariance + mu * v + nu * c, (invariance, v, c)


def barlow_reference(z_a, z_b, lam=5e-3):
    n, d = z_a.shape
    std_a = np.sqrt(z_a.var(axis=0) + 1e-5)
    std_b = np.sqrt(z_b.var(axis=0) + 1e-5)
    cross = np.einsum("ki,kj->ij", z_a - z_a.mean(0), z_b - z_b.mean(0)) / n / np.outer(std_a, std_b)
    on = np.sum((1.0 - np.diag(cross)) ** 2)
    off = np.sum(cross[~np.eye(d, dtype=bool)] ** 2)
    return on + lam * off, (on, off)


def ntxent_reference(z_a, z_b, temperature=0.1):
    views = np.concatenate([z_a, z_b])
    views = views / np.linalg.norm(views, axis=1, keepdims=True)
    n2 = len(views)
    similarity = np.exp(views @ views.T / temperature)
    partner = (np.arange(n2) + n2 // 2) % n2
    positive = similarity[np.arange(n2), partner]
    all_but_self = similarity.sum(axis=1) - np.diag(similarity)
    return np.mean(-np.log(positive / all_but_self))


# ------------------------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(7)
    z_a = rng.normal(size=(N, D)) * SCALES
    z_b = z_a + 0.4 * rng.normal(size=(N, D)) * SCALES  # correlated positives
    return z_a, z_b


# Jitted once per module: a jitted call compiles one program, where eager calls compile every
# primitive separately. Hyperparameters passed as keywords are traced, not recompiled.
vicreg_jit, barlow_jit, ntxent_jit = jax.jit(vicreg), jax.jit(barlow_twins), jax.jit(ntxent)

LOSSES = {
    "vicreg": (vicreg_jit, lambda a, b: vicreg_reference(a, b)[0]),
    "barlow_twins": (barlow_jit, lambda a, b: barlow_reference(a, b)[0]),
    "ntxent": (ntxent_jit, ntxent_reference),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_matches_numpy_reference_float32(views, name):
    loss_fn, reference = LOSSES[name]
    z_a, z_b = views
    loss, aux = loss_fn(jnp.float32(z_a), jnp.float32(z_b))
    assert loss.dtype == jnp.float32 and loss.shape == ()
    assert all(value.shape == () for value in aux.values())
    np.testing.assert_allclose(float(loss), reference(z_a, z_b), rtol=2e-5)


def test_aux_terms_match_reference(views):
    z_a, z_b = views
    _, (s, v, c) = vicreg_reference(z_a, z_b)
    _, aux = vicreg_jit(jnp.float32(z_a), jnp.float32(z_b))
    np.testing.assert_allclose([aux["invariance"], aux["variance"], aux["covariance"]], [s, v, c], rtol=2e-5)
    assert v > 0  # the scales 0.3 and 0.5 activate the variance hinge
    _, (on, off) = barlow_reference(z_a, z_b)
    _, aux = barlow_jit(jnp.float32(z_a), jnp.float32(z_b))
    np.testing.assert_allclose([aux["on_diagonal"], aux["off_diagonal"]], [on, off], rtol=2e-5)
    loss, aux = ntxent_jit(jnp.float32(z_a), jnp.float32(z_b))
    np.testing.assert_allclose(float(aux["alignment"] + aux["uniformity"]), float(loss), rtol=1e-6)


def test_nondefault_weights_and_temperature(views):
    z_a, z_b = views
    loss, _ = vicreg_jit(jnp.float32(z_a), jnp.float32(z_b), sim_weight=1.0, var_weight=5.0, cov_weight=3.0)
    np.testing.assert_allclose(float(loss), vicreg_reference(z_a, z_b, 1.0, 5.0, 3.0)[0], rtol=2e-5)
    loss, _ = barlow_jit(jnp.float32(z_a), jnp.float32(z_b), off_diagonal_weight=0.3)
    np.testing.assert_allclose(float(loss), barlow_reference(z_a, z_b, 0.3)[0], rtol=2e-5)
    loss, _ = ntxent_jit(jnp.float32(z_a), jnp.float32(z_b), temperature=0.5)
    np.testing.assert_allclose(float(loss), ntxent_reference(z_a, z_b, 0.5), rtol=2e-5)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_finite_differences(views, name):
    """JAX gradient (float64) against central differences of the independent NumPy reference."""
    loss_fn, reference = LOSSES[name]
    z_a, z_b = views
    with jax.enable_x64(True):
        grad_a, grad_b = jax.jit(jax.grad(lambda a, b: loss_fn(a, b)[0], argnums=(0, 1)))(
            jnp.asarray(z_a, jnp.float64), jnp.asarray(z_b, jnp.float64)
        )
    step = 1e-6
    for which, grad in ((0, grad_a), (1, grad_b)):
        numeric = np.zeros((N, D))
        for i in range(N):
            for j in range(D):
                plus = [z_a.copy(), z_b.copy()]
                minus = [z_a.copy(), z_b.copy()]
                plus[which][i, j] += step
                minus[which][i, j] -= step
                numeric[i, j] = (reference(*plus) - reference(*minus)) / (2 * step)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_invariant_to_batch_order(views, name):
    loss_fn, _ = LOSSES[name]
    z_a, z_b = views
    permutation = np.random.default_rng(3).permutation(N)
    loss, _ = loss_fn(jnp.float32(z_a), jnp.float32(z_b))
    permuted, _ = loss_fn(jnp.float32(z_a[permutation]), jnp.float32(z_b[permutation]))
    np.testing.assert_allclose(float(permuted), float(loss), rtol=1e-5)
    # ... but not to permuting only one view: that breaks the positive pairs.
    broken, _ = loss_fn(jnp.float32(z_a), jnp.float32(z_b[permutation]))
    assert float(broken) > float(loss) * 1.01


def test_known_values_of_ideal_embeddings():
    """Identical views with independent unit-variance dimensions: VICReg and Barlow ~ 0."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(512, 4))
    z = z - z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: cov = identity
    loss, aux = vicreg_jit(jnp.float32(z), jnp.float32(z))
    assert float(aux["invariance"]) == 0.0 and float(aux["variance"]) == 0.0
    assert float(loss) < 1e-8
    loss, aux = barlow_jit(jnp.float32(z), jnp.float32(z))
    assert float(aux["on_diagonal"]) < 1e-6
    # NT-Xent of well separated, perfectly aligned pairs tends to its minimum log(1) = 0.
    directions = np.eye(8) * 10
    loss, _ = ntxent_jit(jnp.float32(directions), jnp.float32(directions), temperature=0.01)
    assert float(loss) < 1e-6


def test_vicreg_mean_invariance_matches_reference(views):
    z_a, z_b = views
    vicreg_mean = jax.jit(functools.partial(vicreg, invariance="mean"))
    loss, aux = vicreg_mean(jnp.float32(z_a), jnp.float32(z_b))
    expected, (s, _, _) = vicreg_reference(z_a, z_b, reduction="mean")
    np.testing.assert_allclose([float(loss), float(aux["invariance"])], [expected, s], rtol=2e-5)
    with pytest.raises(ValueError, match="invariance must be"):
        vicreg(jnp.float32(z_a), jnp.float32(z_b), invariance="median")


@pytest.mark.parametrize(
    "reduction, rho, collapse_wins",
    [
        ("sum", 0.95, True),  # below the 1 - 1/dim threshold (0.984 at dim 64): constant is cheaper
        ("sum", 0.995, False),
        ("mean", 0.3, False),  # any positive correlation keeps the embedding alive
    ],
)
def test_vicreg_collapse_threshold(reduction, rho, collapse_wins):
    """Closed form: unit-variance, decorrelated views with pair correlation rho cost
    ``sim * 2 d (1 - rho) [/ d]``, a constant embedding costs ``2 * var_weight``."""
    rng = np.random.default_rng(3)
    n, d = 4096, 64
    z_a = rng.standard_normal((n, d))
    z_b = rho * z_a + np.sqrt(1 - rho**2) * rng.standard_normal((n, d))
    kwargs = {"invariance": reduction}
    alive, _ = vicreg(jnp.float32(z_a), jnp.float32(z_b), **kwargs)
    constant, _ = vicreg(jnp.zeros((n, d)), jnp.zeros((n, d)), **kwargs)
    closed_form = 25.0 * 2 * (1 - rho) * (d if reduction == "sum" else 1)
    np.testing.assert_allclose(float(alive), closed_form, rtol=0.1, atol=0.5)
    assert (float(constant) < float(alive)) == collapse_wins


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        vicreg_jit(jnp.zeros((8, 3)), jnp.zeros((8, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        barlow_jit(jnp.zeros((1, 3)), jnp.zeros((1, 3)))
