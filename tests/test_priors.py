import numpy as np
import pytest
from scipy import integrate

import flowprior as fp

PRIORS = {
    "uniform": lambda: fp.UniformPrior([-1.0, 0.0], [2.0, 5.0]),
    "loguniform": lambda: fp.LogUniformPrior([0.01, 1.0], [100.0, 2.0]),
    "gaussian": lambda: fp.GaussianPrior([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]]),
}


# The contract every prior keeps is tests/test_prior_contract.py; here, what is particular to these three.
@pytest.fixture(params=sorted(PRIORS))
def prior(request):
    return PRIORS[request.param]()


def test_normalised_by_quadrature(prior):
    if isinstance(prior, fp.GaussianPrior):
        lo, hi = prior.mean - 12 * np.sqrt(np.diag(prior.cov)), prior.mean + 12 * np.sqrt(np.diag(prior.cov))
    else:
        lo, hi = prior.lower, prior.upper
    total, _ = integrate.dblquad(
        lambda y, x: np.exp(prior.log_prob([x, y])), lo[0], hi[0], lo[1], hi[1], epsabs=1e-10
    )
    assert total == pytest.approx(1.0, abs=1e-6)


def test_log_prob_outside_support_is_minus_inf():
    prior = PRIORS["uniform"]()
    out = prior.log_prob([[3.0, 1.0], [0.0, -0.1], [np.nan, 1.0]])
    assert np.all(out == -np.inf)


def test_loguniform_log_prob_outside_support_is_minus_inf():
    assert PRIORS["loguniform"]().log_prob([-1.0, 1.5]) == -np.inf


def test_gaussian_log_prob_matches_scipy():
    from scipy.stats import multivariate_normal

    prior = PRIORS["gaussian"]()
    theta = np.random.default_rng(3).normal(size=(5, 2))
    np.testing.assert_allclose(prior.log_prob(theta), multivariate_normal(prior.mean, prior.cov).logpdf(theta))


def test_params_default_and_given():
    assert fp.UniformPrior([0, 0], [1, 1]).params == ("p0", "p1")
    assert fp.UniformPrior([0, 0], [1, 1], params=["a", "b"]).params == ("a", "b")


def test_scalar_bounds_broadcast():
    prior = fp.UniformPrior(0.0, [1.0, 2.0, 3.0])
    assert prior.ndims == 3


# --- errors: one statement in each raises block ---------------------------------
def test_u_outside_cube_raises():
    prior = PRIORS["uniform"]()
    with pytest.raises(ValueError, match=r"expected u in \[0, 1\]; got 1 value"):
        prior.prior_transform([0.5, 1.5])


def test_u_nan_raises():
    prior = PRIORS["uniform"]()
    with pytest.raises(ValueError, match=r"expected u in \[0, 1\]"):
        prior.prior_transform([0.5, np.nan])


def test_wrong_shape_raises():
    prior = PRIORS["uniform"]()
    with pytest.raises(ValueError, match=r"expected u of shape \(2,\) or \(n, 2\); got shape \(3,\)"):
        prior.prior_transform([0.1, 0.2, 0.3])


def test_inverse_outside_support_raises():
    prior = PRIORS["uniform"]()
    with pytest.raises(ValueError, match="expected theta inside the support"):
        prior.inverse_prior_transform([10.0, 1.0])


def test_bounds_order_raises():
    with pytest.raises(ValueError, match="expected lower < upper"):
        fp.UniformPrior([1.0], [0.0])


def test_nonfinite_bounds_raise():
    with pytest.raises(ValueError, match="expected finite upper"):
        fp.UniformPrior([0.0], [np.inf])


def test_empty_bounds_raise():
    with pytest.raises(ValueError, match="expected lower as a non-empty 1-D array"):
        fp.UniformPrior([], [])


def test_loguniform_nonpositive_raises():
    with pytest.raises(ValueError, match="expected lower > 0"):
        fp.LogUniformPrior([0.0], [1.0])


def test_params_wrong_length_raises():
    with pytest.raises(ValueError, match="expected 2 parameter names; got 1"):
        fp.UniformPrior([0, 0], [1, 1], params=["a"])


def test_params_duplicate_raises():
    with pytest.raises(ValueError, match="expected distinct parameter names"):
        fp.UniformPrior([0, 0], [1, 1], params=["a", "a"])


def test_gaussian_cov_shape_raises():
    with pytest.raises(ValueError, match=r"expected cov of shape \(2,\) or \(2, 2\)"):
        fp.GaussianPrior([0, 0], np.eye(3))


def test_gaussian_cov_not_symmetric_raises():
    with pytest.raises(ValueError, match="expected a finite, symmetric covariance"):
        fp.GaussianPrior([0, 0], [[1.0, 0.5], [0.0, 1.0]])


def test_gaussian_cov_not_positive_definite_raises():
    with pytest.raises(ValueError, match="expected a positive-definite covariance"):
        fp.GaussianPrior([0, 0], [[1.0, 2.0], [2.0, 1.0]])


def test_negative_sample_count_raises():
    with pytest.raises(ValueError, match="expected a non-negative number of samples; got -1"):
        PRIORS["uniform"]().sample(-1)
