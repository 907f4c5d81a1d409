"""The sheared-ellipsoid bound: an exact frame of constant Jacobian, the shear chosen only where it pays."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.problems import BananaProblem, GaussianProblem
from flowprior.samplers.sheared import ShearedEllipsoids

from .helpers import Counter, assert_within

dynesty_bounding = pytest.importorskip("dynesty.bounding")


def cube_points(problem, n, seed):
    """Posterior draws of ``problem`` in its prior's unit cube, where dynesty bounds them."""
    return problem.prior.inverse_prior_transform(problem.posterior_sample(n, seed=seed))


def fitted(points, seed=0):
    bound = ShearedEllipsoids(points.shape[1])
    bound.update(points, rstate=np.random.default_rng(seed))
    return bound


def test_the_frame_is_an_exact_bijection_of_constant_jacobian():
    bound = fitted(cube_points(BananaProblem(4), 200, seed=0))
    assert bound.spine >= 0
    u = np.random.default_rng(1).uniform(0.3, 0.7, size=(50, 4))
    np.testing.assert_allclose(bound.from_frame(bound.to_frame(u)), u, rtol=0, atol=1e-14)
    h = 1e-6
    for point in u[:5]:
        jac = np.column_stack([(bound.to_frame(point + h * e) - bound.to_frame(point - h * e))[0] / (2 * h)
                               for e in np.eye(4)])
        # The shear's Jacobian is 1 and the standardisation's 1 / prod(scale), the same everywhere.
        assert np.linalg.det(jac) * np.prod(bound.scale) == pytest.approx(1.0, abs=1e-6)


def test_a_banana_is_straightened_and_its_bound_is_much_smaller():
    points = cube_points(BananaProblem(6), 50, seed=2)
    multi = dynesty_bounding.MultiEllipsoid(6)
    multi.update(points, rstate=np.random.default_rng(0))
    bound = fitted(points)
    assert bound.spine == 0  # the banana bends along its first coordinate
    assert bound.logvol < multi.logvol - np.log(5)
    assert all(bound.contains(p) for p in points)


def test_a_gaussian_is_not_sheared_and_has_dynesty_own_bound():
    points = cube_points(GaussianProblem(6), 50, seed=3)
    multi = dynesty_bounding.MultiEllipsoid(6)
    multi.update(points, rstate=np.random.default_rng(0))
    bound = fitted(points)
    assert bound.spine == -1
    # One ellipsoid, fitted to the covariance: the standardisation is an affine map, which it follows.
    assert bound.inner.nells == multi.nells == 1
    assert bound.logvol == pytest.approx(multi.logvol, abs=1e-9)
    np.testing.assert_allclose(bound.to_frame(points), (points - points.mean(axis=0)) / points.std(axis=0))


def test_a_slab_many_orders_thinner_in_one_coordinate_is_bounded_tightly():
    # In the cube dynesty's ellipsoid stays 1e-6 wide around a 1e-12 slab (it caps the covariance's
    # condition number); the standardised frame bounds it as a square.
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.uniform(0, 1e-12, 100), rng.uniform(0, 1, 100)])
    multi = dynesty_bounding.MultiEllipsoid(2)
    multi.update(points, rstate=rng)
    bound = fitted(points)
    assert multi.logvol > np.log(1e-7)
    assert bound.logvol < np.log(3e-12)
    draws = bound.samples(2000, rstate=rng)
    assert np.mean((draws[:, 0] >= 0) & (draws[:, 0] <= 1e-12)) > 0.3


def test_a_bound_outside_the_cube_raises_instead_of_being_drawn_from_for_ever():
    rng = np.random.default_rng(8)
    bound = ShearedEllipsoids(2, max_misses=1000)
    bound.update(rng.uniform(0.2, 0.3, size=(50, 2)) + 5.0, rstate=rng)  # points 5 cube widths away
    with pytest.raises(fp.SamplerStalledError, match="draws in a row outside"):
        for _ in range(2000):
            bound.samples(1, rstate=rng)


def test_draws_are_uniform_in_the_bound_and_its_volume_is_the_ellipsoids():
    bound = fitted(cube_points(BananaProblem(3), 100, seed=4))
    rng = np.random.default_rng(5)
    draws = bound.samples(4000, rstate=rng)
    assert all(bound.contains(p) for p in draws[:500])
    # Volume by Monte Carlo from a box around the draws: the unit Jacobian keeps the ellipsoids' volume.
    lo, hi = draws.min(axis=0) - 0.01, draws.max(axis=0) + 0.01
    box = rng.uniform(lo, hi, size=(40_000, 3))
    inside = np.array([bound.contains(p) for p in box])
    volume = inside.mean() * np.prod(hi - lo)
    err = np.sqrt(inside.mean() * (1 - inside.mean()) / len(box)) * np.prod(hi - lo)
    assert_within(volume, np.exp(bound.logvol), err)
    # Uniform: the share of draws in the half of the bound below the median of y_0 is one half.
    half = box[inside][:, 0] < np.median(box[inside][:, 0])
    cut = np.max(box[inside][half, 0])
    share = np.mean(draws[:, 0] <= cut)
    assert_within(share, np.mean(box[inside][:, 0] <= cut), np.sqrt(0.25 / len(draws) + 0.25 / inside.sum()))


@pytest.mark.slow
def test_a_run_with_the_sheared_bound_is_right_and_cheaper_on_a_banana():
    # Against dynesty's own multi-ellipsoids (a bound object is used as it is): the standardised frame
    # alone (flowprior's "multi") and with the shear (measured 18,587, 13,922 and 12,014 calls).
    problem = BananaProblem(3)
    counted = {}
    for name, bound in (("dynesty", dynesty_bounding.MultiEllipsoid(3)), ("multi", "multi"), ("sheared", "sheared")):
        like = Counter(problem.loglikelihood)
        res = fp.run(like, problem.prior, nlive=200, seed=6, bound=bound)
        assert res.ncall == like.n
        assert_within(res.logZ, problem.logZ, res.logZerr)
        counted[name] = like.n
    assert counted["multi"] < counted["dynesty"]
    assert counted["sheared"] < 0.75 * counted["dynesty"]
