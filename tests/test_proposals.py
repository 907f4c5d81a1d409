"""CubeGaussian: a defensive proposal that is a normalised prior and never leaves its base's support."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.priors.cube import CubeGaussian, fit_cube_gaussian

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0])
MEAN = np.array([1.0, 2.0])
COV = np.array([[0.04, 0.01], [0.01, 0.09]])


X = np.random.default_rng(0).multivariate_normal(MEAN, COV, 4000)


@pytest.fixture(scope="module")
def gaussian():
    return fit_cube_gaussian(X, np.ones(len(X)), BOX, inflation=4.0)


def test_it_is_normalised_on_the_box(gaussian):
    t = np.linspace(-5, 5, 801)
    grid = np.array(np.meshgrid(t, t)).reshape(2, -1).T
    assert np.exp(gaussian.log_prob(grid)).sum() * (10 / 800) ** 2 == pytest.approx(1.0, abs=1e-6)


def test_its_transform_round_trips_and_stays_inside(gaussian):
    u = np.random.default_rng(1).random((2000, 2))
    theta = gaussian.prior_transform(u)
    assert np.all(np.abs(theta) <= 5.0)
    np.testing.assert_allclose(gaussian.inverse_prior_transform(theta), u, atol=1e-10)
    assert np.all(np.isfinite(gaussian.prior_transform([[1e-300, 1 - 1e-16], [0.0, 1.0]])))


def test_its_density_is_the_jacobian_of_its_transform(gaussian):
    u = np.array([0.3, 0.6])
    h = 1e-6
    jac = np.column_stack([(gaussian.prior_transform(u + h * e) - gaussian.prior_transform(u - h * e)) / (2 * h)
                           for e in np.eye(2)])
    assert gaussian.log_prob(gaussian.prior_transform(u)) == pytest.approx(-np.log(abs(np.linalg.det(jac))), abs=1e-5)


def test_it_fits_the_samples_moments_in_the_gaussianised_cube_times_the_inflation(gaussian):
    from flowprior.kernels.normal import ndtri_clipped

    x = ndtri_clipped(BOX.inverse_prior_transform(X))
    np.testing.assert_allclose(gaussian.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gaussian.cov, 4 * np.cov(x.T), rtol=1e-10)
    # Its draws have those moments (4 standard errors of 40,000 draws).
    y = ndtri_clipped(BOX.inverse_prior_transform(gaussian.sample(40_000, seed=2)))
    sd = np.sqrt(np.diag(gaussian.cov))
    np.testing.assert_allclose(y.mean(axis=0), gaussian.mean, atol=4 * np.max(sd) / 200)
    np.testing.assert_allclose(np.cov(y.T), gaussian.cov, atol=4 * np.max(sd) ** 2 * np.sqrt(2 / 40_000))


def test_log_prob_outside_the_support_is_minus_infinity(gaussian):
    assert gaussian.log_prob([6.0, 0.0]) == -np.inf


def test_it_round_trips_through_a_file(gaussian, tmp_path):
    fp.save(gaussian, tmp_path / "g.fpz")
    again = fp.load(tmp_path / "g.fpz")
    u = np.random.default_rng(3).random((5, 2))
    np.testing.assert_array_equal(again.prior_transform(u), gaussian.prior_transform(u))


def test_a_weighted_fit_whose_covariance_rounds_asymmetric_is_accepted():
    # np.cov with weights is symmetric only to ~1e-12 relative; the fit makes it exactly symmetric.
    rng = np.random.default_rng(4)
    x = rng.multivariate_normal([0.1, -0.2, 0.3, 0.0, 0.5], 0.01 * np.eye(5) + 0.005, 300)
    w = rng.random(300) ** 8
    g = fit_cube_gaussian(x, w, fp.UniformPrior(np.full(5, -10.0), np.full(5, 10.0)))
    assert np.array_equal(g.cov, g.cov.T)


def test_two_samples_give_a_positive_definite_covariance():
    g = fit_cube_gaussian(np.array([[0.0, 0.0], [0.1, 0.2]]), [1.0, 1.0], BOX)
    assert np.all(np.linalg.eigvalsh(g.cov) > 0)


def test_a_non_symmetric_covariance_raises():
    with pytest.raises(ValueError, match="expected a finite mean and a finite, exactly symmetric covariance"):
        CubeGaussian(BOX, [0.0, 0.0], [[1.0, 0.1], [0.2, 1.0]])


def test_a_covariance_that_is_not_positive_definite_raises():
    with pytest.raises(ValueError, match="expected a positive-definite covariance matrix"):
        CubeGaussian(BOX, [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])


def test_wrong_shapes_raise():
    with pytest.raises(ValueError, match="expected mean of shape \\(2,\\) and cov of shape \\(2, 2\\)"):
        CubeGaussian(BOX, [0.0], [[1.0]])


def test_a_non_prior_base_raises():
    with pytest.raises(TypeError, match="expected base to be a flowprior Prior; got list"):
        CubeGaussian([], [0.0], [[1.0]])
