"""fp.importance: defensive importance sampling of the evidence, its error bar and its warnings."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import flowprior as fp
from flowprior.problems import GaussianProblem
from flowprior.workflows.importance import DEFAULT_N_EFF, _estimate, pareto_khat

from .helpers import Counter, assert_calibrated, assert_within

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["a", "b"])
TRUTH = -np.log(100.0)
MVN = multivariate_normal(np.zeros(2), np.eye(2))



def gauss(mean, cov):
    return fp.GaussianPrior(mean, cov, params=["a", "b"])


def normal_2d(theta):
    return float(MVN.logpdf(theta))


def test_evidence_n_eff_ncall_and_samples():
    like = Counter(normal_2d)
    q = gauss([0.2, 0.0], 4.0 * np.eye(2))
    res = fp.importance(like, BOX, q, n_eff=1500, seed=0)
    assert_within(res.logZ, TRUTH, res.logZerr)
    assert res.n_eff >= 1500
    # A Gaussian proposes outside the box: those draws have zero weight and no call.
    assert res.ncall == like.n < res.diagnostics["ndraws"]
    assert list(res.samples.columns.get_level_values(0)[:2]) == ["a", "b"]
    mean = np.average(res.samples[["a", "b"]].to_numpy(), weights=res.samples.get_weights(), axis=0)
    assert np.all(np.abs(mean) < 4 / np.sqrt(res.n_eff))
    assert res.diagnostics["stopped_by"] == "n_eff"


def test_target_logZerr_is_reached_and_both_targets_hold():
    q = gauss([0.0, 0.0], 2.0 * np.eye(2))
    res = fp.importance(normal_2d, BOX, q, target_logZerr=0.01, seed=1)
    assert res.logZerr <= 0.01 and res.diagnostics["stopped_by"] == "target_logZerr"
    both = fp.importance(normal_2d, BOX, q, target_logZerr=0.05, n_eff=3000, seed=1)
    assert both.n_eff >= 3000 and both.logZerr <= 0.05


def test_min_draws_draws_at_least_that_many_whatever_the_weights_say():
    q = gauss([0.0, 0.0], 2.0 * np.eye(2))
    res = fp.importance(normal_2d, BOX, q, n_eff=100, min_draws=3000, seed=2)
    assert res.diagnostics["ndraws"] >= 3000 and res.n_eff > 1000


def test_default_target_and_same_seed_same_bits():
    q = gauss([0.0, 0.0], np.eye(2))
    a = fp.importance(normal_2d, BOX, q, seed=3)
    b = fp.importance(normal_2d, BOX, q, seed=3)
    assert a.n_eff >= DEFAULT_N_EFF
    assert a.logZ == b.logZ and a.ncall == b.ncall


def test_error_bar_is_calibrated_over_seeds():
    # 30 runs: rms z near 1 for honest errors (assert_calibrated's bounds).
    q = gauss([0.3, -0.2], 1.5 * np.eye(2))
    z = [(r.logZ - TRUTH) / r.logZerr
         for r in (fp.importance(normal_2d, BOX, q, n_eff=400, seed=s) for s in range(30))]
    assert_calibrated(z)


def test_estimate_matches_the_formulas():
    logw = np.log([1.0, 2.0, 3.0, 0.0, 4.0]) + 7.0
    with np.errstate(divide="ignore"):
        est = _estimate(logw)
    w = np.array([1.0, 2.0, 3.0, 0.0, 4.0])
    assert est["logZ"] == pytest.approx(np.log(w.mean()) + 7.0)
    assert est["logZerr"] == pytest.approx(np.sqrt(w.var(ddof=1) / 5) / w.mean())
    assert est["n_eff"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))


@pytest.mark.parametrize("xi", [0.2, 0.5, 0.9])
def test_pareto_khat_recovers_the_tail_shape(xi):
    rng = np.random.default_rng(2)
    w = (rng.random(20000) ** (-xi) - 1.0) / xi
    assert pareto_khat(np.log(w)) == pytest.approx(xi, abs=0.15)


def test_pareto_khat_of_light_bounded_and_too_few_weights():
    rng = np.random.default_rng(0)
    assert pareto_khat(np.log(rng.exponential(size=20000))) < 0.15
    assert pareto_khat(np.zeros(1000)) == -np.inf
    assert np.isnan(pareto_khat(np.zeros(10)))


def test_a_proposal_that_misses_mass_warns():
    # A narrow proposal: most of the evidence is found through the defensive prior share.
    q = gauss([0.0, 0.0], 0.05 * np.eye(2))
    with pytest.warns(RuntimeWarning, match="defensive prior share"):
        res = fp.importance(normal_2d, BOX, q, n_eff=300, seed=0)
    assert res.diagnostics["prior_branch_fraction"] > 0.5
    assert_within(res.logZ, TRUTH, res.logZerr)


def test_a_missed_mode_without_a_defensive_share_warns_of_the_tail():
    # beta = 0 and a proposal on one of two modes: the other is found only in the proposal's tail.
    def two_modes(theta):
        return float(np.logaddexp(MVN.logpdf(theta - 1.5), MVN.logpdf(theta + 1.5)) - np.log(2))

    q = gauss([1.5, 1.5], 1.2 * np.eye(2))
    with pytest.warns(RuntimeWarning, match="heavy tail"):
        fp.importance(two_modes, BOX, q, n_eff=500, beta=0.0, max_ncall=20000, seed=0)


def test_max_ncall_ends_the_run_and_warns():
    q = gauss([0.0, 0.0], 0.05 * np.eye(2))
    like = Counter(normal_2d)
    with pytest.warns(RuntimeWarning, match="max_ncall"):
        res = fp.importance(like, BOX, q, n_eff=10**6, max_ncall=700, seed=0)
    assert res.ncall == like.n <= 700 and res.diagnostics["stopped_by"] == "max_ncall"


@pytest.mark.slow
def test_flow_proposal_in_six_dimensions():
    problem = GaussianProblem(6, half_width=5.0)
    samples = problem.posterior_sample(4000, seed=0)
    flow = fp.MAF.fit(samples, prior=problem.prior, seed=0, hidden_layers=(32, 32), number_networks=3, epochs=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = fp.importance(problem.loglikelihood, problem.prior, flow, n_eff=1000, seed=0)
    assert_within(res.logZ, problem.logZ, res.logZerr)
    # A good flow: far fewer calls than a nested-sampling run of this problem.
    assert res.ncall < 4000


def test_pool_gives_the_same_answer_and_counts():
    q = gauss([0.0, 0.0], 1.5 * np.eye(2))
    serial = fp.importance(normal_2d, BOX, q, n_eff=500, seed=4)
    pooled = fp.importance(normal_2d, BOX, q, n_eff=500, seed=4, npool=2)
    assert pooled.logZ == pytest.approx(serial.logZ, abs=1e-12) and pooled.ncall == serial.ncall


def test_bad_input_is_rejected_before_any_call():
    like = Counter(normal_2d)
    q = gauss([0.0, 0.0], np.eye(2))
    cases = [
        (dict(proposal=fp.GaussianPrior([0.0], [1.0])), ValueError, "2 dimensions"),
        (dict(proposal="flow.fpz"), TypeError, "proposal to be a flowprior Prior"),
        (dict(proposal=fp.GaussianPrior([0.0, 0.0], np.eye(2))), ValueError, "prior's params"),
        (dict(prior=None), TypeError, "prior to be a flowprior Prior"),
        (dict(n_eff=0), ValueError, "n_eff > 0"),
        (dict(n_eff="many"), TypeError, "n_eff to be a number"),
        (dict(target_logZerr=-0.1), ValueError, "target_logZerr > 0"),
        (dict(beta=1.0), ValueError, "0 <= beta < 1"),
        (dict(beta=-0.1), ValueError, "0 <= beta < 1"),
        (dict(max_ncall=0), ValueError, "max_ncall > 0"),
        (dict(npool=0), ValueError, "npool > 0"),
        (dict(min_draws=0), ValueError, "min_draws > 0"),
    ]
    for change, error, match in cases:
        kwargs = {"prior": BOX, "proposal": q, "seed": 0, **change}
        prior, proposal = kwargs.pop("prior"), kwargs.pop("proposal")
        with pytest.raises(error, match=match):
            fp.importance(like, prior, proposal, **kwargs)
    with pytest.raises(TypeError, match="callable loglikelihood"):
        fp.importance(42, BOX, q)
    with pytest.raises(TypeError):
        fp.importance(like, BOX, q, neff=100)
    assert like.n == 0


def _nan(theta):
    return float("nan")


@pytest.mark.parametrize("npool", [None, 2])
def test_nan_likelihood_raises(npool):
    q = gauss([0.0, 0.0], np.eye(2))
    with pytest.raises(fp.LikelihoodValueError, match="expected a finite log-likelihood or -inf .*; got nan at theta"):
        fp.importance(_nan, BOX, q, seed=0, npool=npool)
