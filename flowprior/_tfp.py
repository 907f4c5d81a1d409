"""TensorFlow Probability builders for training and for cross-checking.

This is the only module that imports TensorFlow, and only when a function
here is called: loading a saved flow and evaluating it never gets here.
"""

import contextlib
import warnings

import numpy as np

__all__ = ["import_tf", "build_distribution", "network_weights", "set_network_weights"]


def import_tf():
    """Import TensorFlow, TFP and tf_keras (the Keras TFP uses), quietly."""
    with warnings.catch_warnings():
        # TFP 0.25 imports distutils on Python 3.11 and warns about it.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import tensorflow as tf
        import tensorflow_probability as tfp
        import tf_keras
    return tf, tfp, tf_keras


@contextlib.contextmanager
def _keras_floatx(tf_keras, dtype):
    # AutoregressiveNetwork builds its Activation layers without a dtype, so
    # they follow floatx and would cast float64 activations to float32.  Set
    # it for the build only and always put the caller's value back.
    old = tf_keras.backend.floatx()
    tf_keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        tf_keras.backend.set_floatx(old)


def build_distribution(*, ndims, hidden_layers, number_networks, activation, perms, seed):
    """Build a float64 TFP MAF on :math:`\\mathbb{R}^{ndims}` and its MADE networks.

    The chain, in the sampling direction, is MADE 0, ``Permute(perms[0])``,
    MADE 1, ..., MADE K-1, the layout :mod:`flowprior.made` evaluates.

    Returns
    -------
    dist : tfd.TransformedDistribution
    mades : list of tfb.AutoregressiveNetwork
    """
    tf, tfp, tf_keras = import_tf()
    tfb, tfd = tfp.bijectors, tfp.distributions
    rng = np.random.default_rng(seed)
    mades = []
    with _keras_floatx(tf_keras, "float64"):
        for _ in range(number_networks):
            init_seed = int(rng.integers(2**31 - 1))
            made = tfb.AutoregressiveNetwork(
                params=2,
                event_shape=(ndims,),
                hidden_units=list(hidden_layers),
                activation=activation,
                input_order="left-to-right",
                hidden_degrees="equal",
                kernel_initializer=tf_keras.initializers.GlorotUniform(seed=init_seed),
                dtype=tf.float64,
            )
            made.build((None, ndims))
            mades.append(made)
    # tfb.Chain applies its last bijector first.
    chain = []
    for k, made in enumerate(mades):
        chain.append(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made))
        if k < len(perms):
            chain.append(tfb.Permute(permutation=np.asarray(perms[k], dtype=np.int64)))
    base = tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), tf.constant(1.0, tf.float64)), [ndims])
    dist = tfd.TransformedDistribution(base, bijector=tfb.Chain(chain[::-1]))
    return dist, mades


def _dense_layers(made):
    layers = [layer for layer in made._network.layers if layer.weights]
    if len(layers) != len(made._masks):
        raise RuntimeError("unexpected AutoregressiveNetwork layout; cannot read its weights")
    return layers


def network_weights(mades):
    """Kernels, biases and masks of each MADE, as float64 / bool NumPy arrays."""
    kernels, biases, masks = [], [], []
    for made in mades:
        layers = _dense_layers(made)
        kernels.append([np.array(layer.kernel.numpy(), dtype=np.float64) for layer in layers])
        biases.append([np.array(layer.bias.numpy(), dtype=np.float64) for layer in layers])
        masks.append([np.asarray(m, dtype=bool) for m in made._masks])
    return kernels, biases, masks


def set_network_weights(mades, kernels, biases):
    """Assign saved kernels and biases to freshly built MADEs (same architecture).

    Keras applies the mask constraint only after optimiser steps, not on
    assignment, so the masks are applied here.
    """
    for made, ks, bs in zip(mades, kernels, biases):
        for layer, k, b, m in zip(_dense_layers(made), ks, bs, made._masks):
            layer.kernel.assign(np.asarray(k) * m)
            layer.bias.assign(b)
