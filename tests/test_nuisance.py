"""Nuisance-free likelihoods and joint analyses against the analytic linear-Gaussian pair."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.problems import LinearGaussianPair

from .helpers import Z_TOL, assert_within

TINY_FLOW = dict(hidden_layers=(16, 16), number_networks=2, epochs=100, patience=15)


@pytest.fixture(scope="module")
def pair():
    return LinearGaussianPair()


@pytest.fixture(scope="module")
def runs(pair):
    return {X: fp.run(pair.loglikelihood(X), pair.prior[X], nlive=200, seed=i) for i, X in enumerate("AB")}


@pytest.fixture(scope="module")
def likelihoods(pair, runs):
    return {X: fp.NuisanceFreeLikelihood.fit(runs[X].samples, prior=pair.prior_core, params=pair.core,
                                             n_flows=3, seed=i, flow_options=TINY_FLOW)
            for i, X in enumerate("AB")}


@pytest.fixture(scope="module")
def joint_run(pair, likelihoods):
    j = fp.joint(likelihoods["A"], likelihoods["B"])
    return j, fp.run(j, pair.prior_core, nlive=300, seed=5)


@pytest.mark.slow
def test_inputs_take_logZ_and_its_error_from_the_samples(runs, likelihoods):
    for X in "AB":
        assert likelihoods[X].logZ == pytest.approx(float(runs[X].samples.logZ()), abs=1e-12)
        assert likelihoods[X].logZerr == pytest.approx(runs[X].logZerr, rel=0.2)
        assert likelihoods[X].n_flows == 3


@pytest.mark.slow
def test_joint_evidence_matches_the_analytic_answer(pair, likelihoods, joint_run):
    j, res = joint_run
    ev = j.evidence(res)
    assert ev.density_err > 0 and ev.inputs_err > 0 and ev.sampling_err == res.logZerr
    assert ev.logZerr == pytest.approx(np.sqrt(ev.sampling_err**2 + ev.density_err**2 + ev.inputs_err**2))
    assert_within(ev.logZ, pair.logZ["AB"], ev.logZerr)
    # The inputs' evidences enter log Z_AB additively and dominate its error (0.3 of 0.34 nats); what the
    # joint analysis itself computes, the overlap of the flows, is checked against its own error alone.
    inputs_off = sum(likelihoods[X].logZ - pair.logZ[X] for X in "AB")
    assert_within(ev.logZ - inputs_off, pair.logZ["AB"], np.hypot(ev.sampling_err, ev.density_err))


@pytest.mark.slow
def test_joint_posterior_matches_the_analytic_one(pair, joint_run):
    _, res = joint_run
    x = res.samples[pair.core].to_numpy()
    w = res.samples.get_weights()
    mean = np.average(x, axis=0, weights=w)
    cov = np.cov(x.T, aweights=w)
    sd = np.sqrt(np.diag(pair.joint_cov))
    ess = w.sum() ** 2 / np.sum(w**2)
    # Sampling error of a weighted mean is sd / sqrt(ESS); flows trained on
    # ~1,000 effective samples add a bias of a few percent of sd.
    assert np.all(np.abs(mean - pair.joint_mean) < Z_TOL * sd / np.sqrt(ess) + 0.1 * sd)
    np.testing.assert_allclose(cov / np.outer(sd, sd), pair.joint_cov / np.outer(sd, sd), atol=0.15)


@pytest.mark.slow
def test_likelihood_is_P_Z_over_pi(pair, likelihoods):
    L = likelihoods["A"]
    theta = np.array([0.2, -0.1])
    expected = np.log(np.mean([np.exp(f.log_prob(theta)) for f in L.flows])) + L.logZ - pair.prior_core.log_prob(theta)
    assert L(theta) == pytest.approx(expected, abs=1e-10)
    batch = L(np.array([theta, [0.0, 0.0], [9.0, 0.0]]))
    assert batch[0] == pytest.approx(L(theta), abs=1e-12) and batch[2] == -np.inf
    assert L([9.0, 0.0]) == -np.inf


@pytest.mark.slow
def test_member_loglikelihoods_average_to_the_likelihood(likelihoods):
    L = likelihoods["B"]
    theta = np.array([[0.1, 0.2], [-0.3, 0.4]])
    members = L.member_loglikelihoods(theta)
    assert members.shape == (3, 2)
    np.testing.assert_allclose(np.log(np.mean(np.exp(members), axis=0)), L(theta), rtol=1e-12)


def test_given_logZ_and_single_flow(pair):
    P = fp.GaussianPrior([0.1, 0.2], [0.09, 0.09], params=pair.core)
    L = fp.NuisanceFreeLikelihood(P, -4.0, prior=pair.prior_core, logZerr=0.1)
    assert L.n_flows == 1 and L.logZ == -4.0 and L.params == tuple(pair.core)


def test_joint_refuses_different_params(pair):
    other = fp.UniformPrior([-5, -5], [5, 5], params=["x", "y"])
    LA = fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1], params=pair.core), 0.0, prior=pair.prior_core)
    LB = fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1], params=["x", "y"]), 0.0, prior=other)
    with pytest.raises(ValueError, match="expected likelihoods on the same params"):
        fp.joint(LA, LB)


def test_joint_refuses_different_priors(pair):
    wider = fp.UniformPrior([-6, -6], [6, 6], params=pair.core)
    P = fp.GaussianPrior([0, 0], [1, 1], params=pair.core)
    LA = fp.NuisanceFreeLikelihood(P, 0.0, prior=pair.prior_core)
    LB = fp.NuisanceFreeLikelihood(P, 0.0, prior=wider)
    with pytest.raises(ValueError, match="expected likelihoods with the same prior"):
        fp.joint(LA, LB)


def test_joint_refuses_other_callables():
    with pytest.raises(TypeError, match="expected NuisanceFreeLikelihood inputs; got function"):
        fp.joint(lambda t: 0.0)


def test_joint_of_nothing_raises():
    with pytest.raises(ValueError, match="expected at least one NuisanceFreeLikelihood"):
        fp.joint()


def test_flow_on_other_params_raises(pair):
    with pytest.raises(ValueError, match="expected flows on the prior's params"):
        fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1]), 0.0, prior=pair.prior_core)


def test_flow_of_other_dimension_raises(pair):
    with pytest.raises(ValueError, match="expected flows with the prior's 2 dimensions; got 1"):
        fp.NuisanceFreeLikelihood(fp.GaussianPrior([0], [1]), 0.0, prior=pair.prior_core)


def test_non_flow_raises(pair):
    with pytest.raises(TypeError, match="expected a flowprior flow or a non-empty sequence"):
        fp.NuisanceFreeLikelihood([], 0.0, prior=pair.prior_core)


def test_non_prior_raises(pair):
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got dict"):
        fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1]), 0.0, prior={})


def test_bad_logZ_raises(pair):
    with pytest.raises(ValueError, match="expected a finite logZ; got nan"):
        fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1], params=pair.core), np.nan, prior=pair.prior_core)


def test_bad_logZerr_raises(pair):
    with pytest.raises(ValueError, match="expected a finite, non-negative logZerr; got -1"):
        fp.NuisanceFreeLikelihood(fp.GaussianPrior([0, 0], [1, 1], params=pair.core), 0.0, prior=pair.prior_core,
                                  logZerr=-1)


def test_fit_without_logZ_from_arrays_raises(pair):
    with pytest.raises(ValueError, match="expected logZ, or anesthetic NestedSamples"):
        fp.NuisanceFreeLikelihood.fit(np.zeros((100, 2)), prior=pair.prior_core)


def test_fit_with_unknown_flow_raises(pair):
    with pytest.raises(ValueError, match="expected flow in"):
        fp.NuisanceFreeLikelihood.fit(np.zeros((100, 2)), logZ=0.0, prior=pair.prior_core, flow="nice")


def test_fit_with_no_members_raises(pair):
    with pytest.raises(ValueError, match="expected n_flows >= 1; got 0"):
        fp.NuisanceFreeLikelihood.fit(np.zeros((100, 2)), logZ=0.0, prior=pair.prior_core, n_flows=0)


def test_fit_with_non_prior_raises():
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got NoneType"):
        fp.NuisanceFreeLikelihood.fit(np.zeros((100, 2)), logZ=0.0, prior=None)


def test_kde_members_work(pair):
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal(pair.mean["A"][:2], pair.cov["A"][:2, :2], size=800)
    L = fp.NuisanceFreeLikelihood.fit(x, logZ=pair.logZ["A"], prior=pair.prior_core, flow="kde", n_flows=2, seed=0)
    assert L.n_flows == 2 and np.isfinite(L([0.2, -0.1]))
