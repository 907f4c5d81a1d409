"""The KDE prior: exact Rosenblatt transform, normalisation, files, errors."""

import pickle

import numpy as np
import pytest
from scipy import stats

import flowprior as fp
from flowprior.kernels.normal import ndtr

from .helpers import fd_log_abs_det

BOX = fp.UniformPrior([0.0, 0.0], [1.0, 1.0], params=["a", "b"])


@pytest.fixture(scope="module")
def kde():
    rng = np.random.default_rng(0)
    # Two clumps, one curved: the responsibilities given x_1 matter.
    x = np.r_[rng.normal([0.3, 0.6], [0.05, 0.02], (300, 2)), rng.normal([0.7, 0.3], 0.03, (200, 2))]
    x[:, 1] += 0.5 * (x[:, 0] - 0.5) ** 2
    return fp.KDE.fit(x, rng.uniform(0.5, 1.0, 500), prior=BOX)


def test_round_trip_u_theta_u(kde):
    u = np.random.default_rng(1).random((300, 2))
    np.testing.assert_allclose(kde.inverse_prior_transform(kde.prior_transform(u)), u, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tail", [1e-300, 1e-120, 1e-30, 1e-9, 1e-3])
def test_the_tails_of_the_transform_keep_their_relative_precision(kde, tail):
    # The conditional CDFs are solved by Newton steps (on log-probabilities deep in a tail): the
    # inverse, an exact sum, gives back u to a relative precision in each tail.
    u = np.array([[tail, 0.5], [0.5, tail], [1 - tail, 0.3], [0.7, 1 - tail]])
    back = kde.inverse_prior_transform(kde.prior_transform(u))
    np.testing.assert_allclose(np.minimum(back, 1 - back), np.minimum(u, 1 - u), rtol=1e-7)


def test_log_prob_is_minus_log_det_of_prior_transform(kde):
    u = np.random.default_rng(2).uniform(0.05, 0.95, (8, 2))
    for ui in u:
        assert kde.log_prob(kde.prior_transform(ui)) == pytest.approx(
            -fd_log_abs_det(kde.prior_transform, ui, h=1e-7), abs=1e-5)


@pytest.mark.slow
def test_pushforward_matches_ancestral_sampling(kde):
    # Ancestral draws: pick a kernel by its weight, add L @ normal noise.
    rng = np.random.default_rng(3)
    k = rng.choice(len(kde.weights), size=6000, p=kde.weights)
    x = kde.points[k] + rng.normal(size=(6000, 2)) @ kde.chol.T
    ref = ndtr(x)  # box [0, 1]^2: theta = v
    got = kde.prior_transform(np.random.default_rng(4).random((6000, 2)))
    for d in range(2):
        assert stats.ks_2samp(got[:, d], ref[:, d]).pvalue > 0.001
    # The second coordinate given the first: the test a KDE with unconditional weights fails.
    right = got[:, 0] > 0.5
    assert stats.ks_2samp(got[right, 1], ref[ref[:, 0] > 0.5, 1]).pvalue > 0.001


def test_unconditional_weights_would_fail_this_test(kde):
    # margarine's transform: second coordinate from the mixture with the unconditional weights.
    rng = np.random.default_rng(5)
    k = rng.choice(len(kde.weights), size=20_000, p=kde.weights)
    x = kde.points[k] + rng.normal(size=(20_000, 2)) @ kde.chol.T
    wrong_second = kde.points[rng.choice(len(kde.weights), size=20_000, p=kde.weights), 1] + rng.normal(
        size=20_000) * kde.chol[1, 1]
    assert stats.ks_2samp(ndtr(wrong_second)[x[:, 0] > 0], ndtr(x[x[:, 0] > 0, 1])).pvalue < 1e-6


@pytest.mark.slow
def test_normalised_by_quadrature(kde):
    n = 400
    c = (np.arange(n) + 0.5) / n
    grid = np.stack(np.meshgrid(c, c, indexing="ij"), axis=-1).reshape(-1, 2)
    assert np.exp(kde.log_prob(grid)).sum() / n**2 == pytest.approx(1.0, abs=2e-3)


def test_single_point_equals_batch(kde):
    u = np.random.default_rng(6).random((20, 2))
    np.testing.assert_array_equal(np.array([kde.prior_transform(p) for p in u]), kde.prior_transform(u))


@pytest.mark.parametrize("edge", [0.0, 1e-300, 1 - 1e-16, 1.0])
def test_edges_are_finite_and_inside(kde, edge):
    theta = kde.prior_transform([edge, edge])
    assert np.all(np.isfinite(theta)) and BOX.log_prob(theta) > -np.inf


def test_log_prob_outside_support_is_minus_inf(kde):
    assert kde.log_prob([1.5, 0.5]) == -np.inf


def test_file_and_pickle_round_trips(kde, tmp_path):
    kde.save(tmp_path / "k.fpz")
    again = fp.load(tmp_path / "k.fpz")
    u = np.random.default_rng(7).random((10, 2))
    np.testing.assert_array_equal(again.prior_transform(u), kde.prior_transform(u))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(kde)).prior_transform(u), kde.prior_transform(u))


def test_bandwidth_rules_scale_as_documented():
    box3 = fp.UniformPrior([0, 0, 0], [1, 1, 1])
    x = np.random.default_rng(8).normal(0.5, 0.05, (400, 3))
    scott = fp.KDE.fit(x, prior=box3)
    silverman = fp.KDE.fit(x, prior=box3, bandwidth="silverman")
    fixed = fp.KDE.fit(x, prior=box3, bandwidth=0.5)
    # Silverman / Scott = ((d + 2) / 4)^(-1/(d + 4)) for equal weights; Scott's factor is n^(-1/(d+4)).
    low = np.tril_indices(3)
    np.testing.assert_allclose(silverman.chol[low] / scott.chol[low], (5 / 4) ** (-1 / 7), rtol=1e-12)
    np.testing.assert_allclose(fixed.chol[low] / scott.chol[low], 0.5 / 400 ** (-1 / 7), rtol=1e-12)


def test_unknown_bandwidth_raises():
    with pytest.raises(ValueError, match="expected bandwidth in"):
        fp.KDE.fit(np.full((10, 2), 0.5) + np.random.default_rng(9).normal(0, 0.01, (10, 2)), prior=BOX,
                   bandwidth="wide")


def test_negative_bandwidth_raises():
    with pytest.raises(ValueError, match="expected bandwidth in"):
        fp.KDE.fit(np.random.default_rng(10).uniform(0.4, 0.6, (10, 2)), prior=BOX, bandwidth=-1.0)


def test_singular_samples_raise():
    x = np.c_[np.linspace(0.1, 0.9, 20), np.full(20, 0.5)]
    with pytest.raises(ValueError, match="expected samples spanning every dimension"):
        fp.KDE.fit(x, prior=BOX)


def test_bad_points_raise():
    with pytest.raises(ValueError, match=r"expected kernel points of shape \(n, 2\)"):
        fp.KDE(np.zeros((3, 1)), np.ones(3), np.eye(2), prior=BOX)


def test_bad_weights_raise():
    with pytest.raises(ValueError, match="expected 3 non-negative weights"):
        fp.KDE(np.zeros((3, 2)), -np.ones(3), np.eye(2), prior=BOX)


def test_bad_cholesky_raises():
    with pytest.raises(ValueError, match="expected a lower-triangular"):
        fp.KDE(np.zeros((3, 2)), np.ones(3), np.ones((2, 2)), prior=BOX)


def test_non_prior_base_raises():
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got str"):
        fp.KDE(np.zeros((3, 2)), np.ones(3), np.eye(2), prior="box")


@pytest.mark.slow
def test_a_kde_reloaded_or_pickled_gives_bit_identical_transforms(tmp_path):
    import pickle

    rng = np.random.default_rng(12)  # weights whose normalised sum is not exactly 1, so renormalising moves them
    kde = fp.KDE.fit(rng.normal(size=(500, 2)), rng.random(500), prior=fp.UniformPrior([-5, -5], [5, 5]))
    u = rng.random((2000, 2))
    expected = kde.prior_transform(u)
    kde.save(tmp_path / "k.fpz")
    again = fp.load(tmp_path / "k.fpz")
    twice = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(kde))))
    for other in (again, twice):
        np.testing.assert_array_equal(other.weights, kde.weights)
        np.testing.assert_array_equal(other.prior_transform(u), expected)
