"""Superposition repartitioning keeps the evidence exact; the mixture transform is exact."""

import numpy as np
import pytest
from scipy import stats
from scipy.stats import multivariate_normal

import flowprior as fp

from .helpers import assert_within

BOX1 = fp.UniformPrior([-5.0], [5.0])
GAUSS1 = fp.GaussianPrior([1.0], [0.25])


def test_mixture_transform_pushes_uniform_to_the_mixture():
    mix = fp.Mixture([BOX1, GAUSS1], [0.3, 0.7])
    x = mix.prior_transform(np.random.default_rng(0).random((40_000, 1)))[:, 0]
    cdf = lambda t: 0.3 * stats.uniform(-5, 10).cdf(t) + 0.7 * stats.norm(1.0, 0.5).cdf(t)
    assert stats.kstest(x, cdf).pvalue > 0.001


def test_mixture_log_prob_is_normalised():
    mix = fp.Mixture([BOX1, GAUSS1], [0.3, 0.7])
    grid = np.linspace(-5, 5, 200_001)[:, None]
    assert np.trapezoid(np.exp(mix.log_prob(grid)), grid[:, 0]) == pytest.approx(1.0, abs=1e-6)


def test_mixture_transform_is_deterministic_per_point():
    mix = fp.Mixture([BOX1, GAUSS1], [0.5, 0.5])
    u = np.random.default_rng(1).random((100, 1))
    batch = mix.prior_transform(u)
    np.testing.assert_array_equal(np.array([mix.prior_transform(p) for p in u]), batch)
    shuffled = np.random.default_rng(2).permutation(100)
    np.testing.assert_array_equal(mix.prior_transform(u[shuffled]), batch[shuffled])


def test_mixture_edges_are_finite():
    mix = fp.Mixture([BOX1, GAUSS1], [0.5, 0.5])
    for edge in (0.0, 1e-300, 0.5, 1 - 1e-16, 1.0):
        assert np.isfinite(mix.prior_transform([edge])).all()


def test_mixture_round_trips_through_a_file(tmp_path):
    mix = fp.Mixture([BOX1, GAUSS1], [0.2, 0.8])
    fp.save(mix, tmp_path / "m.fpz")
    again = fp.load(tmp_path / "m.fpz")
    u = np.random.default_rng(3).random((10, 1))
    np.testing.assert_array_equal(again.prior_transform(u), mix.prior_transform(u))


def test_repartition_preserves_the_integrand_and_bounds_the_likelihood():
    prior = fp.UniformPrior([-5, -5], [5, 5])
    q = fp.GaussianPrior([0.5, 0.5], [0.01, 0.01])
    loglike = lambda t: multivariate_normal.logpdf(t, [0.5, 0.5], 0.02 * np.eye(2))
    rp = fp.repartition(loglike, prior, q, beta=0.2)
    for theta in prior.sample(200, seed=5):
        assert rp.loglikelihood(theta) + rp.prior.log_prob(theta) == pytest.approx(
            loglike(theta) + prior.log_prob(theta), abs=1e-9)
        assert rp.loglikelihood(theta) <= loglike(theta) - np.log(0.2) + 1e-12
    assert rp.loglikelihood([6.0, 0.0]) == -np.inf


D = 3
_RNG = np.random.default_rng(6)
_A = _RNG.normal(size=(D, D))
COV = 0.01 * (_A @ _A.T + D * np.eye(D))
MU = _RNG.uniform(-0.5, 0.5, D)
_MVN = multivariate_normal(MU, COV)
BOX3 = fp.UniformPrior(np.full(D, -5.0), np.full(D, 5.0))
TRUTH3 = -D * np.log(10.0)


def gauss3(theta):
    return _MVN.logpdf(theta)


@pytest.mark.slow
@pytest.mark.parametrize("beta, scale", [(0.0, 2.0), (0.3, 0.5)])
def test_repartitioned_run_has_the_original_evidence(beta, scale):
    # An offset proposal.  The narrow one (scale 0.5) is only safe with beta > 0:
    # with beta = 0, L pi / q grows without bound in q's tails.
    q = fp.GaussianPrior(MU + 0.05, scale * COV)
    rp = fp.repartition(gauss3, BOX3, q, beta=beta)
    res = fp.run(rp.loglikelihood, rp.prior, nlive=100, seed=7)
    assert_within(res.logZ, TRUTH3, res.logZerr)


def test_several_proposals_with_weights():
    rp = fp.repartition(gauss3, BOX3, [fp.GaussianPrior(MU, COV), fp.GaussianPrior(MU - 0.1, 2 * COV)],
                        beta=0.1, weights=[3, 1])
    np.testing.assert_allclose(rp.prior.weights, [0.1, 0.675, 0.225])
    res = fp.run(rp.loglikelihood, rp.prior, nlive=150, seed=8)
    assert_within(res.logZ, TRUTH3, res.logZerr)


# --- errors ----------------------------------------------------------------------





def test_beta_out_of_range_raises():
    with pytest.raises(ValueError, match="expected 0 <= beta < 1; got 1.0"):
        fp.repartition(gauss3, BOX3, GAUSS1, beta=1.0)


def test_proposal_dimension_mismatch_raises():
    with pytest.raises(ValueError, match="expected proposals with 3 dimensions; got 1"):
        fp.repartition(gauss3, BOX3, GAUSS1)


def test_no_proposal_raises():
    with pytest.raises(ValueError, match="expected at least one proposal"):
        fp.repartition(gauss3, BOX3, [])


def test_non_prior_proposal_raises():
    with pytest.raises(TypeError, match="expected flowprior priors as proposals; got function"):
        fp.repartition(gauss3, BOX3, [lambda u: u])


def test_bad_weights_raise():
    with pytest.raises(ValueError, match="expected 2 non-negative weights"):
        fp.Mixture([BOX1, GAUSS1], [1.0, -1.0])


def test_mixture_components_mismatch_raises():
    with pytest.raises(ValueError, match="expected components of equal ndims"):
        fp.Mixture([BOX1, BOX3], [0.5, 0.5])


def test_mixture_params_mismatch_raises():
    with pytest.raises(ValueError, match="expected components with the same params"):
        fp.Mixture([BOX1, fp.UniformPrior([0], [1], params=["x"])], [0.5, 0.5])


def test_mixture_of_non_priors_raises():
    with pytest.raises(TypeError, match="expected a non-empty sequence of flowprior priors"):
        fp.Mixture([], [])


def test_mixture_has_no_inverse():
    mix = fp.Mixture([BOX1, GAUSS1], [0.5, 0.5])
    with pytest.raises(NotImplementedError, match="a mixture maps several u to each theta"):
        mix.inverse_prior_transform([0.0])



