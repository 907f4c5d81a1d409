"""fp.run with dynesty and (a stand-in for) PolyChord: evidences, counting, pools, errors."""

import os
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import flowprior as fp
from flowprior.samplers.results import birth_contours, logZ_error

from . import polychord_standin
from .helpers import (
    BOX,
    TRUTH_BOX,
    MapOnly,
    assert_calibrated,
    assert_within,
    gaussian_loglike,
    live_to_dead_evidence_ratio,
    wide_loglike,
)


@pytest.fixture()
def polychord(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypolychord", polychord_standin)
    polychord_standin.CALLS.update(prior=0, prior_shapes=set())
    return polychord_standin


def within_tolerance(res, truth):
    assert_within(res.logZ, truth, res.logZerr)


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True])
def test_dynesty_analytic_evidence(dynamic):
    opts = {"dynamic": True, "maxbatch": 1} if dynamic else {}
    res = fp.run(gaussian_loglike, BOX, nlive=150, seed=1, **opts)
    within_tolerance(res, TRUTH_BOX)
    assert res.sampler == "dynesty" and res.wall_time > 0
    assert list(res.samples.columns.get_level_values(0)[:2]) == ["a", "b"]
    assert {"logL", "logL_birth", "nlive"} <= set(res.samples.columns.get_level_values(0))


def test_polychord_standin_analytic_evidence(polychord):
    res = fp.run(gaussian_loglike, BOX, sampler="polychord", nlive=100, seed=2)
    within_tolerance(res, TRUTH_BOX)
    assert polychord.CALLS["prior_shapes"] == {(2,)}  # one point at a time


@pytest.fixture(scope="module")
def flow_truth(flow2):
    # The evidence of L under the flow prior is E_q[L]: Monte Carlo from the
    # flow itself is exact up to its (here negligible) sampling error.
    like = np.exp(wide_loglike(flow2.sample(100_000, seed=3)))
    return np.log(like.mean()), like.std() / like.mean() / np.sqrt(like.size)


@pytest.mark.slow
def test_dynesty_with_flow_prior(flow2, flow_truth):
    truth, mc_err = flow_truth
    res = fp.run(wide_loglike, flow2, nlive=150, seed=4)
    assert_within(res.logZ, truth, np.hypot(res.logZerr, mc_err))


def test_polychord_standin_with_flow_prior(flow2, flow_truth, polychord):
    truth, mc_err = flow_truth
    res = fp.run(wide_loglike, flow2, sampler="polychord", nlive=100, seed=5)
    assert_within(res.logZ, truth, np.hypot(res.logZerr, mc_err))


def test_ncall_counts_every_call_exactly():
    calls = []

    def loglike(theta):
        calls.append(1)
        return gaussian_loglike(theta)

    res = fp.run(loglike, BOX, nlive=50, seed=6)
    assert res.ncall == len(calls)
    assert res.ncall >= len(res.samples)


def test_same_seed_same_result():
    a = fp.run(gaussian_loglike, BOX, nlive=50, seed=7)
    b = fp.run(gaussian_loglike, BOX, nlive=50, seed=7)
    assert a.logZ == b.logZ and a.ncall == b.ncall


@pytest.fixture(scope="module")
def serial_flow_run(flow2):
    return fp.run(wide_loglike, flow2, nlive=100, seed=8)


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pool_matches_serial_within_errors(flow2, flow_truth, serial_flow_run, start_method):
    truth, mc_err = flow_truth
    res = fp.run(wide_loglike, flow2, nlive=100, seed=8, npool=2, start_method=start_method)
    assert_within(res.logZ, serial_flow_run.logZ, np.hypot(res.logZerr, serial_flow_run.logZerr))
    assert_within(res.logZ, truth, np.hypot(res.logZerr, mc_err))
    # Calls in the workers are counted too: every dead point cost at least one.
    assert res.ncall >= len(res.samples)


class _LoggedLikelihood:
    """Appends one byte per call to a file, from whichever process makes the call (O_APPEND is atomic)."""

    def __init__(self, path):
        self.path = str(path)

    def __call__(self, theta):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        return gaussian_loglike(theta)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["threads", "fork", "spawn"])
def test_a_user_pool_counts_every_call_in_its_workers_exactly(kind, tmp_path):
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    log = tmp_path / "calls"
    if kind == "threads":
        pool = ThreadPoolExecutor(2)
    else:
        pool = multiprocessing.get_context(kind).Pool(2)
    try:
        res = fp.run(_LoggedLikelihood(log), BOX, nlive=50, seed=6, pool=pool)
    finally:
        if kind == "threads":
            pool.shutdown()
        else:
            pool.close()
            pool.join()
    assert res.ncall == log.stat().st_size >= len(res.samples)
    assert_within(res.logZ, TRUTH_BOX, res.logZerr)


@pytest.mark.parametrize("options, error, match", [
    (dict(pool=2), TypeError, r"expected pool to be an object with a map method \(for 2 processes, use npool=2\)"),
    (dict(pool=MapOnly()), ValueError, "expected queue_size for a pool that does not give its size"),
    (dict(pool=MapOnly(), queue_size=2, npool=2), ValueError, "expected npool or pool, not both"),
    (dict(pool=MapOnly(), queue_size=2, sampler="polychord"), ValueError, "expected pool only with sampler in"),
])
def test_a_bad_pool_is_refused_before_any_call(options, error, match):
    calls = []
    with pytest.raises(error, match=match):
        fp.run(lambda t: calls.append(1) or gaussian_loglike(t), BOX, nlive=50, seed=6, **options)
    assert calls == []


def test_a_pool_with_only_map_runs_given_its_queue_size():
    calls = []
    res = fp.run(lambda t: calls.append(1) or gaussian_loglike(t), BOX, nlive=50, seed=6, pool=MapOnly(),
                 queue_size=3)
    assert res.ncall == len(calls) > 0


def _worker_check(payload):
    flow, u = payload
    theta = flow.prior_transform(u)
    return theta, any(m.split(".")[0] in ("tensorflow", "tf_keras") for m in sys.modules)


def test_flow_in_spawned_worker_is_deterministic_and_tf_free(flow2):
    import multiprocessing

    u = np.random.default_rng(9).random((4, 2))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        out = pool.map(_worker_check, [(flow2, row) for row in u])
    for (theta, tf_loaded), row in zip(out, u):
        np.testing.assert_array_equal(theta, flow2.prior_transform(row))
        assert tf_loaded is False


def test_polychord_writes_to_a_temporary_directory_not_cwd(polychord, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fp.run(gaussian_loglike, BOX, sampler="polychord", nlive=30, seed=10, precision_criterion=0.1)
    assert os.listdir(tmp_path) == []


def test_polychord_removes_the_temporary_directory_it_made(polychord, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = fp.run(gaussian_loglike, BOX, sampler="polychord", nlive=30, seed=10, precision_criterion=0.1)
    assert os.listdir(tmp_path) == [] and np.isfinite(res.logZ)


@pytest.mark.parametrize("option, match", [(dict(write_dead=False), "expected write_dead=True"),
                                           (dict(write_paramnames=True), "expected write_paramnames=False")])
def test_polychord_options_that_would_lose_the_result_are_refused(polychord, option, match):
    calls = []
    with pytest.raises(ValueError, match=match):
        fp.run(lambda t: calls.append(1) or gaussian_loglike(t), BOX, sampler="polychord", nlive=30, **option)
    assert calls == []


def test_polychord_base_dir_is_honoured_and_holds_chains_anesthetic_reads(polychord, tmp_path):
    from anesthetic import read_chains

    res = fp.run(gaussian_loglike, BOX, sampler="polychord", nlive=30, seed=11, base_dir=str(tmp_path / "out"),
                 precision_criterion=0.1)
    assert (tmp_path / "out" / "flowprior.stats").exists()
    again = read_chains(str(tmp_path / "out" / "flowprior"))
    assert list(again.columns.get_level_values(0)[:2]) == ["a", "b"] and float(again.logZ()) == res.logZ


def test_birth_contours_reproduce_nlive():
    from anesthetic import NestedSamples

    rng = np.random.default_rng(12)
    logL = np.sort(rng.normal(size=300))
    nlive = np.r_[np.full(100, 20), np.full(100, 35), np.arange(100, 0, -1)]
    birth = birth_contours(logL, nlive)
    samples = NestedSamples(data=rng.random((300, 1)), logL=logL, logL_birth=birth)
    np.testing.assert_array_equal(samples.nlive.to_numpy(), nlive)


@pytest.mark.slow
def test_logZ_error_matches_skilling_estimate():
    res = fp.run(gaussian_loglike, BOX, nlive=200, seed=13)
    skilling = np.sqrt(float(res.samples.D_KL()) / 200)
    assert logZ_error(res.samples, seed=0) == pytest.approx(skilling, rel=0.2)


@pytest.mark.parametrize("precision", [0.05, 0.66])
def test_dynesty_precision_criterion_stops_when_live_points_hold_that_fraction(precision):
    # The rule alone (tail_tolerance=None): the tail watch may hold a run past it (test_termination.py).
    res = fp.run(gaussian_loglike, BOX, nlive=200, seed=14, precision_criterion=precision, tail_tolerance=None)
    # At the stop, the live points hold Z_live = X <L_live> < p Z_dead, and
    # not much less (one iteration shrinks X by 0.5%).
    assert 0.9 * precision < live_to_dead_evidence_ratio(res.raw) < precision
    within_tolerance(res, TRUTH_BOX)


@pytest.mark.slow
def test_dynesty_precision_criterion_stops_earlier_than_dlogz():
    # The rules alone: on this Gaussian the tail watch holds both runs to the same later iteration.
    default = fp.run(gaussian_loglike, BOX, nlive=200, seed=15, tail_tolerance=None)
    loose = fp.run(gaussian_loglike, BOX, nlive=200, seed=15, precision_criterion=0.66, tail_tolerance=None)
    assert loose.raw["niter"] < default.raw["niter"]


@pytest.mark.slow
def test_dynesty_error_bars_cover_the_truth_over_many_seeds():
    z = [(r.logZ - TRUTH_BOX) / r.logZerr for r in (fp.run(gaussian_loglike, BOX, nlive=100, seed=100 + s)
                                                    for s in range(20))]
    assert_calibrated(z)


def bimodal_loglike(theta):
    return float(np.logaddexp(np.log(0.5) + multivariate_normal.logpdf(theta, [-3.0, -3.0], 0.01 * np.eye(2)),
                              np.log(0.5) + multivariate_normal.logpdf(theta, [3.0, 3.0], 0.01 * np.eye(2))))


def test_min_efficiency_stops_a_run_when_the_check_agrees():
    asked = []

    def check(live_u, live_logl):
        asked.append((live_u.shape, live_logl.shape))
        return True

    full = fp.run(bimodal_loglike, BOX, nlive=30, seed=16, bound="multi", bootstrap=0, enlarge=1.25)
    res = fp.run(bimodal_loglike, BOX, nlive=30, seed=16, bound="multi", bootstrap=0, enlarge=1.25,
                 min_efficiency=0.3, stop_check=check)
    assert res.stopped_by == "min_efficiency" and full.stopped_by == "the sampler's own rules"
    assert asked == [((30, 2), (30,))] and res.ncall < full.ncall
    # Stopped early, the run still ends with its live points: a usable (rougher) evidence.
    assert res.samples.nlive.to_numpy()[-1] == 1


def test_min_efficiency_does_not_stop_a_run_the_check_refuses():
    asked = []
    res = fp.run(bimodal_loglike, BOX, nlive=30, seed=16, bound="multi", bootstrap=0, enlarge=1.25,
                 min_efficiency=0.3, stop_check=lambda u, logl: asked.append(1) and False)
    full = fp.run(bimodal_loglike, BOX, nlive=30, seed=16, bound="multi", bootstrap=0, enlarge=1.25)
    assert res.stopped_by == "the sampler's own rules" and len(asked) >= 1
    # Asked at most once every nlive iterations.
    assert len(asked) <= res.raw["niter"] / 30 + 1
    assert res.logZ == pytest.approx(full.logZ, abs=1.0)


@pytest.mark.parametrize("bad", [0.0, 1.0, np.nan])
def test_bad_min_efficiency_raises(bad):
    with pytest.raises(ValueError, match="expected 0 < min_efficiency < 1; got"):
        fp.run(gaussian_loglike, BOX, nlive=50, min_efficiency=bad)


def test_bad_stop_check_raises():
    with pytest.raises(TypeError, match="expected a callable stop_check; got int"):
        fp.run(gaussian_loglike, BOX, nlive=50, min_efficiency=0.1, stop_check=3)


# --- errors ----------------------------------------------------------------------
def test_unknown_dynesty_option_raises():
    with pytest.raises(TypeError, match="dynesty \\(static\\) does not accept option\\(s\\) nliv; accepted:"):
        fp.run(gaussian_loglike, BOX, nlive=50, nliv=3)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_bad_precision_criterion_raises(bad):
    with pytest.raises(ValueError, match="expected precision_criterion > 0; got"):
        fp.run(gaussian_loglike, BOX, nlive=50, precision_criterion=bad)


def test_unknown_polychord_option_raises(polychord):
    with pytest.raises(TypeError, match="polychord does not accept option\\(s\\) walks"):
        fp.run(gaussian_loglike, BOX, sampler="polychord", nlive=50, walks=3)


@pytest.mark.parametrize("sampler, module, match", [
    ("polychord", "pypolychord", "pypolychord, which is not on PyPI"),
    ("dynesty", "dynesty", "sampler='dynesty' needs dynesty"),
    ("nautilus", "nautilus", "sampler='nautilus' needs nautilus: pip install"),
])
def test_a_missing_sampler_raises_a_helpful_error(sampler, module, match, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=match):
        fp.run(gaussian_loglike, BOX, sampler=sampler, nlive=50)


def test_unknown_sampler_raises():
    with pytest.raises(ValueError, match="expected sampler in"):
        fp.run(gaussian_loglike, BOX, sampler="multinest")


def test_too_few_live_points_raise():
    with pytest.raises(ValueError, match="expected nlive > ndims \\(2\\); got 2"):
        fp.run(gaussian_loglike, BOX, nlive=2)


def test_npool_with_polychord_raises():
    with pytest.raises(ValueError, match="expected npool only with sampler in"):
        fp.run(gaussian_loglike, BOX, sampler="polychord", npool=2)


def test_non_prior_raises():
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got function"):
        fp.run(gaussian_loglike, lambda u: u)


def test_non_callable_likelihood_raises():
    with pytest.raises(TypeError, match="expected a callable loglikelihood; got int"):
        fp.run(3, BOX)



def test_dynesty_left_to_its_own_mcmc_choice_warns_that_logzerr_leaves_out_its_bias():
    # From MCMC_DIMS dimensions dynesty's own choice is random walks (slices beyond 20); a sample= given is a choice.
    from flowprior.samplers.dynesty import MCMC_DIMS

    box = fp.UniformPrior(-np.ones(MCMC_DIMS), np.ones(MCMC_DIMS))

    def like(t):
        return -0.5 * float(np.sum(t**2))

    with pytest.warns(RuntimeWarning, match=r"random walks.*logZerr does not include the bias"):
        fp.run(like, box, nlive=30, seed=0, maxiter=40, tail_tolerance=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fp.run(like, box, nlive=30, seed=0, maxiter=40, tail_tolerance=None, sample="rwalk")
        small = fp.UniformPrior(-np.ones(MCMC_DIMS - 1), np.ones(MCMC_DIMS - 1))
        fp.run(like, small, nlive=30, seed=0, maxiter=40, tail_tolerance=None)


@pytest.mark.parametrize("limit", [{"maxiter": 60}, {"maxcall": 700}])
def test_a_static_dynesty_run_ended_by_its_limit_says_so(limit):
    res = fp.run(gaussian_loglike, BOX, nlive=30, seed=0, **limit)
    assert res.stopped_by == next(iter(limit))
    assert fp.run(gaussian_loglike, BOX, nlive=30, seed=0).stopped_by == "the sampler's own rules"
