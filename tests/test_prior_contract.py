"""The prior contract, one suite for every prior type: simple priors, cube priors, mixtures and flows.

Every prior is a map from the unit cube to its support with an exact, normalised log-density.
Class-specific behaviour is tested beside each class; here is only what all of them promise.
"""

import pickle

import numpy as np
import pytest

import flowprior as fp
from flowprior.priors.cube import CubeBox, CubeGaussian

from .helpers import fd_log_abs_det

PARAMS = ["a", "b"]
BOX = fp.UniformPrior([-2.0, -1.0], [3.0, 2.0], params=PARAMS)
SMALL = dict(hidden_layers=(8, 8), number_networks=2, epochs=20, patience=5)


def _bimodal(n, seed):
    rng = np.random.default_rng(seed)
    k = rng.random(n) < 0.6
    x = np.where(k[:, None], rng.normal([-0.8, -0.2], 0.25, (n, 2)), rng.normal([1.5, 1.0], 0.3, (n, 2)))
    return x.clip([-1.99, -0.99], [2.99, 1.99])


def _independent(n, seed):
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(n) < 0.4, rng.normal(-1.0, 0.2, n), rng.normal(1.0, 0.4, n))
    return np.column_stack([a.clip(-1.99, 2.99), rng.normal(0.5, 0.3, n)])


# Each case: (a factory, a reference prior to check normalisation against, a point outside the support).
CASES = {
    "uniform": (lambda: fp.UniformPrior([-1.0, 0.0], [2.0, 5.0], params=PARAMS),
                fp.UniformPrior([-1.0, 0.0], [2.0, 5.0]), [2.5, 1.0]),
    "loguniform": (lambda: fp.LogUniformPrior([0.5, 1.0], [5.0, 2.0], params=PARAMS),
                   fp.UniformPrior([0.5, 1.0], [5.0, 2.0]), [0.1, 1.5]),
    "gaussian": (lambda: fp.GaussianPrior([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]], params=PARAMS),
                 fp.GaussianPrior([1.0, -2.0], [[8.0, 2.4], [2.4, 2.0]]), None),
    "cube_gaussian": (lambda: CubeGaussian(BOX, [0.3, -0.2], [[0.5, 0.2], [0.2, 0.3]]), BOX, [3.5, 0.0]),
    "cube_box": (lambda: CubeBox(BOX, [0.2, 0.1], [0.7, 0.9]), BOX, [0.0, 1.95]),
    "mixture": (lambda: fp.Mixture([CubeGaussian(BOX, [0.3, -0.2], [[0.5, 0.2], [0.2, 0.3]]), BOX], [0.3, 0.7]),
                BOX, [-2.5, 0.0]),
    "maf": (lambda: fp.MAF.fit(_bimodal(2000, 0), prior=BOX, seed=0, **SMALL), BOX, [0.0, 2.5]),
    "kde": (lambda: fp.KDE.fit(_bimodal(500, 1), prior=BOX), BOX, [0.0, -1.5]),
    "piecewise": (lambda: fp.PiecewiseMAF.fit(_bimodal(2000, 2), prior=BOX, seed=0, n_jobs=1, **SMALL),
                  BOX, [3.5, 3.5]),
    "block": (lambda: fp.BlockFlow.fit(_independent(3000, 3), prior=BOX, seed=0, **SMALL), BOX, [-3.0, 0.0]),
}
_BUILT = {}


@pytest.fixture(params=sorted(CASES))
def case(request):
    if request.param not in _BUILT:
        _BUILT[request.param] = CASES[request.param][0]()
    return request.param, _BUILT[request.param]


def _is_bijective(prior):
    return not isinstance(prior, fp.Mixture)


def test_the_protocol_attributes(case):
    _, prior = case
    assert prior.ndims == 2 and len(prior.params) == 2 and all(isinstance(p, str) for p in prior.params)


def test_round_trip_or_a_clear_refusal(case):
    _, prior = case
    u = np.random.default_rng(0).uniform(1e-4, 1 - 1e-4, size=(200, 2))
    theta = prior.prior_transform(u)
    if _is_bijective(prior):
        np.testing.assert_allclose(prior.inverse_prior_transform(theta), u, atol=1e-8)
    else:
        with pytest.raises(fp.NotBijectiveError):
            prior.inverse_prior_transform(theta)


def test_log_prob_is_minus_log_det_of_the_transform(case):
    _, prior = case
    if not _is_bijective(prior):
        pytest.skip("a mixture's transform picks a component: its density is not a Jacobian")
    for u in np.random.default_rng(1).uniform(0.1, 0.9, size=(6, 2)):
        assert prior.log_prob(prior.prior_transform(u)) == pytest.approx(-fd_log_abs_det(prior.prior_transform, u),
                                                                          abs=1e-5)


def test_normalised_against_a_reference_prior(case):
    # E_ref[p / ref] = 1 when ref covers p's support; 5 standard errors of the Monte Carlo mean.
    name, prior = case
    ref = CASES[name][1]
    theta = ref.sample(100_000, seed=5)
    ratio = np.exp(prior.log_prob(theta) - ref.log_prob(theta))
    assert abs(ratio.mean() - 1.0) < 5 * ratio.std() / np.sqrt(ratio.size) + 1e-9


def test_the_samples_follow_the_density(case):
    # A draw's mean log-density equals E_p[log p] estimated by importance sampling from a reference.
    name, prior = case
    draws = prior.sample(4000, seed=6)
    assert np.all(np.isfinite(prior.log_prob(draws)))
    ref = CASES[name][1]
    theta = ref.sample(100_000, seed=7)
    lp = prior.log_prob(theta)
    w = np.exp(lp - ref.log_prob(theta))
    inside = w > 0
    expected = np.sum(w[inside] * lp[inside]) / w.sum()
    got = prior.log_prob(draws)
    assert abs(got.mean() - expected) < 5 * got.std() / np.sqrt(got.size) + 0.02


@pytest.mark.parametrize("edge", [0.0, 1e-300, 1 - 1e-16, 1.0])
def test_edges_of_the_cube_give_finite_parameters_of_finite_density(case, edge):
    _, prior = case
    theta = prior.prior_transform(np.array([[edge, 0.5], [0.5, edge], [edge, edge]]))
    assert np.all(np.isfinite(theta)) and np.all(np.isfinite(prior.log_prob(theta)))


def test_outside_the_support_is_minus_inf_never_nan(case):
    name, prior = case
    outside = CASES[name][2]
    if outside is None:
        pytest.skip("the support is the whole plane")
    assert prior.log_prob(np.array(outside)) == -np.inf


def test_one_point_equals_its_row_of_a_batch_and_an_empty_batch_is_empty(case):
    _, prior = case
    u = np.random.default_rng(2).random((5, 2))
    batch = prior.prior_transform(u)
    np.testing.assert_array_equal(prior.prior_transform(u[3]), batch[3])
    assert prior.log_prob(batch[3]) == prior.log_prob(batch)[3]
    assert prior.prior_transform(np.empty((0, 2))).shape == (0, 2) and prior.log_prob(np.empty((0, 2))).shape == (0,)


def test_sampling_is_seeded(case):
    _, prior = case
    np.testing.assert_array_equal(prior.sample(10, seed=3), prior.sample(10, seed=3))
    assert not np.array_equal(prior.sample(10, seed=3), prior.sample(10, seed=4))


def test_a_saved_and_a_pickled_copy_give_the_same_bits(case, tmp_path):
    _, prior = case
    u = np.random.default_rng(4).random((20, 2))
    prior.save(tmp_path / "p.fpz")
    for copy in (fp.load(tmp_path / "p.fpz"), pickle.loads(pickle.dumps(prior))):
        np.testing.assert_array_equal(copy.prior_transform(u), prior.prior_transform(u))
        np.testing.assert_array_equal(copy.log_prob(prior.prior_transform(u)), prior.log_prob(prior.prior_transform(u)))
