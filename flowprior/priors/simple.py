"""The simple priors: uniform and log-uniform boxes, and the Gaussian."""

import numpy as np

from .. import _registry
from ..errors import FlowpriorValueError
from ..kernels.normal import LOG_SQRT_2PI, ndtr, ndtri_clipped
from .base import Prior, _as_vector, _check_params

__all__ = ["UniformPrior", "LogUniformPrior", "GaussianPrior"]


class _BoxPrior(Prior):
    """Shared checks of priors that are products over a box ``[lower, upper]``."""

    def __init__(self, lower, upper, params=None):
        lower = _as_vector(lower, "lower")
        upper = _as_vector(upper, "upper")
        if lower.shape != upper.shape:
            lower, upper = np.broadcast_arrays(lower, upper)
            lower, upper = lower.copy(), upper.copy()
        if not np.all(lower < upper):
            raise FlowpriorValueError(
                f"expected lower < upper in every dimension; got lower={lower.tolist()}, "
                f"upper={upper.tolist()}"
            )
        self.lower = lower
        self.upper = upper
        self.ndims = lower.size
        self.params = _check_params(params, self.ndims)

    def _in_support(self, theta):
        return ((theta >= self.lower) & (theta <= self.upper)).all(axis=1)

    def _state(self):
        return {"params": list(self.params)}, {"lower": self.lower, "upper": self.upper}

    @classmethod
    def _from_state(cls, config, arrays):
        return cls(arrays["lower"], arrays["upper"], params=config["params"])


@_registry.register
class UniformPrior(_BoxPrior):
    r"""Uniform prior on the box :math:`\prod_i [a_i, b_i]`.

    .. math::

        \theta_i = a_i + u_i (b_i - a_i), \qquad
        \log \pi(\theta) = -\sum_i \log(b_i - a_i).

    Parameters
    ----------
    lower, upper : array_like, shape ``(ndims,)``
        Finite bounds with ``lower < upper``; a scalar broadcasts.
    params : sequence of str, optional
        Parameter names; ``p0, p1, ...`` by default.

    Examples
    --------
    >>> import flowprior as fp
    >>> prior = fp.UniformPrior([0, -1], [1, 1], params=["a", "b"])
    >>> prior.prior_transform([0.5, 0.5])
    array([0.5, 0. ])
    """

    def _prior_transform(self, u):
        # Written as a convex combination so u = 1 lands exactly on ``upper``.
        return self.lower * (1.0 - u) + self.upper * u

    def __init__(self, lower, upper, params=None):
        super().__init__(lower, upper, params=params)
        self._inv_width = 1.0 / (self.upper - self.lower)
        self._log_density = -float(np.sum(np.log(self.upper - self.lower)))

    def _inverse_prior_transform(self, theta):
        v = (theta - self.lower) * self._inv_width
        # Rounding can step just outside [0, 1] at the edges.
        np.maximum(v, 0.0, out=v)
        return np.minimum(v, 1.0, out=v)

    def _log_prob(self, theta):
        return np.full(theta.shape[0], self._log_density)


@_registry.register
class LogUniformPrior(_BoxPrior):
    r"""Log-uniform (Jeffreys) prior on :math:`\prod_i [a_i, b_i]`, :math:`0 < a_i`.

    .. math::

        \theta_i = a_i (b_i / a_i)^{u_i}, \qquad
        \log \pi(\theta) = -\sum_i \left[\log \theta_i + \log \log (b_i / a_i)\right].

    Parameters
    ----------
    lower, upper : array_like, shape ``(ndims,)``
        The box, with ``0 < lower < upper``.
    params : sequence of str, optional

    Examples
    --------
    >>> import flowprior as fp
    >>> fp.LogUniformPrior([1.0], [100.0]).prior_transform([0.5])
    array([10.])
    """

    def __init__(self, lower, upper, params=None):
        super().__init__(lower, upper, params=params)
        if not np.all(self.lower > 0):
            raise FlowpriorValueError(f"expected lower > 0 for a log-uniform prior; got {self.lower.tolist()}")
        self._log_lower = np.log(self.lower)
        self._log_ratio = np.log(self.upper) - self._log_lower

    def _prior_transform(self, u):
        theta = np.exp(self._log_lower + u * self._log_ratio)
        # exp and log round; keep the image inside the closed support.
        return np.clip(theta, self.lower, self.upper)

    def _inverse_prior_transform(self, theta):
        return np.clip((np.log(theta) - self._log_lower) / self._log_ratio, 0.0, 1.0)

    def _log_prob(self, theta):
        return -np.sum(np.log(theta) + np.log(self._log_ratio), axis=1)


@_registry.register
class GaussianPrior(Prior):
    r"""Multivariate normal prior :math:`\mathcal{N}(\mu, \Sigma)`.

    The transform uses the Cholesky factor :math:`\Sigma = L L^T`,

    .. math::

        \theta = \mu + L\, \Phi^{-1}(u),

    with :math:`\Phi^{-1}` clipped at :math:`\pm 38.5` so that :math:`u = 0`
    and :math:`u = 1` give finite parameters.

    Parameters
    ----------
    mean : array_like, shape ``(ndims,)``
    cov : array_like, shape ``(ndims,)`` or ``(ndims, ndims)``
        Variances (a diagonal covariance) or a full covariance matrix.
    params : sequence of str, optional

    Examples
    --------
    >>> import flowprior as fp
    >>> fp.GaussianPrior([0.0, 1.0], [1.0, 4.0]).prior_transform([0.5, 0.5])
    array([0., 1.])
    """

    def __init__(self, mean, cov, params=None):
        mean = _as_vector(mean, "mean")
        cov = np.asarray(cov, dtype=np.float64)
        if cov.ndim == 1:
            cov = np.diag(cov)
        if cov.shape != (mean.size, mean.size):
            raise FlowpriorValueError(
                f"expected cov of shape ({mean.size},) or ({mean.size}, {mean.size}); got {cov.shape}"
            )
        if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-12, atol=0):
            raise FlowpriorValueError("expected a finite, symmetric covariance matrix; got one that is not")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise FlowpriorValueError("expected a positive-definite covariance matrix; got one that is not") from None
        self.mean = mean
        self.cov = cov
        self.ndims = mean.size
        self.params = _check_params(params, self.ndims)
        self._chol = chol
        self._log_norm = np.sum(np.log(np.diag(chol))) + self.ndims * LOG_SQRT_2PI

    # Row-wise arithmetic rather than BLAS: a point gives the same bits
    # whatever batch it is evaluated in.
    def _prior_transform(self, u):
        z = ndtri_clipped(u)
        return self.mean + np.sum(z[:, None, :] * self._chol[None, :, :], axis=2)

    def _whiten(self, theta):
        r = theta - self.mean
        z = np.empty_like(r)
        for i in range(self.ndims):
            z[:, i] = (r[:, i] - np.sum(z[:, :i] * self._chol[i, :i], axis=1)) / self._chol[i, i]
        return z

    def _inverse_prior_transform(self, theta):
        return ndtr(self._whiten(theta))

    def _log_prob(self, theta):
        z = self._whiten(theta)
        return -0.5 * np.sum(z * z, axis=1) - self._log_norm

    def _in_support(self, theta):
        return np.all(np.isfinite(theta), axis=1)

    def _state(self):
        return {"params": list(self.params)}, {"mean": self.mean, "cov": self.cov}

    @classmethod
    def _from_state(cls, config, arrays):
        return cls(arrays["mean"], arrays["cov"], params=config["params"])
