r"""Turn what users have (arrays, anesthetic samples) into clean training data.

Handling, each with a test:

* anesthetic ``NestedSamples`` / ``MCMCSamples`` (or any pandas DataFrame):
  columns are chosen by *name*, weights come from the samples.
* rows with zero weight are dropped (logged at INFO level);
* NaN or infinite values, negative or all-zero weights, wrong shapes, too few
  samples and samples outside the base prior raise :class:`~flowprior.errors.TrainingDataError`.
* with no base prior, a box is estimated from the samples and a
  :class:`~flowprior.errors.BoundsEstimatedWarning` is issued.

The box estimate widens the sample range the way margarine does, with the
unbiased estimator of the end points of a uniform distribution from
:math:`n` samples, using the Kish effective sample size
:math:`n = (\sum w)^2 / \sum w^2`:

.. math::

    b = \frac{(n-2)\max\theta - \min\theta}{n - 3}, \qquad
    a = \frac{(n-2)\min\theta - \max\theta}{n - 3}.
"""

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import BoundsEstimatedWarning, TrainingDataError
from ..priors.base import Prior, _check_params, _default_params, _refuse_a_string, check_prior
from ..priors.simple import UniformPrior

__all__ = ["TrainingData", "prepare", "effective_sample_size", "estimate_box", "NON_PARAMETER_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns of sampler output that are never parameters (anesthetic, PolyChord, Cobaya).
NON_PARAMETER_COLUMNS = frozenset(
    {"logL", "logL_birth", "nlive", "logw", "weight", "weights", "logP", "logpost",
     "logprior", "minuslogpost", "minuslogprior", "chain", "chi2"}
)


@dataclass(frozen=True)
class TrainingData:
    """Validated samples, their normalised weights, names and the base prior.

    ``rows`` are the indices of the input rows kept (zero-weight rows are
    dropped), so per-row side information such as cluster labels can follow.
    """

    theta: np.ndarray
    weights: np.ndarray
    params: tuple
    prior: Prior
    rows: np.ndarray


def effective_sample_size(weights):
    r"""Kish's effective sample size :math:`(\sum w)^2 / \sum w^2`."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w.sum() ** 2 / np.sum(w * w))


def systematic_resample(weights, rng, n=None):
    """Indices of ``n`` (default ``len(weights)``) draws in proportion to ``weights``, each row
    drawn ``floor(n p_i)`` or ``ceil(n p_i)`` times (systematic resampling; Kitagawa 1996).

    With equal weights and the default ``n`` every row is drawn exactly once.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = len(w) if n is None else int(n)
    edges = np.cumsum(w / w.sum())
    edges[-1] = 1.0
    return np.minimum(np.searchsorted(edges, (rng.random() + np.arange(n)) / n, side="right"), len(w) - 1)


def estimate_box(theta, weights, params=None):
    """A :class:`~flowprior.UniformPrior` a little wider than the samples (see module docs)."""
    n = effective_sample_size(weights)
    if n <= 3:
        raise TrainingDataError(
            f"expected an effective sample size above 3 to estimate prior bounds; got {n:.3g}"
        )
    hi, lo = theta.max(axis=0), theta.min(axis=0)
    upper = ((n - 2) * hi - lo) / (n - 3)
    lower = ((n - 2) * lo - hi) / (n - 3)
    # A parameter with a single value has no width to widen.
    flat = upper <= lower
    upper = np.where(flat, hi + 0.5, upper)
    lower = np.where(flat, lo - 0.5, lower)
    return UniformPrior(lower, upper, params=params)


def _is_frame(samples):
    return hasattr(samples, "columns") and hasattr(samples, "to_numpy")


def _column_names(frame):
    cols = frame.columns
    names = cols.get_level_values(0) if getattr(cols, "nlevels", 1) > 1 else cols
    return [str(c) for c in names]


def _default_frame_params(names):
    return [
        n for n in names
        if n not in NON_PARAMETER_COLUMNS and not n.startswith(("chi2__", "minuslogprior__", "logL_"))
    ]


def _from_frame(samples, weights, params):
    names = _column_names(samples)
    if params is None:
        params = _default_frame_params(names)
    missing = [p for p in params if p not in names]
    if missing:
        raise TrainingDataError(f"expected parameter names among the columns {names}; got unknown {missing}")
    theta = np.column_stack([np.asarray(samples[p], dtype=np.float64).reshape(len(samples), -1)[:, 0] for p in params])
    if hasattr(samples, "get_weights"):
        if weights is not None:
            raise TrainingDataError(
                "expected weights from the anesthetic samples or from the weights argument; got both"
            )
        weights = np.asarray(samples.get_weights(), dtype=np.float64)
    return theta, weights, tuple(params)


def prepare(samples, weights=None, *, prior=None, params=None):
    """Validate samples and weights, pick columns by name, settle the base prior.

    Parameters
    ----------
    samples : array_like of shape ``(n, ndims)``, or anesthetic samples / DataFrame
    weights : array_like of shape ``(n,)``, optional
        Non-negative; taken from the samples when they are anesthetic samples.
    prior : Prior, optional
        The base prior.  Estimated from the samples (with a warning) if absent.
    params : sequence of str, optional
        Columns to use (for frames) or names to give (for arrays).

    Returns
    -------
    TrainingData
    """
    if prior is not None:
        check_prior(prior)
    _refuse_a_string(params)  # before a frame's columns are chosen by it
    if _is_frame(samples):
        theta, weights, params = _from_frame(samples, weights, None if params is None else list(params))
    else:
        theta = np.asarray(samples, dtype=np.float64)
        if theta.ndim != 2:
            raise TrainingDataError(f"expected samples of shape (n, ndims); got shape {theta.shape}")
        if prior is not None and prior.ndims != theta.shape[1]:
            raise TrainingDataError(f"expected a prior with {theta.shape[1]} dimensions; got {prior.ndims}")
        if params is None:
            params = prior.params if prior is not None else _default_params(theta.shape[1])
        params = _check_params(params, theta.shape[1])
    n, ndims = theta.shape
    if ndims == 0:
        raise TrainingDataError("expected at least one parameter; got none")
    if weights is None:
        weights = np.ones(n)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,):
        raise TrainingDataError(f"expected weights of shape ({n},); got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise TrainingDataError(f"expected finite weights; got {int(np.sum(~np.isfinite(weights)))} NaN or inf")
    if np.any(weights < 0):
        raise TrainingDataError(f"expected non-negative weights; got {int(np.sum(weights < 0))} negative")
    bad = ~np.all(np.isfinite(theta), axis=1)
    if np.any(bad):
        raise TrainingDataError(
            f"expected finite samples; got {int(bad.sum())} row(s) with NaN or inf, "
            f"first at row {int(np.argmax(bad))}"
        )
    keep = weights > 0
    rows = np.flatnonzero(keep)
    if not np.any(keep):
        raise TrainingDataError("expected some positive weights; got all zero")
    if not np.all(keep):
        logger.info("dropping %d sample(s) with zero weight", int(np.sum(~keep)))
        theta, weights = theta[keep], weights[keep]
    if theta.shape[0] <= ndims:
        raise TrainingDataError(
            f"expected more samples with positive weight than dimensions ({ndims}); got {theta.shape[0]}"
        )
    ess = effective_sample_size(weights)
    if ess <= ndims:
        # A flow fitted to one or two effective points maps the whole cube onto them.
        raise TrainingDataError(f"expected an effective sample size above the dimensions ({ndims}); got {ess:.2f} "
                                f"from {theta.shape[0]} samples: a few weights hold almost all the mass")
    if prior is None:
        prior = estimate_box(theta, weights, params=params)
        warnings.warn(
            "no base prior given: estimated the box "
            f"lower={np.round(prior.lower, 6).tolist()}, upper={np.round(prior.upper, 6).tolist()} "
            "from the samples; the flow's density is normalised inside this box only",
            BoundsEstimatedWarning,
            stacklevel=3,
        )
    else:
        if prior.ndims != ndims:
            raise TrainingDataError(f"expected a prior with {ndims} dimensions; got {prior.ndims}")
        if prior.params != _default_params(ndims) and prior.params != params:
            raise TrainingDataError(
                f"expected the prior's params {list(prior.params)} to match the samples' {list(params)}"
            )
        outside = ~prior._in_support(theta)
        if np.any(outside):
            raise TrainingDataError(
                f"expected samples inside the base prior's support; got {int(outside.sum())} outside, "
                f"e.g. {theta[outside][0].tolist()}"
            )
    return TrainingData(theta=theta, weights=weights / weights.mean(), params=params, prior=prior,
                        rows=rows)
