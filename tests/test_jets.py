"""JetSample: validation, slicing, concatenation, padding and relative coordinates."""

import numpy as np
import pytest

from codec_jax.jets import ABSOLUTE_FEATURES, JET_FIELDS, RELATIVE_FEATURES, JetSample, concatenate, wrap_phi
from tests.helpers.samples import make_sample


def test_defaults_and_dtypes():
    sample = make_sample()
    assert sample.parts.dtype == np.float32 and sample.mask.dtype == bool
    assert np.array_equal(sample.n_particles, sample.mask.sum(axis=1))
    assert np.all(sample.weight == 1.0) and sample.label.dtype == np.int32
    assert set(sample.jet_fields()) == set(JET_FIELDS)


def test_validation_errors_name_the_field():
    sample = make_sample()
    with pytest.raises(ValueError, match="mask"):
        sample.replace(mask=sample.mask[:, :2])
    with pytest.raises(ValueError, match="JetSample.pt"):
        sample.replace(pt=sample.pt[:3])
    with pytest.raises(ValueError, match="feature_names"):
        sample.replace(feature_names=("pt", "eta"))
    with pytest.raises(KeyError, match="bogus"):
        JetSample.from_arrays(sample.parts, sample.mask, ABSOLUTE_FEATURES, {"bogus": sample.pt})


def test_slicing_keeps_all_fields_aligned():
    sample = make_sample(n=10)
    index = np.array([7, 2, 2, 0])
    sub = sample[index]
    assert len(sub) == 4
    np.testing.assert_array_equal(sub.parts, sample.parts[index])
    np.testing.assert_array_equal(sub.extra["truth_dr"], sample.extra["truth_dr"][index])
    for field in JET_FIELDS:
        np.testing.assert_array_equal(getattr(sub, field), getattr(sample, field)[index])
    assert len(sample[sample.label == 1]) == int(np.sum(sample.label == 1))
    assert len(sample[3]) == 1


def test_concatenate_pads_to_widest():
    a = make_sample(n=3, p=4, seed=1)
    b = make_sample(n=5, p=7, seed=2)
    both = concatenate([a, b])
    assert both.parts.shape == (8, 7, 4)
    np.testing.assert_array_equal(both.parts[:3, :4], a.parts)
    assert not both.mask[:3, 4:].any()
    np.testing.assert_array_equal(both.pt, np.concatenate([a.pt, b.pt]))
    with pytest.raises(ValueError, match="features"):
        concatenate([a, a.to_relative()])


def test_pad_and_truncate_keep_leading_particles():
    sample = make_sample(p=5)
    short = sample.pad_particles(2)
    np.testing.assert_array_equal(short.parts, sample.parts[:, :2])
    np.testing.assert_array_equal(short.n_particles, sample.n_particles)
    long = sample.pad_particles(9)
    np.testing.assert_array_equal(long.parts[:, :5], sample.parts)
    assert np.all(long.parts[:, 5:] == 0) and not long.mask[:, 5:].any()


def test_relative_coordinates_against_direct_computation():
    sample = make_sample(n=20, p=6, seed=3)
    rel = sample.to_relative()
    assert rel.feature_names == RELATIVE_FEATURES and rel.is_relative
    m = sample.mask
    pt_frac = sample.feature("pt") / sample.pt[:, None]
    np.testing.assert_allclose(rel.feature("pt_rel")[m], pt_frac[m], rtol=1e-6)
    np.testing.assert_allclose(rel.feature("pt_rel").sum(axis=1), 1.0, rtol=1e-5)
    deta = sample.feature("eta") - sample.eta[:, None]
    np.testing.assert_allclose(rel.feature("eta_rel")[m], deta[m], atol=1e-6)
    dphi = np.angle(np.exp(1j * (sample.feature("phi") - sample.phi[:, None].astype(np.float64))))
    np.testing.assert_allclose(rel.feature("phi_rel")[m], dphi[m], atol=1e-5)
    assert np.all(np.abs(rel.feature("phi_rel")) <= np.pi)
    assert np.all(rel.parts[~m] == 0)


def test_wrap_phi_interval():
    phi = np.array([-3 * np.pi, -np.pi, 0.0, np.pi, 2 * np.pi + 0.1, 7.0])
    wrapped = wrap_phi(phi)
    assert np.all((wrapped > -np.pi) & (wrapped <= np.pi))
    np.testing.assert_allclose(np.cos(wrapped), np.cos(phi), atol=1e-12)
    np.testing.assert_allclose(np.sin(wrapped), np.sin(phi), atol=1e-12)
