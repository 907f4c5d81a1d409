"""fp.reweight: the evidence and posterior of a slow likelihood from samples of a fast one."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.problems import MoreDataPair

from .helpers import Counter, assert_within

FLOW = dict(hidden_layers=(32, 32), number_networks=3, epochs=200, patience=20)



@pytest.fixture(scope="module")
def inside():
    """B's posterior 0.7 times as wide as A's and centred on it."""
    return MoreDataPair(3, ratio=0.7, shift=0.0)


def test_more_data_pair_is_analytic(inside):
    # B's evidence by exact importance sampling from B's own posterior: every weight is Z_B.
    x = np.random.default_rng(0).multivariate_normal(inside.mean_B, inside.cov_B, size=50)
    from scipy.stats import multivariate_normal

    logw = np.array([inside.loglikelihood_B(t) for t in x]) + inside.prior.log_prob(x) \
        - multivariate_normal(inside.mean_B, inside.cov_B).logpdf(x)
    assert np.allclose(logw, inside.logZ_B, atol=1e-9)
    with pytest.raises(ValueError, match="0 < ratio < 1"):
        MoreDataPair(2, ratio=1.0)


@pytest.mark.slow
def test_reweighting_array_samples(inside):
    like = Counter(inside.loglikelihood_B)
    samples_A = inside.posterior_sample_A(4000, seed=1)
    res = fp.reweight(like, samples_A, prior=inside.prior, n_eff=1000, seed=0, flow_options=FLOW)
    assert_within(res.logZ, inside.logZ_B, res.logZerr)
    assert res.n_eff >= 1000 and res.ncall == like.n <= 3 * 1000
    theta = res.samples[list(inside.prior.params)].to_numpy()
    mean = np.average(theta, weights=res.samples.get_weights(), axis=0)
    assert np.all(np.abs(mean - inside.mean_B) < 0.2 * np.sqrt(np.diag(inside.cov_B)))
    assert isinstance(res.proposal, fp.MAF) and res.diagnostics["efficiency"] == res.n_eff / res.ncall


@pytest.mark.slow
def test_reweighting_nested_samples_of_A(inside):
    run_A = fp.run(inside.loglikelihood_A, inside.prior, nlive=150, seed=2)
    res = fp.reweight(inside.loglikelihood_B, run_A.samples, prior=inside.prior, n_eff=800, seed=3,
                      flow_options=FLOW)
    assert_within(res.logZ, inside.logZ_B, res.logZerr)
    # A pre-trained flow on P_A is used as it is: no training, same draws for the same seed.
    again = fp.reweight(inside.loglikelihood_B, None, prior=inside.prior, proposal=res.proposal, n_eff=800, seed=3)
    assert again.logZ == res.logZ and again.ncall == res.ncall


@pytest.mark.slow
def test_posterior_of_B_beyond_A_warns():
    # B's posterior 4 of A's standard deviations away: the flow on A barely reaches it.
    far = MoreDataPair(2, ratio=0.5, shift=4.0)
    with pytest.warns(RuntimeWarning, match="heavy tail|defensive prior share"):
        fp.reweight(far.loglikelihood_B, far.posterior_sample_A(3000, seed=0), prior=far.prior, n_eff=300,
                    max_ncall=30000, seed=0, flow_options=FLOW)


def test_bad_input_is_rejected_before_training(inside):
    like = Counter(inside.loglikelihood_B)
    x = inside.posterior_sample_A(100, seed=0)
    with pytest.raises(TypeError, match="flow_options among"):
        fp.reweight(like, x, prior=inside.prior, flow_options={"epochs": 10, "layers": 3})
    with pytest.raises(TypeError, match="prior to be a flowprior Prior"):
        fp.reweight(like, x, prior="box")
    with pytest.raises(TypeError, match="callable loglikelihood_B"):
        fp.reweight(3.0, x, prior=inside.prior)
    with pytest.raises(TypeError, match="proposal to be a flowprior Prior"):
        fp.reweight(like, x, prior=inside.prior, proposal="flow.fpz")
    with pytest.raises(ValueError, match="expected 3 params"):
        fp.reweight(like, x, prior=inside.prior, params=["p0", "p1"])
    run_A = fp.run(inside.loglikelihood_A, inside.prior, nlive=20, seed=0, dlogz=10.0)
    with pytest.raises(ValueError, match="unknown \\['q'\\]"):
        fp.reweight(like, run_A.samples, prior=inside.prior, params=["p0", "p1", "q"])
    with pytest.raises(ValueError, match="got both"):
        fp.reweight(like, run_A.samples, prior=inside.prior, weights=np.ones(len(run_A.samples)))
    with pytest.raises(TypeError):
        fp.reweight(like, x, prior=inside.prior, neff=10)
    assert like.n == 0
