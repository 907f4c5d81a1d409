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

from ..errors import FlowpriorValueError, TrainingDivergedError
from ..flows.data import systematic_resample
from ..kernels.made import fold_standardisation
from ..training import _tfp
from .options import training_options

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
        raise FlowpriorValueError(f"expected at least 2 training samples after the validation split; got {n - n_val}")
    order = rng.permutation(n)
    return order[n_val:], order[:n_val]


def train_maf(x, weights, *, options=None, seed=None, jit_compile=True, standardise=True):
    """Fit a MAF density to weighted points ``x`` on the real line.

    Parameters
    ----------
    x : ndarray, shape ``(n, ndims)``
    weights : ndarray, shape ``(n,)``
        Positive weights.
    options : TrainingOptions or dict, optional
        Architecture and optimiser settings (:class:`flowprior.training.options.TrainingOptions`);
        its defaults if None.
    seed : int or None
        Seeds the architecture, initial weights, split and batch order.
    jit_compile : bool
        Compile each epoch with XLA: a few seconds more to start, about 40%
        less time per epoch for the default architecture.
    standardise : bool
        Train on :math:`(x - m)/s` (weighted mean and standard deviation per
        dimension) and fold the map back into the weights exactly
        (:func:`flowprior.kernels.made.fold_standardisation`).  A posterior much
        narrower than its prior is tiny in the Gaussianised cube (0.0125
        wide for a width 0.1 in a box of width 20); without this the
        network must first learn that scale, which a low-nlive run's few
        hundred samples (one batch, so one step per epoch) do not allow.
        Losses in the history are those of :math:`x` either way.

    Returns
    -------
    weights : dict
        ``kernels``, ``biases``, ``masks`` (lists over MADEs of lists over
        layers) and ``perms`` -- what :func:`flowprior.kernels.made.pack` takes.
    history : dict
        ``loss`` and ``val_loss`` per epoch, ``best_epoch``, ``epochs_run``,
        ``wall_time`` (s) and ``seed``.
    """
    options = training_options(options)
    x = np.asarray(x, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    mean, std = _standardisation(x, weights, standardise)
    seed_seq, (arch_rng, split_rng, batch_rng) = _seeds(seed)
    perms = _permutations(x.shape[1], options, arch_rng)
    train_idx, val_idx = _split(len(x), options.validation_fraction, split_rng)
    init_seed = int(arch_rng.integers(2**31 - 1))
    model = _tfp.TrainableMAF(x.shape[1], options, perms, seed=init_seed)
    xs, log_jac = (x - mean) / std, float(np.sum(np.log(std)))
    history = _fit(model, xs, weights, train_idx, val_idx, options, batch_rng, jit_compile, log_jac=log_jac)
    history["seed"] = seed_seq.entropy
    if options.refit and len(val_idx):
        model = _tfp.TrainableMAF(x.shape[1], options, perms, seed=init_seed)
        history["refit_loss"] = _refit(model, xs, weights, history, options, batch_rng, jit_compile, log_jac=log_jac)
    kernels, biases, masks = model.weights()
    if standardise:
        kernels, biases = fold_standardisation(kernels, biases, mean, std)
    return {"kernels": kernels, "biases": biases, "masks": masks, "perms": perms}, history


def _standardisation(x, weights, standardise):
    """Weighted mean and standard deviation per dimension (0 and 1 if not standardising)."""
    ndims = x.shape[1]
    if not standardise:
        return np.zeros(ndims), np.ones(ndims)
    mean = np.average(x, axis=0, weights=weights)
    std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
    return mean, np.where(std > 0, std, 1.0)


def _permutations(ndims, options, rng):
    """The order changes between MADEs, shape ``(number_networks - 1, ndims)``."""
    k = options.number_networks - 1
    if options.permutations == "random":
        perms = [rng.permutation(ndims) for _ in range(k)]
    else:
        perms = [np.arange(ndims)[::-1] for _ in range(k)]
    return np.asarray(perms, dtype=np.int64).reshape(k, ndims)


def _fit(model, x, weights, train_idx, val_idx, options, batch_rng, jit_compile, log_jac):
    """Adam epochs with early stopping on the held-out loss; restores the best epoch's weights, by value.

    With ``options.resample`` each epoch's batches are a systematic resample of the training rows in
    proportion to their weights, with unit weights in the loss: the same expected gradient as weighted
    batches, with far less variance when the weights are uneven (nested samples, importance weights).
    With ``options.schedule == "plateau"`` the learning rate halves after every ``patience // 3``
    epochs without a better held-out loss.  Measured in ``docs/benchmarks.rst`` ("Flow fidelity").
    Losses are reported for the unstandardised points (``log_jac`` added back).
    """
    w_train = weights[train_idx]
    run_epoch, bs = _epoch_runner(model, x[train_idx], w_train, options, jit_compile)
    val_loss = model.loss_function(x[val_idx], weights[val_idx]) if len(val_idx) else None
    history = {"loss": [], "val_loss": [], "best_epoch": None, "epochs_run": 0, "learning_rate": []}
    best = (np.inf, None)
    learning_rate = options.learning_rate
    decay_every = max(options.patience // 3, 1)
    start = time.perf_counter()
    bar = _progress_bar(options)
    try:
        for epoch in range(options.epochs):
            order = _epoch_order(w_train, options, bs, batch_rng)
            stalled = epoch - 1 - history["best_epoch"] if history["best_epoch"] is not None else 0
            if options.schedule == "plateau" and stalled > 0 and stalled % decay_every == 0:
                learning_rate *= 0.5
                model.set_learning_rate(learning_rate)
            history["learning_rate"].append(learning_rate)
            history["loss"].append(run_epoch(order) + log_jac)
            history["epochs_run"] = epoch + 1
            if val_loss is not None:
                val = val_loss() + log_jac
                history["val_loss"].append(val)
                if not np.isfinite(val):
                    logger.warning("validation loss is %s at epoch %d; stopping", val, epoch)
                    break
                if val < best[0]:
                    best = (val, model.get_values())
                    history["best_epoch"] = epoch
                elif epoch - history["best_epoch"] >= options.patience:
                    logger.info("early stop at epoch %d; best epoch %d", epoch, history["best_epoch"])
                    break
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}",
                                val_loss=f"{history['val_loss'][-1]:.4f}" if history["val_loss"] else "-")
    finally:
        if bar is not None:
            bar.close()
    if val_loss is not None and best[1] is None:
        raise TrainingDivergedError(f"expected a finite validation loss; got {history['val_loss'][-1]} at the first "
                                 "epoch (try a smaller learning_rate)")
    if best[1] is not None:
        model.set_values(best[1])
    else:
        history["best_epoch"] = history["epochs_run"] - 1
    history["wall_time"] = time.perf_counter() - start
    return history


def _refit(model, x, weights, history, options, batch_rng, jit_compile, log_jac):
    """Train ``model`` (freshly initialised) on every sample with the schedule early stopping chose.

    The first fit held out ``validation_fraction`` of the samples to choose when to stop and when
    to lower the learning rate; this one replays those learning rates, epoch by epoch up to the best
    epoch, on all the samples, so the held-out ones inform the flow too (a fifth more effective
    samples by default: about a fifth less D_KL where it is limited by the sample size, as it is for
    importance-weighted samples).  Returns the training losses per epoch.
    """
    run_epoch, bs = _epoch_runner(model, x, weights, options, jit_compile)
    losses = []
    for learning_rate in history["learning_rate"][: history["best_epoch"] + 1]:
        model.set_learning_rate(learning_rate)
        losses.append(run_epoch(_epoch_order(weights, options, bs, batch_rng)) + log_jac)
    return losses


def _epoch_runner(model, x, weights, options, jit_compile):
    """``(the model's epoch function for these rows, the batch size)``."""
    n = len(x)
    bs = n if options.batch_size is None else min(int(options.batch_size), n)
    # Resampled batches carry the weights in which rows they hold, so the loss takes unit weights.
    run_epoch = model.epoch_function(x, np.ones(n) if options.resample else weights, bs, options.learning_rate,
                                     jit_compile, weight_decay=options.weight_decay)
    return run_epoch, bs


def _epoch_order(weights, options, batch_size, batch_rng):
    """The rows of one epoch, in order: a systematic resample or a permutation."""
    n = len(weights)
    if options.resample:
        return batch_rng.permutation(systematic_resample(weights, batch_rng))
    return batch_rng.permutation(n) if batch_size < n else np.arange(n)


def _progress_bar(options):
    if not options.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(options.epochs), desc="training flow", unit="epoch")
