"""The NumPy and numba MAF kernels against TFP, autodiff and each other."""

import numpy as np
import pytest

from flowprior.kernels import made
from flowprior.kernels._numba import NumbaKernel
from flowprior.training import _tfp

from .helpers import log_normal

D = 4
PERMS = [[3, 1, 0, 2], [2, 0, 3, 1]]


@pytest.fixture(scope="module")
def network():
    """A TFP MAF with random (not freshly initialised) weights and its packed copy."""
    dist, mades = _tfp.build_distribution(
        ndims=D, hidden_layers=[10, 7], number_networks=3, activation="tanh", perms=PERMS, seed=1
    )
    kernels, biases, masks = _tfp.network_weights(mades)
    rng = np.random.default_rng(0)
    kernels = [[k + 0.4 * rng.standard_normal(k.shape) for k in ks] for ks in kernels]
    biases = [[b + 0.4 * rng.standard_normal(b.shape) for b in bs] for bs in biases]
    _tfp.set_network_weights(mades, kernels, biases)
    return dist, made.pack(kernels, biases, masks, PERMS, "tanh"), (kernels, biases, masks)


@pytest.fixture(scope="module")
def z():
    return np.random.default_rng(1).standard_normal((50, D))


def test_numpy_forward_matches_tfp(network, z):
    dist, packed, _ = network
    np.testing.assert_allclose(made.forward(packed, z), dist.bijector.forward(z).numpy(), rtol=1e-12, atol=1e-12)


def test_numpy_log_prob_matches_tfp(network, z):
    dist, packed, _ = network
    x = dist.bijector.forward(z).numpy()
    zz, logdet = made.inverse(packed, x)
    np.testing.assert_allclose(log_normal(zz) + logdet, dist.log_prob(x).numpy(), rtol=1e-12)


def test_log_det_matches_tf_autodiff(network, z):
    import tensorflow as tf

    dist, packed, _ = network
    x = tf.constant(dist.bijector.forward(z).numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        zz = dist.bijector.inverse(x)
    jac = tape.batch_jacobian(zz, x).numpy()
    _, logdet = made.inverse(packed, x.numpy())
    np.testing.assert_allclose(logdet, np.linalg.slogdet(jac)[1], rtol=1e-10, atol=1e-10)


def test_log_det_matches_finite_differences(network, z):
    _, packed, _ = network
    x = made.forward(packed, z[:5])
    h = 1e-6
    for row in x:
        jac = np.empty((D, D))
        for i in range(D):
            e = np.zeros(D)
            e[i] = h
            jac[:, i] = (made.inverse(packed, (row + e)[None])[0] - made.inverse(packed, (row - e)[None])[0])[0] / (2 * h)
        assert made.inverse(packed, row[None])[1][0] == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)


def test_jacobian_is_triangular_in_each_made(network):
    _, packed, _ = network
    single = made.PackedMAF(ndims=D, activation="tanh", kernels=packed.kernels[:1], biases=packed.biases[:1],
                            perms=np.zeros((0, D), dtype=np.int64), ptr=packed.ptr[:1])
    x0 = np.random.default_rng(5).standard_normal(D)
    for j in range(D):
        x1 = x0.copy()
        x1[j] += 0.3
        diff = made.inverse(single, x1[None])[0] - made.inverse(single, x0[None])[0]
        assert np.all(diff[0, :j] == 0.0)


def test_round_trip(network, z):
    _, packed, _ = network
    np.testing.assert_allclose(made.inverse(packed, made.forward(packed, z))[0], z, atol=1e-12)


@pytest.mark.parametrize("activation", made.ACTIVATIONS)
def test_numba_matches_numpy(network, z, activation):
    _, _, (kernels, biases, masks) = network
    # Damped weights: with unbounded activations the random network above is
    # so ill-conditioned that rounding alone changes its inverse.
    kernels = [[0.5 * k for k in ks] for ks in kernels]
    packed = made.pack(kernels, biases, masks, PERMS, activation)
    kernel = NumbaKernel(packed)
    np.testing.assert_allclose(made.inverse(packed, made.forward(packed, z))[0], z, atol=1e-10)
    np.testing.assert_allclose(kernel.forward(z), made.forward(packed, z), rtol=1e-12, atol=1e-13)
    x = made.forward(packed, z)
    for got, want in zip(kernel.inverse(x), made.NumpyKernel(packed).inverse(x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_kernel_inverse_returns_log_density_ratio(network, z):
    _, packed, _ = network
    x = made.forward(packed, z)
    zz, logdet = made.inverse(packed, x)
    np.testing.assert_allclose(NumbaKernel(packed).inverse(x)[1], logdet + log_normal(zz) - log_normal(x), rtol=1e-12)


def test_numba_single_point_equals_batch_bitwise(network, z):
    kernel = NumbaKernel(network[1])
    batch = kernel.forward(z)
    single = np.vstack([kernel.forward(row[None]) for row in z])
    np.testing.assert_array_equal(single, batch)


def test_masked_weights_are_ignored(network):
    _, _, (kernels, biases, masks) = network
    noisy = [[k + np.where(m, 0.0, 5.0) for k, m in zip(ks, ms)] for ks, ms in zip(kernels, masks)]
    z = np.ones((1, D))
    np.testing.assert_array_equal(
        made.forward(made.pack(noisy, biases, masks, PERMS, "tanh"), z),
        made.forward(made.pack(kernels, biases, masks, PERMS, "tanh"), z),
    )


def test_non_autoregressive_masks_raise(network):
    _, _, (kernels, biases, masks) = network
    bad = [[m.copy() for m in ms] for ms in masks]
    bad[0][-1][:] = True
    with pytest.raises(ValueError, match="expected autoregressive masks"):
        made.pack(kernels, biases, bad, PERMS, "tanh")


def test_unknown_activation_raises(network):
    _, _, (kernels, biases, masks) = network
    with pytest.raises(ValueError, match="expected activation in"):
        made.pack(kernels, biases, masks, PERMS, "swish")


def test_bad_permutation_raises(network):
    _, _, (kernels, biases, masks) = network
    with pytest.raises(ValueError, match="expected a permutation of 0..3"):
        made.pack(kernels, biases, masks, [[0, 0, 1, 2], [0, 1, 2, 3]], "tanh")


def test_nonfinite_weights_raise(network):
    _, _, (kernels, biases, masks) = network
    bad = [[b.copy() for b in bs] for bs in biases]
    bad[1][0][0] = np.nan
    with pytest.raises(ValueError, match="expected finite weights"):
        made.pack(kernels, bad, masks, PERMS, "tanh")


def test_inconsistent_shapes_raise(network):
    _, _, (kernels, biases, masks) = network
    bad = [list(bs) for bs in biases]
    bad[0][0] = bad[0][0][:-1]
    with pytest.raises(ValueError, match="expected a consistent chain of MADE layers"):
        made.pack(kernels, bad, masks, PERMS, "tanh")


def test_no_hidden_layer_raises(network):
    _, _, (kernels, biases, masks) = network
    with pytest.raises(ValueError, match="expected at least one hidden layer"):
        made.pack([ks[-1:] for ks in kernels], [bs[-1:] for bs in biases], [ms[-1:] for ms in masks], PERMS, "tanh")


def test_no_made_raises():
    with pytest.raises(ValueError, match="expected at least one MADE"):
        made.pack([], [], [], [], "tanh")


def test_different_hidden_layers_raise(network):
    _, _, (kernels, biases, masks) = network
    _, other = _tfp.build_distribution(ndims=D, hidden_layers=[6, 7], number_networks=1,
                                       activation="tanh", perms=[], seed=0)
    k2, b2, m2 = _tfp.network_weights(other)
    with pytest.raises(ValueError, match="expected every MADE to have the same hidden layers"):
        made.pack([kernels[0], k2[0]], [biases[0], b2[0]], [masks[0], m2[0]], PERMS[:1], "tanh")


def test_numba_ndtri_matches_scipy():
    from scipy.special import ndtri

    from flowprior.kernels._numba import _ndtri

    u = np.concatenate([np.random.default_rng(2).random(20_000), np.logspace(-300, -1, 600),
                        1 - np.logspace(-16, -1, 300), 0.5 + np.logspace(-15, -2, 100)])
    got = np.array([_ndtri(v) for v in u])
    np.testing.assert_allclose(got, ndtri(u), rtol=2e-15, atol=1e-300)
    assert _ndtri(0.5) == 0.0
    assert _ndtri(0.0) == -38.5 and _ndtri(1.0) == 38.5
    assert np.isnan(_ndtri(np.nan))


def test_numba_ndtr_matches_scipy():
    from scipy.special import ndtr

    from flowprior.kernels._numba import _ndtr

    x = np.concatenate([np.linspace(-37.5, 9, 20_001), np.random.default_rng(3).normal(size=1000)])
    got = np.array([_ndtr(v) for v in x])
    # Below x = -5 both scipy and this are ~2e-13 (relative) from the truth
    # (measured with mpmath): exp(-x^2/2) amplifies the rounding of x^2.
    np.testing.assert_allclose(got, ndtr(x), rtol=5e-13, atol=0)
    central = np.abs(x) < 5
    np.testing.assert_allclose(got[central], ndtr(x[central]), rtol=1e-14, atol=0)
    assert _ndtr(-38.5) < 1e-300 and _ndtr(9.0) == 1.0


def test_fold_standardisation_is_exact():
    from flowprior.kernels.made import fold_standardisation, inverse, pack

    rng = np.random.default_rng(40)
    d = 3
    # A valid MADE mask set from degrees: hidden units see inputs <= degree; output j sees degrees < j.
    hdeg = np.array([1, 2, 1, 2, 1, 2])
    m0 = (np.arange(1, d + 1)[:, None] <= hdeg[None, :])
    m1 = np.repeat(hdeg[:, None] < np.arange(1, d + 1)[None, :], 2, axis=1)
    masks = [[m0, m1], [m0, m1]]
    kernels = [[rng.normal(size=m.shape) * m for m in ms] for ms in masks]
    biases = [[rng.normal(size=m.shape[1]) for m in ms] for ms in masks]
    perms = np.array([[2, 0, 1]])
    mean, std = rng.normal(size=d), rng.uniform(0.01, 3.0, size=d)
    x = rng.normal(size=(50, d))
    z_std, logdet_std = inverse(pack(kernels, biases, masks, perms, "tanh"), (x - mean) / std)
    k2, b2 = fold_standardisation(kernels, biases, mean, std)
    z, logdet = inverse(pack(k2, b2, masks, perms, "tanh"), x)
    np.testing.assert_allclose(z, z_std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logdet, logdet_std - np.sum(np.log(std)), rtol=1e-12)
    assert all(np.all(k[~m] == 0) for ks, ms in zip(k2, masks) for k, m in zip(ks, ms))


def test_widen_base_scales_the_base_variable_exactly(network, z):
    from flowprior.kernels.made import widen_base

    _, packed, (kernels, biases, masks) = network
    x = made.forward(packed, z)
    z0, logdet0 = made.inverse(packed, x)
    k2, b2 = widen_base(kernels, biases, 2.5)
    wide = made.pack(k2, b2, masks, PERMS, "tanh")
    z1, logdet1 = made.inverse(wide, x)
    np.testing.assert_allclose(z1, z0 / 2.5, rtol=1e-12)
    np.testing.assert_allclose(logdet1, logdet0 - z.shape[1] * np.log(2.5), rtol=1e-12)
    np.testing.assert_allclose(made.forward(wide, z0 / 2.5), x, rtol=1e-10, atol=1e-10)


def test_widen_base_rejects_a_non_positive_scale(network):
    kernels, biases, _ = network[2]
    with pytest.raises(ValueError, match="expected a positive finite scale; got 0.0"):
        made.widen_base(kernels, biases, 0.0)
