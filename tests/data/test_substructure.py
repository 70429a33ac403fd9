"""Soft-drop mass, N2 and tau21 against slow, independent reference implementations.

The references below are written from the definitions (pure Python/NumPy): brute-force sums over
particle pairs and triplets for N2, a hand-written exclusive-kT clustering for the N-subjettiness
axes and a hand-written Cambridge/Aachen clustering + declustering for soft drop.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

pytest.importorskip("fastjet")

from codec_jax.data import substructure  # noqa: E402

PION_MASS = 0.13957


# --------------------------------------------------------------------------- test jets
def _two_prong_jets(seed: int, n_jets: int, max_particles: int):
    """Random massive-particle jets with two prongs, padded to ``max_particles``.

    Returns pt, eta, phi, energy, mask, each ``[n_jets, max_particles]``; the phi values sit near
    +-pi for some jets so that azimuthal wrapping is exercised.
    """
    rng = np.random.default_rng(seed)
    shape = (n_jets, max_particles)
    pt, eta, phi, energy = (np.zeros(shape) for _ in range(4))
    mask = np.zeros(shape, dtype=bool)
    for j in range(n_jets):
        n = int(rng.integers(4, max_particles + 1))
        jet_eta, jet_phi = rng.uniform(-2.0, 2.0), rng.choice([0.3, 3.1, -3.1])
        prong = rng.integers(0, 2, size=n)
        offsets = np.array([[0.0, 0.0], rng.uniform(0.1, 0.5, size=2)])
        spread = rng.normal(0.0, 0.08, size=(n, 2))
        p_eta = jet_eta + offsets[prong, 0] + spread[:, 0]
        p_phi = jet_phi + offsets[prong, 1] + spread[:, 1]
        p_phi = np.mod(p_phi + np.pi, 2 * np.pi) - np.pi
        p_pt = rng.exponential(20.0, size=n) + 0.5
        p_pt = -np.sort(-p_pt)
        p_energy = np.sqrt((p_pt * np.cosh(p_eta)) ** 2 + PION_MASS**2)
        pt[j, :n], eta[j, :n], phi[j, :n], energy[j, :n], mask[j, :n] = p_pt, p_eta, p_phi, p_energy, True
    return pt, eta, phi, energy, mask


@pytest.fixture(scope="module")
def jets():
    return _two_prong_jets(seed=7, n_jets=6, max_particles=24)


# --------------------------------------------------------------------------- reference kinematics
def _four_vectors(pt, eta, phi, energy):
    """List of (px, py, pz, E) tuples of one jet's particles."""
    return [
        (p * math.cos(f), p * math.sin(f), p * math.sinh(e), en) for p, e, f, en in zip(pt, eta, phi, energy)
    ]


def _pt(v):
    return math.hypot(v[0], v[1])


def _rapidity(v):
    return 0.5 * math.log((v[3] + v[2]) / (v[3] - v[2]))


def _delta_r(a, b):
    dphi = math.atan2(a[1], a[0]) - math.atan2(b[1], b[0])
    dphi = (dphi + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(_rapidity(a) - _rapidity(b), dphi)


def _add(a, b):
    return tuple(x + y for x, y in zip(a, b))


def _mass(v):
    m2 = v[3] ** 2 - v[0] ** 2 - v[1] ** 2 - v[2] ** 2
    return math.sqrt(max(m2, 0.0))


def _particles(jets, j):
    pt, eta, phi, energy, mask = jets
    keep = mask[j]
    return _four_vectors(pt[j][keep], eta[j][keep], phi[j][keep], energy[j][keep])


# --------------------------------------------------------------------------- reference observables
def _reference_n2(particles):
    total = sum(_pt(v) for v in particles)
    z = [_pt(v) / total for v in particles]
    e2 = sum(
        z[i] * z[j] * _delta_r(particles[i], particles[j])
        for i, j in itertools.combinations(range(len(z)), 2)
    )
    e3 = 0.0
    for i, j, k in itertools.combinations(range(len(z)), 3):
        dij = _delta_r(particles[i], particles[j])
        dik = _delta_r(particles[i], particles[k])
        djk = _delta_r(particles[j], particles[k])
        e3 += z[i] * z[j] * z[k] * min(dij * dik, dij * djk, dik * djk)
    return e3 / e2**2


def _reference_exclusive_kt(particles, n_axes):
    """Exclusive kT clustering (E-scheme, no beam distance) down to ``n_axes`` pseudojets."""
    jets = list(particles)
    while len(jets) > n_axes:
        best = min(
            itertools.combinations(range(len(jets)), 2),
            key=lambda ij: (
                min(_pt(jets[ij[0]]), _pt(jets[ij[1]])) ** 2 * _delta_r(jets[ij[0]], jets[ij[1]]) ** 2
            ),
        )
        i, j = best
        merged = _add(jets[i], jets[j])
        jets = [v for k, v in enumerate(jets) if k not in best] + [merged]
    return jets


def _reference_tau(particles, n_axes, radius=0.8):
    axes = _reference_exclusive_kt(particles, n_axes)
    numerator = sum(_pt(v) * min(_delta_r(v, a) for a in axes) for v in particles)
    return numerator / (radius * sum(_pt(v) for v in particles))


def _reference_soft_drop_mass(particles, z_cut=0.1, beta=0.0, radius=0.8):
    """C/A clustering into a binary tree, then declustering along the harder branch."""
    nodes = [(v, None) for v in particles]  # (four-vector, (child1, child2) or None)
    while len(nodes) > 1:
        i, j = min(
            itertools.combinations(range(len(nodes)), 2),
            key=lambda ij: _delta_r(nodes[ij[0]][0], nodes[ij[1]][0]),
        )
        merged = (_add(nodes[i][0], nodes[j][0]), (nodes[i], nodes[j]))
        nodes = [node for k, node in enumerate(nodes) if k not in (i, j)] + [merged]
    node = nodes[0]
    while node[1] is not None:
        first, second = node[1]
        pt1, pt2 = _pt(first[0]), _pt(second[0])
        if min(pt1, pt2) / (pt1 + pt2) > z_cut * (_delta_r(first[0], second[0]) / radius) ** beta:
            break
        node = first if pt1 >= pt2 else second
    return _mass(node[0])


# --------------------------------------------------------------------------- tests
def test_n2_matches_brute_force_triplets(jets):
    values = substructure.n2(*jets)
    expected = [_reference_n2(_particles(jets, j)) for j in range(len(values))]
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    assert np.all(values > 0)


def test_tau21_matches_exclusive_kt_reference(jets):
    values = substructure.tau21(*jets)
    expected = []
    for j in range(len(values)):
        particles = _particles(jets, j)
        expected.append(_reference_tau(particles, 2) / _reference_tau(particles, 1))
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    assert np.all((values > 0) & (values < 1))


def test_soft_drop_mass_matches_own_clustering(jets):
    values = substructure.soft_drop_mass(*jets)
    expected = [_reference_soft_drop_mass(_particles(jets, j)) for j in range(len(values))]
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)
    full_mass = [_mass(_add_all(_particles(jets, j))) for j in range(len(values))]
    assert np.all(values <= np.asarray(full_mass) + 1e-9)  # grooming only removes particles


def test_soft_drop_with_beta_and_high_z_cut_matches_reference(jets):
    values = substructure.soft_drop_mass(*jets, beta=1.0, z_cut=0.3, radius=0.8)
    expected = [
        _reference_soft_drop_mass(_particles(jets, j), z_cut=0.3, beta=1.0) for j in range(len(values))
    ]
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)


def _add_all(particles):
    total = (0.0, 0.0, 0.0, 0.0)
    for v in particles:
        total = _add(total, v)
    return total


def test_single_prong_limits_and_tiny_jets():
    """A jet of collinear particles has N2 = tau21 = 0 and msd = its mass; 1-2 particle jets work."""
    pt = np.array([[100.0, 50.0, 20.0, 0.0], [300.0, 0.0, 0.0, 0.0], [200.0, 100.0, 0.0, 0.0]])
    eta = np.array([[0.5, 0.5, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.3, 0.0, 0.0]])
    phi = np.array([[1.0, 1.0, 1.0, 0.0], [-2.0, 0.0, 0.0, 0.0], [0.0, 0.4, 0.0, 0.0]])
    energy = pt * np.cosh(eta)
    mask = pt > 0
    out = substructure.jet_substructure(pt, eta, phi, energy, mask)
    np.testing.assert_allclose(out["n2"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["tau21"], [0.0, 0.0, 0.0], atol=1e-7)
    # Two massless particles at dR = 0.5 with pT 200 and 100: z = 1/3 passes z_cut = 0.1, so
    # msd is the pair mass m^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi)).
    pair_mass = math.sqrt(2 * 200 * 100 * (math.cosh(0.3) - math.cos(0.4)))
    np.testing.assert_allclose(out["msd"], [0.0, 0.0, pair_mass], atol=1e-4)


def test_padding_does_not_change_results(jets):
    pt, eta, phi, energy, mask = jets
    padded = [np.pad(a, ((0, 0), (0, 5))) for a in (pt, eta, phi, energy)]
    padded_mask = np.pad(mask, ((0, 0), (0, 5)))
    for name in ("soft_drop_mass", "n2", "tau21"):
        function = getattr(substructure, name)
        np.testing.assert_allclose(function(*padded, padded_mask), function(*jets), rtol=1e-12)


def test_shape_mismatch_raises_clear_error(jets):
    pt, eta, phi, energy, mask = jets
    with pytest.raises(ValueError, match="eta must have the mask's shape"):
        substructure.n2(pt, eta[:, :3], phi, energy, mask)
