"""Finding the modes a nested-sampling run lost, and the pieces that do it."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal

import flowprior as fp
from flowprior.priors.cube import CubeBox
from flowprior.problems import MixtureProblem, _correlation_cov
from flowprior.workflows.two_stage.islands import Island, SeparatedModes, lost_islands
from flowprior.workflows.two_stage.probes import climb, laplace, log_mass_above, separated_by_a_valley
from flowprior.workflows.two_stage.recovery import recover_lost_modes
from flowprior.workflows.two_stage.workflow import STAGE1_DYNESTY_DEFAULTS, stage1_enlarge

from .helpers import first_seed

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0])
TWO = MixtureProblem([[-2.0, -2.0], [2.0, 2.0]], [0.04 * np.eye(2), 0.04 * np.eye(2)], [0.5, 0.5], half_width=5.0)
ONE = multivariate_normal([0.5, -0.5], [[0.09, 0.03], [0.03, 0.04]])


def island(members, others, level, rest=None):
    members, others = np.atleast_2d(members), np.atleast_2d(others)
    return Island(level=level, n_live=len(members), cube=members, members=members, others=others,
                  scale=np.ones(members.shape[1]), rest=others if rest is None else rest)


def test_cube_box_is_a_normalised_prior_on_its_box():
    base = fp.GaussianPrior([0.0, 1.0], [1.0, 4.0])
    box = CubeBox(base, [0.2, 0.5], [0.6, 0.9])
    v = np.random.default_rng(0).random((500, 2))
    theta = box.prior_transform(v)
    np.testing.assert_allclose(box.inverse_prior_transform(theta), v, atol=1e-10)
    # log pi_B = log pi - log |B| inside, -inf outside, and |B| is the box's prior mass.
    np.testing.assert_allclose(box.log_prob(theta), base.log_prob(theta) - np.log(0.4 * 0.4), rtol=1e-12)
    assert box.log_prob(base.prior_transform([0.1, 0.7])) == -np.inf
    u = np.random.default_rng(1).random((200_000, 2))
    inside = np.all((u >= box.lower) & (u <= box.upper), axis=1)
    assert inside.mean() == pytest.approx(np.exp(box.log_volume), abs=4 * np.sqrt(0.16 * 0.84 / 200_000))
    assert np.all(np.isfinite(box.prior_transform([[0.0, 1e-300], [1.0, 1 - 1e-16]])))


def test_cube_box_round_trips_through_a_file(tmp_path):
    box = CubeBox(BOX, [0.1, 0.2], [0.3, 0.4])
    fp.save(box, tmp_path / "b.fpz")
    again = fp.load(tmp_path / "b.fpz")
    v = np.random.default_rng(2).random((5, 2))
    np.testing.assert_array_equal(again.prior_transform(v), box.prior_transform(v))


@pytest.mark.parametrize("lower, upper", [([0.5, 0.1], [0.4, 0.2]), ([-0.1, 0.1], [0.4, 0.2]), ([0.1], [0.2])])
def test_cube_box_refuses_a_box_outside_the_cube(lower, upper):
    with pytest.raises(ValueError, match="expected 0 <= lower < upper <= 1 of shape"):
        CubeBox(BOX, lower, upper)


def test_cube_box_refuses_a_non_prior():
    with pytest.raises(TypeError, match="expected base to be a flowprior Prior; got dict"):
        CubeBox({}, [0.1, 0.1], [0.2, 0.2])


@pytest.mark.parametrize("d, delta", [(2, 0.5), (5, 8.0), (8, 40.0)])
def test_mass_above_a_contour_is_that_of_a_gaussian_mode(d, delta):
    # A unit Gaussian mode with peak 0: {log L > -delta} is the ball r^2 < 2 delta; integrate L over it.
    log_volume = 0.5 * d * np.log(np.pi) - np.log(math.gamma(d / 2 + 1)) + 0.5 * d * np.log(2 * delta)
    shell = lambda r: np.exp(-0.5 * r * r) * d * np.pi ** (d / 2) / math.gamma(d / 2 + 1) * r ** (d - 1)
    exact, _ = integrate.quad(shell, 0, np.sqrt(2 * delta))
    assert log_mass_above(-delta, log_volume, 0.0, d) == pytest.approx(np.log(exact), abs=1e-8)


def test_climb_and_laplace_find_a_gaussian_peak_and_its_mass():
    loglike = lambda t: float(ONE.logpdf(t))
    start = BOX._inverse_prior_transform(np.array([[1.2, 0.4], [1.0, 0.6]]))
    isl = island(start, np.array([[0.0, 0.0]]), level=-40.0)
    top = climb(loglike, BOX, isl)
    peak = BOX._prior_transform(top["peak"][None])[0]
    np.testing.assert_allclose(peak, [0.5, -0.5], atol=0.02)
    cov, log_mass, _ = laplace(loglike, BOX, top["peak"], top["logL"], top["step"])
    # In the cube of a box of width 10 the covariance is 1/100 of theta's; the mass is Z = 1/100.
    np.testing.assert_allclose(cov * 100, ONE.cov, rtol=0.05)
    assert log_mass == pytest.approx(np.log(0.01), abs=0.05)


def test_laplace_refuses_a_saddle():
    saddle = lambda t: float(t[0] ** 2 - t[1] ** 2)
    cov, log_mass, _ = laplace(saddle, BOX, np.array([0.5, 0.5]), 0.0, np.array([0.01, 0.01]))
    assert cov is None and np.isnan(log_mass)


def test_a_valley_separates_two_modes_and_not_one():
    u = BOX._inverse_prior_transform
    two = island(u(np.array([[2.0, 2.0], [2.1, 1.9]])), u(np.array([[-2.0, -2.0]])), level=-20.0)
    assert separated_by_a_valley(TWO.loglikelihood, BOX, two)[0]
    loglike = lambda t: float(ONE.logpdf(t))
    one = island(u(np.array([[0.7, -0.4], [0.75, -0.45]])), u(np.array([[0.3, -0.6]])), level=-20.0)
    assert not separated_by_a_valley(loglike, BOX, one)[0]


def test_separated_modes_check_counts_its_calls():
    check = SeparatedModes(TWO.loglikelihood, BOX)
    rng = np.random.default_rng(3)
    live = np.vstack([rng.normal([0.3, 0.3], 0.01, (20, 2)), rng.normal([0.7, 0.7], 0.01, (6, 2))])
    assert check(live, np.full(len(live), -5.0)) and check.ncall >= 1
    assert not check(rng.normal([0.3, 0.3], 0.01, (26, 2)), np.full(26, -5.0))


def stage1(problem, seed, nlive=40):
    opts = {k: v for k, v in STAGE1_DYNESTY_DEFAULTS.items() if k != "min_efficiency"}
    opts["enlarge"] = stage1_enlarge(problem.prior.ndims)
    return fp.run(problem.loglikelihood, problem.prior, nlive=nlive, seed=seed, **opts)


def narrow_minor_mode():
    return MixtureProblem([np.full(3, -1.0), np.full(3, 1.0)], [_correlation_cov(3, 205), 0.25 * _correlation_cov(3, 305)],
                          [0.75, 0.25], half_width=5.0)


def minor_fraction(problem, samples):
    x = samples[list(problem.prior.params)].to_numpy()
    w = samples.get_weights()
    return float(w[problem.mode_log_densities(x).argmax(axis=1) == 1].sum() / w.sum())


def first_run(problem, keeps_minor_mode):
    """The first stage-1 run that keeps, or loses, the minor mode (about a quarter of seeds lose it)."""
    runs = {}

    def goes_that_way(seed):
        runs[seed] = stage1(problem, seed)
        return (minor_fraction(problem, runs[seed].samples) > 0.05) == keeps_minor_mode

    return runs[first_seed(goes_that_way, range(30))]


@pytest.mark.slow
def test_a_lost_mode_is_found_and_run_again():
    problem = narrow_minor_mode()
    run = first_run(problem, keeps_minor_mode=False)
    assert minor_fraction(problem, run.samples) < 0.01
    rec = recover_lost_modes(problem.loglikelihood, problem.prior, run.samples, nlive=40, seed=0,
                             run_options={k: v for k, v in STAGE1_DYNESTY_DEFAULTS.items() if k != "min_efficiency"})
    assert len(rec.modes) == 1 and rec.modes[0].kind == "lost"
    mode = rec.modes[0]
    assert minor_fraction(problem, mode.result.samples) > 0.99
    # Its mass is the minor mode's, within the local run's own error (and what its box may cut).
    assert abs(mode.log_mass - (problem.logZ + np.log(0.25))) < 4 * mode.result.logZerr + 0.1
    assert rec.ncall_probe > 0 and rec.ncall_runs == mode.result.ncall


def test_a_run_that_kept_every_mode_has_nothing_lost():
    problem = narrow_minor_mode()
    run = first_run(problem, keeps_minor_mode=True)
    rec = recover_lost_modes(problem.loglikelihood, problem.prior, run.samples, nlive=40, seed=0)
    assert rec.modes == []


def test_lost_islands_of_a_unimodal_run_are_all_rejected_cheaply():
    loglike = lambda t: float(ONE.logpdf(t))
    run = fp.run(loglike, BOX, nlive=40, seed=4)
    rec = recover_lost_modes(loglike, BOX, run.samples, nlive=40, seed=0)
    assert rec.modes == [] and rec.ncall_runs == 0
    assert rec.ncall_probe < 0.2 * run.ncall
    assert all(isinstance(isl, Island) for isl, _, _ in rec.skipped)
    assert all(len(isl.members) >= 2 for isl in lost_islands(run.samples, BOX))


def test_named_problems_and_their_errors():
    from flowprior.problems import named

    assert named("unequal-5").ndims == 5 and len(named("trimodal-4").weights) == 3
    for bad in ("torus-3", "gauss", "gauss-0", "gauss-x"):
        with pytest.raises(ValueError, match="expected a problem name family-d with family in"):
            named(bad)
    with pytest.raises(ValueError, match="expected as many means, covs and weights; got 2, 1 and 2"):
        MixtureProblem([[0.0], [1.0]], [np.eye(1)], [0.5, 0.5])
