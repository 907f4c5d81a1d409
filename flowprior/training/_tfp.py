"""Everything that touches TensorFlow: the MAF being trained, and TFP builders for cross-checks.

This is the only module that imports TensorFlow, and only when a function here is called:
loading a saved flow, evaluating and sampling it never get here (a test checks it).
:mod:`flowprior.training.maf` drives the training through :class:`TrainableMAF` without
TensorFlow code of its own.
"""

import contextlib
import os
import sys
import tempfile
import warnings

import numpy as np

from ..errors import FlowpriorRuntimeError

__all__ = ["import_tf", "build_distribution", "network_weights", "set_network_weights", "TrainableMAF"]


#: TensorFlow's C++ log level while flowprior imports it, unless ``TF_CPP_MIN_LOG_LEVEL`` is set:
#: fatal messages only.  Its INFO, WARNING and ERROR lines ("Not handling type DT_DOUBLE", 150 times,
#: and "failed call to cuInit" on a machine without a GPU) are noise to a user training a flow on the
#: CPU; a failure that matters reaches Python as an exception.
TF_LOG_LEVEL = "3"


def import_tf():
    """Import TensorFlow, TFP and tf_keras (the Keras TFP uses), quietly.

    The first import runs with ``TF_CPP_MIN_LOG_LEVEL`` at ``TF_LOG_LEVEL`` unless the user set it
    (TensorFlow reads it once, at import, so it then holds for the process; the variable itself is
    put back), and with the file descriptor of stderr pointing at a temporary file: absl prints
    lines there before any level applies.  What it caught is replayed if the import fails.
    """
    if "tensorflow" in sys.modules:
        return _import()
    unset = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if unset:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = TF_LOG_LEVEL
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                return _import()
            except BaseException:
                os.dup2(saved, 2)
                caught.seek(0)
                sys.stderr.write(caught.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
        if unset:
            del os.environ["TF_CPP_MIN_LOG_LEVEL"]


def _import():
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
    MADE 1, ..., MADE K-1, the layout :mod:`flowprior.kernels.made` evaluates.

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
        raise FlowpriorRuntimeError("unexpected AutoregressiveNetwork layout; cannot read its weights")
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


class TrainableMAF:
    """The MADEs of a MAF being trained, and the TensorFlow functions :mod:`flowprior.training.maf` drives.

    The density is written as one pass per MADE: TFP's ``TransformedDistribution.log_prob``
    builds a graph several times larger (bijector caching, shape checks) that is slower to
    compile and to run; ``test_agrees_with_tfp_evaluation`` checks the two agree.
    """

    def __init__(self, ndims, options, perms, *, seed):
        self.tf, _, self.tf_keras = import_tf()
        tf = self.tf
        self.ndims, self.perms = ndims, perms
        self.number_networks = options.number_networks
        _, self.mades = build_distribution(ndims=ndims, hidden_layers=options.hidden_layers,
                                           number_networks=options.number_networks, activation=options.activation,
                                           perms=perms, seed=seed)
        self.variables = [v for made in self.mades for v in made.trainable_variables]
        self._inv_perms = [tf.constant(np.argsort(p), tf.int32) for p in perms]
        self._log_norm = tf.constant(ndims * 0.5 * np.log(2 * np.pi), tf.float64)

    def log_prob(self, xb):
        tf = self.tf
        y = xb
        logdet = tf.zeros(tf.shape(xb)[:1], tf.float64)
        for k in reversed(range(self.number_networks)):
            if k < len(self.perms):
                y = tf.gather(y, self._inv_perms[k], axis=-1)
            params = self.mades[k](y)
            y = (y - params[..., 0]) * tf.exp(-params[..., 1])
            logdet -= tf.reduce_sum(params[..., 1], axis=-1)
        return -0.5 * tf.reduce_sum(y * y, axis=-1) - self._log_norm + logdet

    def _weighted_nll(self, xb, wb):
        tf = self.tf
        return -tf.reduce_sum(wb * self.log_prob(xb)) / tf.reduce_sum(wb)

    def loss_function(self, x, weights):
        """A function of no arguments: the weighted negative log-likelihood of ``x`` (a float)."""
        tf = self.tf
        spec = [tf.TensorSpec([None, self.ndims], tf.float64), tf.TensorSpec([None], tf.float64)]
        nll = tf.function(self._weighted_nll, input_signature=spec)
        xc, wc = tf.constant(x, tf.float64), tf.constant(weights, tf.float64)
        return lambda: float(nll(xc, wc))

    def epoch_function(self, x, weights, batch_size, learning_rate, jit_compile, weight_decay=0.0):
        """A function of the epoch's sample order: one Adam step per batch, returning the mean loss.

        Each step minimises the batch's weighted negative log-likelihood plus ``weight_decay`` times
        the sum of squared kernel entries (biases are not penalised); the loss returned leaves the
        penalty out.  One graph per epoch: a Python loop over batches costs more than the batches
        themselves for networks of this size.  Batches have a fixed shape (XLA needs static shapes):
        the last one is padded with zero-weight copies of sample 0.
        """
        tf, variables = self.tf, self.variables
        kernels = [v for v in variables if len(v.shape) == 2]
        decay = tf.constant(weight_decay, tf.float64)
        optimizer = self.tf_keras.optimizers.Adam(learning_rate=learning_rate)
        self._optimizer = optimizer
        n = len(x)
        n_batches = -(-n // batch_size)
        pad = n_batches * batch_size - n
        x_train, w_train = tf.constant(x, tf.float64), tf.constant(weights, tf.float64)
        w_sum = tf.reduce_sum(w_train)
        keep = tf.constant(np.r_[np.ones(n), np.zeros(pad)].reshape(n_batches, batch_size), tf.float64)
        optimizer.build(variables)
        weighted_nll = self._weighted_nll

        @tf.function(input_signature=[tf.TensorSpec([n_batches, batch_size], tf.int32)], jit_compile=jit_compile)
        def run_epoch(order):
            total = tf.constant(0.0, tf.float64)
            for b in tf.range(n_batches):
                idx = order[b]
                xb, wb = tf.gather(x_train, idx), tf.gather(w_train, idx) * keep[b]
                with tf.GradientTape() as tape:
                    loss = weighted_nll(xb, wb)
                    penalised = loss + decay * tf.add_n([tf.reduce_sum(k * k) for k in kernels])
                optimizer.apply_gradients(zip(tape.gradient(penalised, variables), variables))
                total += loss * tf.reduce_sum(wb)
            return total / w_sum

        def epoch(order):
            order = np.r_[order, np.zeros(pad, dtype=order.dtype)].reshape(n_batches, batch_size)
            return float(run_epoch(tf.constant(order, tf.int32)))

        return epoch

    def set_learning_rate(self, value):
        """Change the learning rate of the optimiser :meth:`epoch_function` made (a variable its graph reads)."""
        self._optimizer.learning_rate.assign(value)

    def get_values(self):
        """The trainable values, copied (so that later steps do not change them)."""
        return [v.numpy().copy() for v in self.variables]

    def set_values(self, values):
        for var, value in zip(self.variables, values):
            var.assign(value)

    def weights(self):
        """Kernels, biases and masks of every MADE, as NumPy arrays."""
        return network_weights(self.mades)
