"""Training input: arrays or anesthetic samples; every bad input gets a clear error."""

import logging

import numpy as np
import pytest

import flowprior as fp
from flowprior.errors import BoundsEstimatedWarning, TrainingDataError
from flowprior.flows.data import effective_sample_size, estimate_box, prepare

BOX = fp.UniformPrior([0, 0], [1, 1])


@pytest.fixture()
def xs():
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(100, 2))


def test_array_input_defaults(xs):
    data = prepare(xs, prior=BOX)
    assert data.params == ("p0", "p1")
    assert data.weights.mean() == pytest.approx(1.0)


def test_zero_weights_are_dropped_and_logged(xs, caplog):
    w = np.ones(100)
    w[:10] = 0
    with caplog.at_level(logging.INFO, logger="flowprior.flows.data"):
        data = prepare(xs, w, prior=BOX)
    assert data.theta.shape == (90, 2)
    assert "dropping 10 sample(s) with zero weight" in caplog.text


def test_estimated_box_warns_and_contains_samples(xs):
    with pytest.warns(BoundsEstimatedWarning, match="no base prior given"):
        data = prepare(xs)
    assert np.all(data.prior.lower < xs.min(axis=0)) and np.all(data.prior.upper > xs.max(axis=0))


def test_estimate_box_uses_effective_sample_size():
    x = np.array([[0.0], [1.0], [0.5], [0.25], [0.75]])
    box = estimate_box(x, np.ones(5))
    n = 5
    assert box.upper[0] == pytest.approx(((n - 2) * 1 - 0) / (n - 3))
    assert effective_sample_size([1, 1, 0.0, 2]) == pytest.approx(16 / 6)


def test_anesthetic_samples_select_columns_by_name():
    from anesthetic import MCMCSamples

    rng = np.random.default_rng(1)
    data = rng.uniform(0.1, 0.9, size=(200, 3))
    w = rng.uniform(0.5, 1.5, size=200)
    samples = MCMCSamples(data=data, columns=["x", "y", "z"], weights=w)
    prior = fp.UniformPrior([0, 0], [1, 1], params=["z", "x"])
    got = prepare(samples, prior=prior, params=["z", "x"])
    np.testing.assert_allclose(got.theta, data[:, [2, 0]])
    np.testing.assert_allclose(got.weights, w / w.mean())
    assert got.params == ("z", "x")


def test_anesthetic_nested_samples_default_params_skip_logL():
    from anesthetic import NestedSamples

    rng = np.random.default_rng(2)
    n = 300
    logL = np.sort(rng.normal(size=n))
    samples = NestedSamples(data=rng.uniform(0.1, 0.9, size=(n, 2)), columns=["a", "b"],
                            logL=logL, logL_birth=np.full(n, -np.inf))
    got = prepare(samples, prior=fp.UniformPrior([0, 0], [1, 1], params=["a", "b"]))
    assert got.params == ("a", "b")
    np.testing.assert_allclose(got.weights * np.sum(samples.get_weights()) / n, samples.get_weights(), rtol=1e-12)


def test_maf_fit_on_anesthetic_samples_names_params():
    from anesthetic import MCMCSamples

    rng = np.random.default_rng(3)
    samples = MCMCSamples(data=rng.normal(0.5, 0.1, size=(400, 2)), columns=["om", "s8"])
    flow = fp.MAF.fit(samples, prior=fp.UniformPrior([0, 0], [1, 1]), params=["s8", "om"], seed=0,
                      hidden_layers=(4, 4), number_networks=1, epochs=2)
    assert flow.params == ("s8", "om")


# --- errors --------------------------------------------------------------------
def test_nan_rows_raise(xs):
    xs[3, 1] = np.nan
    with pytest.raises(TrainingDataError, match="expected finite samples; got 1 row"):
        prepare(xs, prior=BOX)


def test_inf_rows_raise(xs):
    xs[5, 0] = np.inf
    with pytest.raises(TrainingDataError, match="first at row 5"):
        prepare(xs, prior=BOX)


def test_negative_weights_raise(xs):
    with pytest.raises(TrainingDataError, match="expected non-negative weights; got 1 negative"):
        prepare(xs, np.r_[-1.0, np.ones(99)], prior=BOX)


def test_all_zero_weights_raise(xs):
    with pytest.raises(TrainingDataError, match="expected some positive weights; got all zero"):
        prepare(xs, np.zeros(100), prior=BOX)


def test_nan_weights_raise(xs):
    with pytest.raises(TrainingDataError, match="expected finite weights"):
        prepare(xs, np.r_[np.nan, np.ones(99)], prior=BOX)


def test_weights_shape_raises(xs):
    with pytest.raises(TrainingDataError, match=r"expected weights of shape \(100,\); got shape \(99,\)"):
        prepare(xs, np.ones(99), prior=BOX)


def test_too_few_samples_raise():
    with pytest.raises(TrainingDataError, match=r"expected more samples with positive weight than dimensions \(2\); got 2"):
        prepare(np.full((2, 2), 0.5), prior=BOX)


def test_samples_outside_prior_raise(xs):
    xs[0] = [1.5, 0.5]
    with pytest.raises(TrainingDataError, match="expected samples inside the base prior's support; got 1 outside"):
        prepare(xs, prior=BOX)


def test_wrong_sample_shape_raises():
    with pytest.raises(TrainingDataError, match=r"expected samples of shape \(n, ndims\); got shape \(5,\)"):
        prepare(np.ones(5), prior=BOX)


def test_prior_dimension_mismatch_raises(xs):
    with pytest.raises(TrainingDataError, match="expected a prior with 2 dimensions; got 1"):
        prepare(xs, prior=fp.UniformPrior([0], [1]))


def test_prior_params_mismatch_raises(xs):
    with pytest.raises(TrainingDataError, match=r"expected the prior's params \['a', 'b'\] to match"):
        prepare(xs, prior=fp.UniformPrior([0, 0], [1, 1], params=["a", "b"]), params=["c", "d"])


def test_non_prior_raises(xs):
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got tuple"):
        prepare(xs, prior=(0, 1))


def test_unknown_column_raises():
    from anesthetic import MCMCSamples

    samples = MCMCSamples(data=np.random.default_rng(4).random((20, 2)), columns=["x", "y"])
    with pytest.raises(TrainingDataError, match=r"got unknown \['w'\]"):
        prepare(samples, prior=BOX, params=["x", "w"])


def test_weights_twice_raise():
    from anesthetic import MCMCSamples

    samples = MCMCSamples(data=np.random.default_rng(5).random((20, 2)), columns=["x", "y"])
    with pytest.raises(TrainingDataError, match="got both"):
        prepare(samples, np.ones(20), prior=BOX)


def test_too_few_effective_samples_for_a_box_raise():
    with pytest.raises(TrainingDataError, match="expected an effective sample size above 3"):
        estimate_box(np.random.default_rng(6).random((10, 2)), np.r_[1.0, np.full(9, 1e-6)])


def test_split_too_small_raises():
    from flowprior.training.maf import split_indices

    with pytest.raises(ValueError, match="expected at least 2 training samples"):
        split_indices(3, 0.9, seed=0)
