"""The sheared-ellipsoid bound: an exact, volume-preserving frame, chosen only where it pays."""

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


def test_the_frame_is_an_exact_volume_preserving_bijection():
    bound = fitted(cube_points(BananaProblem(4), 200, seed=0))
    assert bound.spine >= 0
    u = np.random.default_rng(1).uniform(0.3, 0.7, size=(50, 4))
    np.testing.assert_allclose(bound.from_frame(bound.to_frame(u)), u, rtol=0, atol=1e-14)
    h = 1e-6
    for point in u[:5]:
        jac = np.column_stack([(bound.to_frame(point + h * e) - bound.to_frame(point - h * e))[0] / (2 * h)
                               for e in np.eye(4)])
        assert np.linalg.det(jac) == pytest.approx(1.0, abs=1e-6)


def test_a_banana_is_straightened_and_its_bound_is_much_smaller():
    points = cube_points(BananaProblem(6), 50, seed=2)
    multi = dynesty_bounding.MultiEllipsoid(6)
    multi.update(points, rstate=np.random.default_rng(0))
    bound = fitted(points)
    assert bound.spine == 0  # the banana bends along its first coordinate
    assert bound.logvol < multi.logvol - np.log(5)
    assert all(bound.contains(p) for p in points)


def test_a_gaussian_keeps_the_identity_frame_and_dynesty_own_bound():
    points = cube_points(GaussianProblem(6), 50, seed=3)
    multi = dynesty_bounding.MultiEllipsoid(6)
    multi.update(points, rstate=np.random.default_rng(0))
    bound = fitted(points)
    assert bound.spine == -1
    assert bound.logvol == multi.logvol
    np.testing.assert_array_equal(bound.to_frame(points), points)


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
    problem = BananaProblem(3)
    counted = {}
    for bound in ("multi", "sheared"):
        like = Counter(problem.loglikelihood)
        res = fp.run(like, problem.prior, nlive=200, seed=6, bound=bound)
        assert res.ncall == like.n
        assert_within(res.logZ, problem.logZ, res.logZerr)
        counted[bound] = like.n
    assert counted["sheared"] < 0.7 * counted["multi"]
