"""Properties of a trained MAF prior: exactness, determinism, tails, accuracy."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import flowprior as fp
from flowprior.kernels.normal import ndtri_clipped
from flowprior.training.maf import split_indices

from .helpers import COV2, MEAN2, TINY, assert_identical_in_a_fresh_process, assert_within, fd_log_abs_det, log_normal


def test_protocol_attributes(flow2, box2):
    assert flow2.ndims == 2
    assert flow2.params == ("a", "b")
    assert flow2.prior is box2
    assert flow2.backend == "numba"


def test_round_trip_u_theta_u(flow2):
    u = np.random.default_rng(0).uniform(1e-4, 1 - 1e-4, size=(500, 2))
    np.testing.assert_allclose(flow2.inverse_prior_transform(flow2.prior_transform(u)), u, atol=1e-9)


def test_round_trip_theta_u_theta(flow3):
    theta = flow3.sample(300, seed=1)
    np.testing.assert_allclose(flow3.prior_transform(flow3.inverse_prior_transform(theta)), theta, atol=1e-9)


@pytest.mark.parametrize("name", ["flow2", "flow3", "loguniform_flow"])
def test_log_prob_is_minus_log_det_of_prior_transform(name, request):
    flow = request.getfixturevalue(name)
    for u in np.random.default_rng(1).uniform(0.1, 0.9, size=(8, flow.ndims)):
        expected = -fd_log_abs_det(flow.prior_transform, u)
        assert flow.log_prob(flow.prior_transform(u)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_normalised_by_quadrature_in_2d(flow2, box2):
    # Midpoint rule on the box; the density is smooth, so the error is far below 1e-3.
    n = 800
    a = np.linspace(box2.lower[0], box2.upper[0], n + 1)
    b = np.linspace(box2.lower[1], box2.upper[1], n + 1)
    ca, cb = 0.5 * (a[1:] + a[:-1]), 0.5 * (b[1:] + b[:-1])
    grid = np.stack(np.meshgrid(ca, cb, indexing="ij"), axis=-1).reshape(-1, 2)
    total = np.exp(flow2.log_prob(grid)).sum() * np.diff(a)[0] * np.diff(b)[0]
    assert total == pytest.approx(1.0, abs=1e-3)


def test_normalised_by_monte_carlo_in_3d(flow3):
    # E_base[p / pi] = 1; importance sampling from the base prior, CLT tolerance.
    theta = flow3.prior.sample(200_000, seed=5)
    ratio = np.exp(flow3.log_prob(theta) - flow3.prior.log_prob(theta))
    err = ratio.std() / np.sqrt(ratio.size)
    assert_within(ratio.mean(), 1.0, err)
    assert err < 0.02


def test_single_point_equals_batch_bitwise(flow2):
    u = np.random.default_rng(2).random((64, 2))
    batch = flow2.prior_transform(u)
    np.testing.assert_array_equal(np.array([flow2.prior_transform(p) for p in u]), batch)
    shuffled = np.random.default_rng(3).permutation(64)
    np.testing.assert_array_equal(flow2.prior_transform(u[shuffled]), batch[shuffled])
    np.testing.assert_array_equal(np.array([flow2.log_prob(t) for t in batch]), flow2.log_prob(batch))


def test_fused_box_path_agrees_with_numpy(flow2):
    assert flow2._box is not None  # uniform base: the compiled kernel maps the box too
    slow = flow2.with_backend("numpy")
    u = np.random.default_rng(40).uniform(1e-9, 1 - 1e-9, size=(300, 2))
    np.testing.assert_allclose(slow.prior_transform(u), flow2.prior_transform(u), rtol=1e-12, atol=1e-13)
    theta = flow2.prior_transform(u)
    np.testing.assert_allclose(slow.log_prob(theta), flow2.log_prob(theta), rtol=1e-11)
    np.testing.assert_allclose(slow.inverse_prior_transform(theta), flow2.inverse_prior_transform(theta),
                               rtol=1e-10, atol=1e-13)


def test_numpy_backend_agrees_with_numba(flow3):
    u = np.random.default_rng(4).random((100, 3))
    slow = flow3.with_backend("numpy")
    assert slow.backend == "numpy"
    np.testing.assert_allclose(slow.prior_transform(u), flow3.prior_transform(u), rtol=1e-12, atol=1e-12)
    theta = flow3.prior_transform(u)
    np.testing.assert_allclose(slow.log_prob(theta), flow3.log_prob(theta), rtol=1e-12)


def test_agrees_with_tfp_evaluation(flow2):
    dist = flow2.tfp_distribution()
    theta = flow2.sample(200, seed=6)
    x = ndtri_clipped(flow2.prior.inverse_prior_transform(theta))
    want = dist.log_prob(x).numpy() - log_normal(x) + flow2.prior.log_prob(theta)
    np.testing.assert_allclose(flow2.log_prob(theta), want, rtol=1e-11)
    z = np.random.default_rng(7).standard_normal((50, 2))
    from scipy.special import ndtr

    np.testing.assert_allclose(
        flow2.prior_transform(ndtr(z)),
        flow2.prior.prior_transform(ndtr(dist.bijector.forward(z).numpy())),
        rtol=1e-11, atol=1e-12,
    )


@pytest.mark.parametrize("edge", [0.0, 1e-300, 1e-16, 1 - 1e-16, 1.0])
@pytest.mark.parametrize("name", ["flow2", "flow3", "loguniform_flow"])
def test_edges_give_finite_theta_in_support(name, edge, request):
    flow = request.getfixturevalue(name)
    u = np.full((1, flow.ndims), edge)
    u_mixed = np.random.default_rng(8).random((1, flow.ndims))
    u_mixed[0, 0] = edge
    for point in (u, u_mixed):
        theta = flow.prior_transform(point)
        assert np.all(np.isfinite(theta))
        assert flow.prior._in_support(theta).all()
        assert not np.isnan(flow.log_prob(theta)).any()


def test_log_prob_outside_support_is_minus_inf(flow2):
    out = flow2.log_prob([[3.0, 0.5], [0.5, -1.5], [np.inf, 0.0], [np.nan, 0.0]])
    assert np.all(out == -np.inf)


def test_reproduces_gaussian_mean_and_covariance(flow2):
    n = 20_000
    x = flow2.sample(n, seed=9)
    # Tolerance: sampling error of 4000 training points (the flow's own
    # error), added to that of the n flow samples, at 4 sigma.
    sd = np.sqrt(np.diag(COV2))
    err_mean = 4 * sd * np.sqrt(1 / 4000 + 1 / n)
    np.testing.assert_array_less(np.abs(x.mean(axis=0) - MEAN2), err_mean)
    cov = np.cov(x.T)
    err_cov = 4 * np.sqrt((COV2**2 + np.outer(np.diag(COV2), np.diag(COV2))) * (1 / 4000 + 1 / n))
    np.testing.assert_array_less(np.abs(cov - COV2), err_cov + 0.05 * np.abs(COV2))


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed(gauss2_samples, box2, flow2):
    again = fp.MAF.fit(gauss2_samples, prior=box2, seed=0, **TINY)
    u = np.random.default_rng(10).random((20, 2))
    np.testing.assert_array_equal(again.prior_transform(u), flow2.prior_transform(u))
    assert again.history["val_loss"] == flow2.history["val_loss"]


@pytest.mark.slow
def test_different_seeds_give_different_flows(gauss2_samples, box2, flow2):
    other = fp.MAF.fit(gauss2_samples, prior=box2, seed=1, **{**TINY, "epochs": 2})
    u = np.full(2, 0.3)
    assert not np.array_equal(other.prior_transform(u), flow2.prior_transform(u))


OVERFIT = dict(hidden_layers=(64, 64), number_networks=2, epochs=400, patience=15, learning_rate=1e-2, batch_size=None,
               validation_fraction=0.3)


def test_early_stopping_restores_the_best_epoch():
    # Few points and a big network overfit quickly, so the validation loss
    # turns upwards and the last epoch is not the best one.
    rng = np.random.default_rng(11)
    samples = rng.normal(0.5, 0.1, size=(60, 2))
    prior = fp.UniformPrior([0, 0], [1, 1])
    flow = fp.MAF.fit(samples, prior=prior, seed=3, refit=False, **OVERFIT)
    h = flow.history
    assert h["best_epoch"] < h["epochs_run"] - 1
    assert h["val_loss"][h["best_epoch"]] == min(h["val_loss"])
    assert h["val_loss"][-1] > min(h["val_loss"])
    _, val = split_indices(len(samples), 0.3, seed=3)
    assert _nll(flow, prior, samples[val]) == pytest.approx(min(h["val_loss"]), rel=1e-9)


def _nll(flow, prior, x):
    z = ndtri_clipped(x)
    return -np.mean(flow.log_prob(x) - prior.log_prob(x) + np.sum(-0.5 * z**2 - 0.5 * np.log(2 * np.pi), axis=1))


@pytest.mark.slow
def test_refit_trains_on_the_held_out_samples_with_the_schedule_early_stopping_chose():
    rng = np.random.default_rng(11)
    samples = rng.normal(0.5, 0.1, size=(60, 2))
    prior = fp.UniformPrior([0, 0], [1, 1])
    first = fp.MAF.fit(samples, prior=prior, seed=3, refit=False, **OVERFIT)
    refit = fp.MAF.fit(samples, prior=prior, seed=3, refit=True, **OVERFIT)
    # The first fit, its early stopping and its schedule are the same either way.
    assert refit.history["val_loss"] == first.history["val_loss"]
    assert len(refit.history["refit_loss"]) == first.history["best_epoch"] + 1
    assert "refit_loss" not in first.history
    # The held-out samples are now training samples: this overfitting network fits them much better.
    _, val = split_indices(len(samples), 0.3, seed=3)
    assert _nll(refit, prior, samples[val]) < _nll(first, prior, samples[val]) - 0.2


def test_no_refit_without_a_validation_split(gauss2_samples, box2):
    flow = fp.MAF.fit(gauss2_samples, prior=box2, seed=0, **{**TINY, "epochs": 3, "validation_fraction": 0.0})
    assert "refit_loss" not in flow.history


@pytest.mark.slow
def test_weight_decay_shrinks_the_kernels(gauss2_samples, box2):
    def squared_norm(decay):
        flow = fp.MAF.fit(gauss2_samples, prior=box2, seed=0, **{**TINY, "weight_decay": decay, "refit": False})
        return sum(np.sum(k**2) for ks in flow._raw["kernels"] for k in ks[1:-1])  # the layers standardisation does not touch

    assert squared_norm(0.1) < 0.75 * squared_norm(0.0)


def test_history_is_recorded(flow2):
    h = flow2.history
    assert len(h["loss"]) == len(h["val_loss"]) == h["epochs_run"]
    assert h["wall_time"] > 0


def test_widened_flow_has_the_wider_base_density(flow2):
    from scipy.stats import norm

    wide = flow2.widened(2.0)
    theta = flow2.sample(200, seed=3)
    z = ndtri_clipped(flow2.inverse_prior_transform(theta))
    expected = (flow2.log_prob(theta) - norm.logpdf(z).sum(axis=1)
                + norm.logpdf(z, scale=2.0).sum(axis=1))
    np.testing.assert_allclose(wide.log_prob(theta), expected, rtol=1e-10)
    u = np.random.default_rng(4).uniform(0.01, 0.99, size=(100, 2))
    np.testing.assert_allclose(wide.prior_transform(u),
                               flow2.prior_transform(norm.cdf(2.0 * norm.ppf(u))), rtol=1e-9, atol=1e-12)


def test_pickle_gives_equal_outputs(flow3):
    clone = pickle.loads(pickle.dumps(flow3))
    u = np.random.default_rng(12).random((10, 3))
    np.testing.assert_array_equal(clone.prior_transform(u), flow3.prior_transform(u))
    assert clone.params == flow3.params


def test_flow_as_base_prior_of_another_flow(flow2):
    rng = np.random.default_rng(13)
    samples = flow2.sample(2000, seed=14)
    nested = fp.MAF.fit(samples, prior=flow2, seed=0, hidden_layers=(8, 8), number_networks=2, epochs=5)
    u = rng.uniform(0.1, 0.9, size=2)
    assert nested.log_prob(nested.prior_transform(u)) == pytest.approx(-fd_log_abs_det(nested.prior_transform, u), abs=1e-5)


def test_load_and_evaluate_in_a_process_without_tensorflow(flow2, tmp_path):
    assert_identical_in_a_fresh_process(flow2, tmp_path / "flow.fpz", np.random.default_rng(15).random((5, 2)))


def test_import_changes_no_global_state():
    code = ("import numpy as np, sys; s = np.random.get_state()[1].copy(); import flowprior; "
            "assert (np.random.get_state()[1] == s).all(); "
            "assert 'tensorflow' not in sys.modules and 'numba' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_keras_floatx_is_restored_after_training(flow2):
    import tf_keras

    assert tf_keras.backend.floatx() == "float32"


def test_unknown_keyword_raises(gauss2_samples, box2):
    with pytest.raises(TypeError, match="expected training options among .*; got \\['hidden_layer'\\]"):
        fp.MAF.fit(gauss2_samples, prior=box2, hidden_layer=(4,))


def test_unknown_backend_raises(flow2):
    with pytest.raises(ValueError, match="expected backend in"):
        flow2.with_backend("cuda")


def test_base_prior_of_wrong_dimension_raises(flow2):
    state = flow2._raw
    with pytest.raises(ValueError, match="expected a base prior with 2 dimensions; got 1"):
        fp.MAF(state["kernels"], state["biases"], state["masks"], state["perms"], activation="tanh",
               prior=fp.UniformPrior([0], [1]))


def test_non_prior_base_raises(flow2):
    state = flow2._raw
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got list"):
        fp.MAF(state["kernels"], state["biases"], state["masks"], state["perms"], activation="tanh",
               prior=[0, 1])


def test_u_outside_cube_raises(flow2):
    with pytest.raises(ValueError, match=r"expected u in \[0, 1\]"):
        flow2.prior_transform([-0.1, 0.5])


def test_wrong_shape_raises(flow2):
    with pytest.raises(ValueError, match=r"expected theta of shape \(2,\) or \(n, 2\)"):
        flow2.log_prob(np.zeros((3, 3)))


def test_numba_backend_without_numba_raises(flow2, monkeypatch):
    monkeypatch.setitem(sys.modules, "flowprior.kernels._numba", None)
    with pytest.raises(ImportError, match="backend='numba' needs numba"):
        flow2.with_backend("numba")


def test_auto_backend_falls_back_to_numpy_without_numba(flow2, monkeypatch):
    monkeypatch.setitem(sys.modules, "flowprior.kernels._numba", None)
    assert flow2.with_backend("auto").backend == "numpy"


def test_diverging_training_raises():
    samples = np.random.default_rng(16).normal(0.5, 0.01, size=(200, 2))
    with pytest.raises(FloatingPointError, match="expected a finite validation loss"):
        fp.MAF.fit(samples, prior=fp.UniformPrior([0, 0], [1, 1]), seed=0, hidden_layers=(8, 8),
                   number_networks=2, epochs=3, learning_rate=1e8)


def test_unexpected_network_layout_raises():
    from flowprior.training import _tfp

    class Fake:
        _masks = [np.ones((2, 2))]

        class _network:
            layers = []

    with pytest.raises(RuntimeError, match="unexpected AutoregressiveNetwork layout"):
        _tfp.network_weights([Fake()])
