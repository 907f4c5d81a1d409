"""When a run may stop: the tail of its posterior-weight profile (flowprior.samplers.termination)."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.problems import named
from flowprior.samplers.termination import TailWatch, missed_tail, tail_fraction

from .helpers import first_seed

NLIVE = 100


def profile(rate, nats=6.0, log_f0=0.0, nlive=NLIVE):
    """Dead points whose weights per nat, f = L X, fall at ``rate`` per nat: ``(logL, logX)``."""
    i = np.arange(int(nats * nlive))
    logX = -i / nlive
    return log_f0 - rate * (-logX) - logX, logX


def test_a_rising_profile_has_no_bounded_tail():
    logL, logX = profile(rate=-0.3)
    assert tail_fraction(logL, logX, NLIVE, logZ_dead=0.0)[1] == np.inf


def test_the_slope_is_fitted_after_the_peak_only():
    # A profile that rises for a nat, then falls at 0.8 per nat for one more: a fit across the peak
    # would read it as flat; after the peak it is what it is.
    rise_L, rise_X = profile(rate=-1.0, nats=1.0)
    fall_L, fall_X = profile(rate=0.8, nats=1.0, log_f0=1.0)
    logL, logX = np.r_[rise_L, fall_L[1:] + 1.0], np.r_[rise_X, fall_X[1:] - 1.0]
    r, _ = tail_fraction(logL, logX, NLIVE, logZ_dead=0.0)
    assert r == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("rate", [0.1, 0.5, 1.0])
def test_a_falling_profile_extrapolates_an_exponential_tail_beyond_the_live_points(rate):
    logL, logX = profile(rate)
    log_f_end = logL[-1] + logX[-1]
    r, log_frac = tail_fraction(logL, logX, NLIVE, logZ_dead=0.0)
    assert r == pytest.approx(rate, abs=1e-9)
    # T = f(s) / r * exp(-r log n): the integral of f beyond s + log(n).
    assert log_frac == pytest.approx(log_f_end - np.log(rate) - rate * np.log(NLIVE), abs=1e-9)


def test_the_watch_allows_a_stop_once_the_tail_is_within_its_tolerance():
    # f = exp(-0.2 s): Z_dead = 5 (1 - e^{-0.2 s}) and T = 5 e^{-0.2 s} n^{-0.2}, so T <= 0.01 Z_dead from
    # e^{-0.2 s} = 0.01 / (n^{-0.2} + 0.01): s = 18.4 at n = 100.
    rate, tolerance = 0.2, 0.01
    watch = TailWatch(NLIVE, tolerance=tolerance)
    logL, logX = profile(rate=rate, nats=30.0)
    allowed = []
    for k, (ll, lx) in enumerate(zip(logL, logX)):
        watch.add(ll, lx)
        if k % NLIVE == NLIVE - 1:
            logZ_dead = np.logaddexp.reduce(logL[:k + 1] + logX[:k + 1] - np.log(NLIVE))
            allowed.append(watch.allows_stop(logZ_dead))
    first = allowed.index(True) + 1  # nats compressed at the first stop allowed
    expected = -np.log(tolerance / (NLIVE**-rate + tolerance)) / rate
    assert all(allowed[first - 1:]) and not any(allowed[:first - 1])
    assert abs(first - expected) <= 1.0


@pytest.mark.slow
def test_the_funnel_neck_is_reached_only_with_the_watch():
    # Neal's funnel: at nlive 50 and dlogz 1.5 the other rules may stop in the mouth, where every live
    # point's likelihood is close to the contour's; the posterior's v ~ N(0, 1) lies further in.
    problem = named("funnel-10")
    opts = dict(nlive=50, bound="sheared", sample="unif", bootstrap=0, enlarge=2.1, dlogz=1.5,
                first_update={"min_eff": 20.0})

    def moments(res):
        w = res.samples.get_weights() / np.sum(res.samples.get_weights())
        v = res.samples["v"].to_numpy()
        return float(w @ v), float(np.sqrt(w @ (v - w @ v) ** 2))

    def run(seed, **tail):
        return fp.run(problem.loglikelihood, problem.prior, seed=seed, **tail, **opts)

    short = first_seed(lambda s: moments(run(s, tail_tolerance=None))[0] > 0.75, range(8))
    unwatched = run(short, tail_tolerance=None)
    assert missed_tail(unwatched.samples)[1] > 0.1  # the finished run says how much its end may have left out
    for seed in sorted({short, 0, 1}):
        watched = run(seed)  # the default tolerance
        mean, sd = moments(watched)
        assert mean < 0.6 and sd > 0.8
        # The finished run's own estimate: the watch's 1 %, up to the last few points it had not yet seen.
        assert missed_tail(watched.samples)[1] < 0.02
