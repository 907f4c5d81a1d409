r"""Training a MAF in TensorFlow: a function that returns weights and a history.

The loss is the weighted negative log-likelihood of the samples in the
Gaussianised cube of the base prior,

.. math::

    \mathcal{L} = -\frac{\sum_i w_i \log q(x_i)}{\sum_i w_i},

minimised with Adam on mini-batches.  A random ``validation_fraction`` of the
samples is held out; training stops when the validation loss has not improved
for ``patience`` epochs, and the weights of the *best* epoch are restored, by
value (margarine 1.4.2 keeps a "copy" that shares the live weights, so it
returns the last epoch instead).  Everything random derives from ``seed``.
"""

import logging
import time

import numpy as np

from . import _tfp
from .made import fold_standardisation

__all__ = ["train_maf", "split_indices"]

logger = logging.getLogger(__name__)


def _seeds(seed):
    """Independent generators for the architecture, the split and the batches."""
    seq = np.random.SeedSequence(seed)
    return seq, [np.random.default_rng(s) for s in seq.spawn(3)]


def split_indices(n, validation_fraction, seed):
    """The (train, validation) indices :func:`train_maf` uses for ``seed``."""
    _, (_, split_rng, _) = _seeds(seed)
    return _split(n, validation_fraction, split_rng)


def _split(n, fraction, rng):
    n_val = int(round(fraction * n))
    if fraction > 0 and n_val == 0:
        n_val = 1
    if n - n_val < 2:
        raise ValueError(f"expected at least 2 training samples after the validation split; got {n - n_val}")
    order = rng.permutation(n)
    return order[n_val:], order[:n_val]


def train_maf(
    x,
    weights,
    *,
    hidden_layers=(50, 50),
    number_networks=5,
    activation="tanh",
    permutations="random",
    epochs=500,
    learning_rate=3e-3,
    batch_size=1024,
    validation_fraction=0.2,
    patience=20,
    seed=None,
    progress=False,
    jit_compile=True,
    standardise=True,
):
    """Fit a MAF density to weighted points ``x`` on the real line.

    Parameters
    ----------
    x : ndarray, shape ``(n, ndims)``
    weights : ndarray, shape ``(n,)``
        Positive weights.
    hidden_layers : sequence of int
        Hidden units of each MADE.
    number_networks : int
        Number of MADEs in the chain.
    activation : str
        Hidden activation (TFP's default is linear, which is rarely wanted).
    permutations : {"random", "reverse"}
        Order changes between MADEs; random ones are drawn from ``seed``.
    epochs, learning_rate, batch_size : int, float, int
        Adam settings; ``batch_size=None`` trains on the full set each step.
        The defaults (1024, 3e-3) were chosen with ``benchmarks/bench_maf.py``:
        against batches of 256 at 1e-3 they reach the same held-out loss in
        15% less time.
    validation_fraction : float in [0, 1)
        Held-out share for early stopping; 0 disables early stopping.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    seed : int or None
        Seeds the architecture, initial weights, split and batch order.
    progress : bool
        Show a tqdm progress bar.
    jit_compile : bool
        Compile each epoch with XLA: a few seconds more to start, about 40%
        less time per epoch for the default architecture.
    standardise : bool
        Train on :math:`(x - m)/s` (weighted mean and standard deviation per
        dimension) and fold the map back into the weights exactly
        (:func:`flowprior.made.fold_standardisation`).  A posterior much
        narrower than its prior is tiny in the Gaussianised cube (0.0125
        wide for a width 0.1 in a box of width 20); without this the
        network must first learn that scale, which a low-nlive run's few
        hundred samples (one batch, so one step per epoch) do not allow.
        Losses in the history are those of :math:`x` either way.

    Returns
    -------
    weights : dict
        ``kernels``, ``biases``, ``masks`` (lists over MADEs of lists over
        layers) and ``perms`` -- what :func:`flowprior.made.pack` takes.
    history : dict
        ``loss`` and ``val_loss`` per epoch, ``best_epoch``, ``epochs_run``,
        ``wall_time`` (s) and ``seed``.
    """
    n, ndims = x.shape
    mean, std = np.zeros(ndims), np.ones(ndims)
    if standardise:
        mean = np.average(x, axis=0, weights=weights)
        std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
        std = np.where(std > 0, std, 1.0)
        x = (x - mean) / std
    # NLL of x = NLL of the standardised x' + sum(log s): report the former.
    log_jac = float(np.sum(np.log(std)))
    if permutations not in ("random", "reverse"):
        raise ValueError(f"expected permutations 'random' or 'reverse'; got {permutations!r}")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"expected 0 <= validation_fraction < 1; got {validation_fraction}")
    if int(epochs) < 1:
        raise ValueError(f"expected at least one epoch; got {epochs}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"expected a positive batch_size or None; got {batch_size}")
    seed_seq, (arch_rng, split_rng, batch_rng) = _seeds(seed)
    if permutations == "random":
        perms = [arch_rng.permutation(ndims) for _ in range(number_networks - 1)]
    else:
        perms = [np.arange(ndims)[::-1] for _ in range(number_networks - 1)]
    perms = np.asarray(perms, dtype=np.int64).reshape(number_networks - 1, ndims)
    train_idx, val_idx = _split(n, validation_fraction, split_rng)

    tf, _, tf_keras = _tfp.import_tf()
    _, mades = _tfp.build_distribution(
        ndims=ndims, hidden_layers=hidden_layers, number_networks=number_networks,
        activation=activation, perms=perms, seed=int(arch_rng.integers(2**31 - 1)),
    )
    variables = [v for made in mades for v in made.trainable_variables]
    optimizer = tf_keras.optimizers.Adam(learning_rate=learning_rate)

    x_train = tf.constant(x[train_idx], tf.float64)
    w_train = tf.constant(weights[train_idx], tf.float64)
    x_val = tf.constant(x[val_idx], tf.float64)
    w_val = tf.constant(weights[val_idx], tf.float64)
    spec = [tf.TensorSpec([None, ndims], tf.float64), tf.TensorSpec([None], tf.float64)]

    inv_perms = [tf.constant(np.argsort(p), tf.int32) for p in perms]
    log_norm = tf.constant(ndims * 0.5 * np.log(2 * np.pi), tf.float64)

    def log_prob(xb):
        # The density of ``dist``, written as one pass per MADE: TFP's
        # TransformedDistribution.log_prob builds a graph several times
        # larger (bijector caching, shape checks) that is slower to compile
        # and to run.  test_agrees_with_tfp_evaluation checks they agree.
        y = xb
        logdet = tf.zeros(tf.shape(xb)[:1], tf.float64)
        for k in reversed(range(number_networks)):
            if k < len(perms):
                y = tf.gather(y, inv_perms[k], axis=-1)
            params = mades[k](y)
            y = (y - params[..., 0]) * tf.exp(-params[..., 1])
            logdet -= tf.reduce_sum(params[..., 1], axis=-1)
        return -0.5 * tf.reduce_sum(y * y, axis=-1) - log_norm + logdet

    def weighted_nll(xb, wb):
        return -tf.reduce_sum(wb * log_prob(xb)) / tf.reduce_sum(wb)

    nll = tf.function(weighted_nll, input_signature=spec)

    n_train = len(train_idx)
    bs = n_train if batch_size is None else min(int(batch_size), n_train)
    n_batches = -(-n_train // bs)
    w_train_sum = tf.reduce_sum(w_train)
    optimizer.build(variables)

    # One graph per epoch: a Python loop over batches costs more than the
    # batches themselves for networks of this size.
    # Batches have a fixed shape (XLA needs static shapes): the last one is
    # padded with zero-weight copies of sample 0.
    pad = n_batches * bs - n_train
    keep = tf.constant(np.r_[np.ones(n_train), np.zeros(pad)].reshape(n_batches, bs), tf.float64)

    @tf.function(input_signature=[tf.TensorSpec([n_batches, bs], tf.int32)], jit_compile=jit_compile)
    def run_epoch(order):
        total = tf.constant(0.0, tf.float64)
        for b in tf.range(n_batches):
            idx = order[b]
            xb, wb = tf.gather(x_train, idx), tf.gather(w_train, idx) * keep[b]
            with tf.GradientTape() as tape:
                loss = weighted_nll(xb, wb)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += loss * tf.reduce_sum(wb)
        return total / w_train_sum

    history = {"loss": [], "val_loss": [], "best_epoch": None, "epochs_run": 0, "seed": seed_seq.entropy}
    best = (np.inf, None)
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(epochs), desc="training flow", unit="epoch")
    try:
        for epoch in range(int(epochs)):
            order = batch_rng.permutation(n_train) if bs < n_train else np.arange(n_train)
            order = np.r_[order, np.zeros(pad, dtype=order.dtype)].reshape(n_batches, bs)
            history["loss"].append(float(run_epoch(tf.constant(order, tf.int32))) + log_jac)
            history["epochs_run"] = epoch + 1
            if len(val_idx):
                val = float(nll(x_val, w_val)) + log_jac
                history["val_loss"].append(val)
                if not np.isfinite(val):
                    logger.warning("validation loss is %s at epoch %d; stopping", val, epoch)
                    break
                if val < best[0]:
                    best = (val, [v.numpy().copy() for v in variables])
                    history["best_epoch"] = epoch
                elif epoch - history["best_epoch"] >= patience:
                    logger.info("early stop at epoch %d; best epoch %d", epoch, history["best_epoch"])
                    break
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}",
                                val_loss=f"{history['val_loss'][-1]:.4f}" if history["val_loss"] else "-")
    finally:
        if bar is not None:
            bar.close()
    if len(val_idx) and best[1] is None:
        raise FloatingPointError(
            f"expected a finite validation loss; got {history['val_loss'][-1]} at the first epoch "
            "(try a smaller learning_rate)"
        )
    if best[1] is not None:
        for var, value in zip(variables, best[1]):
            var.assign(value)
    elif len(val_idx) == 0:
        history["best_epoch"] = history["epochs_run"] - 1
    history["wall_time"] = time.perf_counter() - start
    kernels, biases, masks = _tfp.network_weights(mades)
    if standardise:
        kernels, biases = fold_standardisation(kernels, biases, mean, std)
    return {"kernels": kernels, "biases": biases, "masks": masks, "perms": perms}, history
