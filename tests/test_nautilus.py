"""fp.run with nautilus: a flow prior as its prior transform, calls counted, weighted anesthetic samples."""

import multiprocessing

import numpy as np
import pytest

import flowprior as fp

from .helpers import BOX, TRUTH_BOX, MapOnly, assert_within, gaussian_loglike, wide_loglike

pytest.importorskip("nautilus")

#: Cheap: one network, few live points, a small effective sample (logZerr ~ 0.05).
CHEAP = {"nlive": 100, "n_eff": 400, "n_networks": 1}


def counting(f):
    calls = []
    return (lambda t: calls.append(1) or f(t)), calls


@pytest.fixture(scope="module")
def flow_run(flow2):
    like, calls = counting(wide_loglike)
    return fp.run(like, flow2, sampler="nautilus", seed=3, **CHEAP), len(calls)


@pytest.mark.slow
def test_nautilus_with_a_flow_prior_gives_the_evidence_under_the_flow(flow2, flow_run):
    res, _ = flow_run
    like = np.exp(wide_loglike(flow2.sample(100_000, seed=3)))  # E_q[L]: the evidence under the flow
    truth, mc_err = np.log(like.mean()), like.std() / like.mean() / np.sqrt(like.size)
    assert_within(res.logZ, truth, np.hypot(res.logZerr, mc_err))
    assert res.sampler == "nautilus" and res.stopped_by == "the sampler's own rules"
    assert 0.02 < res.logZerr < 0.1  # 1 / sqrt(n_eff) with n_eff >= 400


def test_nautilus_counts_every_call_and_returns_weighted_samples_named_by_the_params(flow2, flow_run):
    res, calls = flow_run
    assert res.ncall == calls == res.raw.n_like
    names = list(res.samples.columns.get_level_values(0))
    assert names == list(flow2.params) + ["logL"]
    w = res.samples.get_weights()
    assert np.all(w > 0) and w.max() == 1.0
    assert (w.sum() ** 2 / (w**2).sum()) >= CHEAP["n_eff"]  # nautilus's n_eff, from the weights we return
    assert np.all(np.isfinite(flow2.log_prob(res.samples[list(flow2.params)].to_numpy())))  # in the support


@pytest.mark.slow
def test_nautilus_with_the_same_seed_gives_the_same_result():
    a = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=11, **CHEAP)
    b = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=11, **CHEAP)
    assert a.logZ == b.logZ and a.ncall == b.ncall
    assert_within(a.logZ, TRUTH_BOX, a.logZerr)


@pytest.mark.slow
def test_nautilus_keeps_the_exploration_phase_only_when_asked():
    res = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=12, **CHEAP)
    assert res.raw.discard_exploration is True
    kept = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=12, discard_exploration=False, **CHEAP)
    assert kept.raw.discard_exploration is False


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["npool", "user pool"])
def test_nautilus_on_a_pool_counts_the_calls_in_the_workers(kind):
    if kind == "npool":
        res = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=13, npool=2, start_method="fork", **CHEAP)
    else:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            res = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=13, pool=pool, **CHEAP)
    assert res.ncall == res.raw.n_like > 0
    assert_within(res.logZ, TRUTH_BOX, res.logZerr)


def test_nautilus_stopped_by_its_call_limit_says_so():
    res = fp.run(gaussian_loglike, BOX, sampler="nautilus", seed=14, n_like_max=500, **CHEAP)
    assert res.stopped_by == "n_like_max or timeout"


# --- errors ----------------------------------------------------------------------
def test_unknown_nautilus_option_raises_before_any_call():
    like, calls = counting(gaussian_loglike)
    with pytest.raises(TypeError, match="nautilus does not accept option\\(s\\) walks; accepted: .*n_eff"):
        fp.run(like, BOX, sampler="nautilus", nlive=50, walks=3)
    assert calls == []


def test_nautilus_refuses_one_dimension():
    with pytest.raises(ValueError, match="expected a prior of at least 2 dimensions for nautilus; got 1"):
        fp.run(lambda t: 0.0, fp.UniformPrior([0.0], [1.0]), sampler="nautilus", nlive=50)


def test_nautilus_refuses_a_pool_without_a_size():
    with pytest.raises(ValueError, match="expected a pool that gives its size .* for nautilus; got a MapOnly"):
        fp.run(gaussian_loglike, BOX, sampler="nautilus", pool=MapOnly())


def test_two_stage_refuses_nautilus_which_gives_no_dead_points():
    with pytest.raises(ValueError, match="expected sampler in \\('dynesty', 'polychord'\\); got 'nautilus'"):
        fp.two_stage(gaussian_loglike, BOX, sampler="nautilus")
