"""Superposition repartitioning keeps the evidence exact; the mixture transform is exact."""

import numpy as np
import pytest
from scipy import stats
from scipy.stats import multivariate_normal

import flowprior as fp

from .nested_checks import live_to_dead_evidence_ratio

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
    rng = np.random.default_rng(4)
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


@pytest.mark.parametrize("beta, scale", [(0.0, 2.0), (0.3, 0.5)])
def test_repartitioned_run_has_the_original_evidence(beta, scale):
    # An offset proposal.  The narrow one (scale 0.5) is only safe with beta > 0:
    # with beta = 0, L pi / q grows without bound in q's tails.
    q = fp.GaussianPrior(MU + 0.05, scale * COV)
    rp = fp.repartition(gauss3, BOX3, q, beta=beta)
    res = fp.run(rp.loglikelihood, rp.prior, nlive=100, seed=7)
    assert abs(res.logZ - TRUTH3) < 3 * res.logZerr


def test_several_proposals_with_weights():
    rp = fp.repartition(gauss3, BOX3, [fp.GaussianPrior(MU, COV), fp.GaussianPrior(MU - 0.1, 2 * COV)],
                        beta=0.1, weights=[3, 1])
    np.testing.assert_allclose(rp.prior.weights, [0.1, 0.675, 0.225])
    res = fp.run(rp.loglikelihood, rp.prior, nlive=150, seed=8)
    assert abs(res.logZ - TRUTH3) < 3 * res.logZerr


@pytest.mark.slow
def test_two_stage_recovers_the_analytic_evidence_and_posterior():
    tw = fp.two_stage(gauss3, BOX3, nlive_low=50, nlive_high=200, beta=0.1, seed=9,
                      flow_options={"hidden_layers": (32, 32), "number_networks": 3, "epochs": 150})
    assert abs(tw.logZ - TRUTH3) < 3 * tw.logZerr
    assert tw.ncall == tw.low.ncall + tw.high.ncall
    x = tw.samples[list(BOX3.params)].to_numpy()
    w = tw.samples.get_weights()
    mean = np.average(x, axis=0, weights=w)
    cov = np.cov(x.T, aweights=w)
    n_eff = w.sum() ** 2 / np.sum(w**2)
    np.testing.assert_array_less(np.abs(mean - MU), 4 * np.sqrt(np.diag(COV) / n_eff))
    np.testing.assert_allclose(cov, COV, atol=4 * np.sqrt(2 / n_eff) * np.max(np.diag(COV)))
    d = tw.diagnostics
    branches = (d["posterior_fraction_prior_branch"] + d["posterior_fraction_flow_branch"]
                + d["posterior_fraction_gaussian_branch"])
    assert branches == pytest.approx(1.0)
    assert d["posterior_fraction_flow_branch"] > 0.3
    # exp(-KL(P || q)) <= 1, up to the Monte Carlo error of the estimate: the
    # stage-1 weighted mean of log(P/q) over its effective samples, and the
    # stage-2 logZ it uses.
    theta = tw.low.samples[list(BOX3.params)].to_numpy()
    p = tw.low.samples.get_weights() / tw.low.samples.get_weights().sum()
    log_ratio = (tw.low.samples.logL.to_numpy() + BOX3.log_prob(theta) - tw.logZ
                 - tw.flow.log_prob(theta))[p > 0]
    p = p[p > 0]
    spread = np.sqrt(np.sum(p * (log_ratio - np.sum(p * log_ratio)) ** 2))
    err = np.hypot(spread * np.sqrt(np.sum(p**2)), tw.logZerr)
    assert np.log(d["importance_ess_fraction"]) == pytest.approx(-np.sum(p * log_ratio), abs=1e-9)
    assert np.log(0.2) < np.log(d["importance_ess_fraction"]) < 3 * err


def test_two_stage_recovers_a_bimodal_evidence_and_its_mode_weights():
    from flowprior.problems import BimodalProblem

    problem = BimodalProblem(2, weights=(0.75, 0.25))
    # One flow trained on the stage-1 posterior itself (flow_beta=1), whose mode weights it must follow.
    tw = fp.two_stage(problem.loglikelihood, problem.prior, nlive_low=60, nlive_high=250, seed=4,
                      flow_beta=1.0, n_flows=1,
                      flow_options={"hidden_layers": (16, 16), "number_networks": 2, "epochs": 150})
    assert tw.diagnostics["n_clusters"] == 2
    assert abs(tw.logZ - problem.logZ) < 3 * tw.logZerr
    x = tw.samples[list(problem.prior.params)].to_numpy()
    w = tw.samples.get_weights()
    n_eff = w.sum() ** 2 / np.sum(w**2)
    left = np.sum(w[x.sum(axis=1) < 0]) / w.sum()
    assert abs(left - 0.75) < 3 * np.sqrt(0.75 * 0.25 / n_eff)
    # The piecewise flow's cluster weights follow the stage-1 posterior's mode weights.
    assert sorted(tw.flow.weights) == pytest.approx([0.25, 0.75], abs=0.1)


def test_two_stage_warns_when_a_separated_mode_was_merged():
    from flowprior.problems import BimodalProblem

    problem = BimodalProblem(2, weights=(0.9, 0.1))
    with pytest.warns(RuntimeWarning, match="were merged into the nearest, so one flow spans them, and stage 2 "
                                            "had to compress D_KL"):
        tw = fp.two_stage(problem.loglikelihood, problem.prior, nlive_low=50, nlive_high=100, seed=1, flow_beta=1.0,
                          flow_options={"hidden_layers": (8, 8), "number_networks": 2, "epochs": 20,
                                        "min_cluster_size": 150})
    assert tw.diagnostics["n_clusters_found"] == 2 and tw.diagnostics["n_clusters"] == 1
    assert tw.diagnostics["proposal_D_KL"] > 1.0
    assert abs(tw.logZ - problem.logZ) < 3 * tw.logZerr


def test_two_stage_only_logs_a_merge_that_did_no_harm(caplog):
    import warnings

    # One Gaussian cut in two by k-means and merged back: one flow on one mode.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with caplog.at_level("INFO", logger="flowprior.two_stage"):
            tw = fp.two_stage(gauss3, BOX3, nlive_low=50, nlive_high=100, seed=5,
                              flow_options={"n_clusters": 2, "min_cluster_size": 10**6, "hidden_layers": (16, 16),
                                            "number_networks": 2, "epochs": 100})
    assert tw.diagnostics["n_clusters_found"] == 2 and tw.diagnostics["n_clusters"] == 1
    assert tw.diagnostics["proposal_D_KL"] < 1.0 and tw.diagnostics["warnings"] == []
    assert "were merged into the nearest, so one flow spans them; stage 2 compressed only" in caplog.text


def test_two_stage_with_a_single_maf():
    tw = fp.two_stage(gauss3, BOX3, nlive_low=40, nlive_high=80, flow="maf", n_flows=1, flow_scale=1.2,
                      gaussian_weight=0.0, seed=2,
                      flow_options={"hidden_layers": (8, 8), "number_networks": 2, "epochs": 20})
    assert isinstance(tw.flow, fp.MAF) and len(tw.repartitioned.prior.components) == 2
    assert "n_clusters" not in tw.diagnostics
    # Stage 2 proposes from the trained flow with its base widened by flow_scale.
    theta = tw.flow.sample(50, seed=3)
    np.testing.assert_allclose(tw.repartitioned.prior.components[1].log_prob(theta),
                               tw.flow.widened(1.2).log_prob(theta), rtol=1e-12)


def test_two_stage_flow_scale_one_proposes_the_trained_flow():
    tw = fp.two_stage(gauss3, BOX3, nlive_low=40, nlive_high=80, flow="maf", n_flows=1, flow_scale=1.0, seed=2,
                      flow_options={"hidden_layers": (8, 8), "number_networks": 2, "epochs": 20})
    assert tw.repartitioned.prior.components[1] is tw.flow


def test_two_stage_proposes_an_ensemble_of_flows_trained_on_the_tempered_posterior():
    tw = fp.two_stage(gauss3, BOX3, nlive_low=50, nlive_high=150, flow="maf", n_flows=2, flow_beta=0.5,
                      flow_scale=1.0, gaussian_weight=0.0, seed=3,
                      flow_options={"hidden_layers": (16, 16), "number_networks": 2, "epochs": 100})
    components = tw.repartitioned.prior.components
    assert isinstance(tw.flow, fp.Mixture) and components[1:] == tw.flow.components
    theta = tw.flow.sample(4000, seed=4)
    # Two seeds, two different flows: the ensemble is not one flow twice.
    assert np.max(np.abs(components[1].log_prob(theta) - components[2].log_prob(theta))) > 0.05
    # A Gaussian likelihood tempered to beta = 0.5 has twice the covariance;
    # the untempered stage-1 posterior would give a ratio near 1.
    ratio = np.diag(np.cov(theta.T)) / np.diag(COV)
    assert np.all((ratio > 1.5) & (ratio < 2.7)), ratio
    assert abs(tw.logZ - TRUTH3) < 3 * tw.logZerr


SMALL_TWO_STAGE = dict(nlive_low=40, nlive_high=100, flow="maf", n_flows=1, seed=2,
                       flow_options={"hidden_layers": (8, 8), "number_networks": 2, "epochs": 20})


def test_two_stage_stage2_stops_by_the_live_points_mean_evidence():
    tw = fp.two_stage(gauss3, BOX3, **SMALL_TWO_STAGE)
    # PolyChord's rule: the live points' evidence X <L~_live> just below 0.66 of the dead points'.
    assert 0.9 * 0.66 < live_to_dead_evidence_ratio(tw.high.raw) < 0.66
    assert abs(tw.logZ - TRUTH3) < 3 * tw.logZerr
    # dynesty's own rule (largest live likelihood) on the same stage 1, flow and stage-2 seed runs longer.
    plain = fp.two_stage(gauss3, BOX3, high_options={"precision_criterion": None}, **SMALL_TWO_STAGE)
    assert plain.high.raw["niter"] > tw.high.raw["niter"]


def test_two_stage_dynamic_stage2_keeps_its_own_stopping_rules():
    tw = fp.two_stage(gauss3, BOX3, high_options={"dynamic": True, "maxbatch": 0}, **SMALL_TWO_STAGE)
    assert abs(tw.logZ - TRUTH3) < 3 * tw.logZerr


# --- errors ----------------------------------------------------------------------
def test_two_stage_bad_inflation_raises():
    with pytest.raises(ValueError, match="expected positive gaussian_inflation factors"):
        fp.two_stage(gauss3, BOX3, gaussian_inflation=(4.0, -1.0))


def test_two_stage_flow_scale_below_one_raises():
    with pytest.raises(ValueError, match="expected flow_scale >= 1; got 0.5"):
        fp.two_stage(gauss3, BOX3, flow_scale=0.5)


def test_two_stage_flow_beta_out_of_range_raises():
    with pytest.raises(ValueError, match="expected 0 < flow_beta <= 1; got 0.0"):
        fp.two_stage(gauss3, BOX3, flow_beta=0.0)


def test_two_stage_n_flows_below_one_raises():
    with pytest.raises(ValueError, match="expected n_flows >= 1; got 0"):
        fp.two_stage(gauss3, BOX3, n_flows=0)


def test_two_stage_unknown_flow_raises():
    with pytest.raises(ValueError, match="expected flow in"):
        fp.two_stage(gauss3, BOX3, flow="realnvp")


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


def test_two_stage_nlive_order_raises():
    with pytest.raises(ValueError, match="expected nlive_low < nlive_high; got 500 and 100"):
        fp.two_stage(gauss3, BOX3, nlive_low=500, nlive_high=100)


def test_two_stage_gaussian_weight_raises():
    with pytest.raises(ValueError, match="expected 0 <= gaussian_weight < 1; got 1.5"):
        fp.two_stage(gauss3, BOX3, gaussian_weight=1.5)


def test_two_stage_non_prior_raises():
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior"):
        fp.two_stage(gauss3, "box")
