r"""Simple priors and the protocol every flowprior prior answers.

A prior maps the unit hypercube onto parameter space (``prior_transform``),
back again (``inverse_prior_transform``), and gives a normalised log-density
(``log_prob``).  The same protocol is answered by the learned priors
(:class:`flowprior.MAF`), so any of them can be a sampler's prior or the
base prior of another flow.

For a prior transform :math:`\theta = T(u)` of the uniform measure,

.. math::

    \log \pi(\theta) = -\log \left| \det \frac{\partial T}{\partial u} \right|,

which the tests check for every prior.
"""

import abc

import numpy as np

from . import _registry
from ._normal import LOG_SQRT_2PI, ndtr, ndtri_clipped
from ._validate import as_points, check_unit_cube

__all__ = ["Prior", "UniformPrior", "LogUniformPrior", "GaussianPrior"]


def _default_params(ndims):
    return tuple(f"p{i}" for i in range(ndims))


def _refuse_a_string(params):
    """A string of names would be split into letters."""
    if isinstance(params, str):
        raise TypeError(f"expected params as a sequence of names, such as ['a', 'b']; got the string {params!r}")


def _check_params(params, ndims):
    if params is None:
        return _default_params(ndims)
    _refuse_a_string(params)
    params = tuple(str(p) for p in params)
    if len(params) != ndims:
        raise ValueError(f"expected {ndims} parameter names; got {len(params)}: {list(params)}")
    if len(set(params)) != len(params):
        raise ValueError(f"expected distinct parameter names; got {list(params)}")
    return params


def _as_vector(x, name):
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"expected {name} as a non-empty 1-D array; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"expected finite {name}; got {arr.tolist()}")
    return arr


class Prior(abc.ABC):
    """A normalised prior on :math:`\\mathbb{R}^{ndims}` defined by a hypercube transform.

    Subclasses implement the private, unchecked methods on 2-D float64
    arrays; the public methods validate input and accept one point of shape
    ``(ndims,)`` or a batch of shape ``(n, ndims)``.
    """

    ndims: int
    params: tuple

    # --- the protocol --------------------------------------------------
    def prior_transform(self, u):
        """Map points of the unit hypercube to parameters.

        Parameters
        ----------
        u : array_like, shape ``(ndims,)`` or ``(n, ndims)``
            Points in :math:`[0, 1]^{ndims}`.  The end points are allowed
            and map to finite parameters on the edge of the support.

        Returns
        -------
        theta : ndarray of the same shape as ``u``
        """
        u2, single = as_points(u, self.ndims, "u")
        check_unit_cube(u2)
        theta = self._prior_transform(u2)
        return theta[0] if single else theta

    def inverse_prior_transform(self, theta):
        """Map parameters inside the support back to the unit hypercube."""
        t2, single = as_points(theta, self.ndims, "theta")
        outside = ~self._in_support(t2)
        if np.any(outside):
            raise ValueError(
                f"expected theta inside the support of the prior; got {int(outside.sum())} "
                f"point(s) outside, e.g. {t2[outside][0].tolist()}"
            )
        u = self._inverse_prior_transform(t2)
        return u[0] if single else u

    def log_prob(self, theta):
        """Normalised log-density; ``-inf`` outside the support, never NaN.

        Returns a float for one point and an array of shape ``(n,)`` for a batch.
        """
        t2, single = as_points(theta, self.ndims, "theta")
        out = self._log_prob_all(t2)
        return float(out[0]) if single else out

    def sample(self, n, seed=None):
        """Draw ``n`` independent samples, shape ``(n, ndims)``.

        ``seed`` is anything :func:`numpy.random.default_rng` accepts.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"expected a non-negative number of samples; got {n}")
        rng = np.random.default_rng(seed)
        return self._prior_transform(rng.random((n, self.ndims)))

    def _log_prob_all(self, theta):
        """Log-density of every row, ``-inf`` outside the support."""
        inside = self._in_support(theta)
        if inside.all():
            return self._log_prob(theta)
        out = np.full(theta.shape[0], -np.inf)
        if inside.any():
            out[inside] = self._log_prob(theta[inside])
        return out

    # --- to implement --------------------------------------------------
    @abc.abstractmethod
    def _prior_transform(self, u):
        """Unchecked transform of a float64 array of shape (n, ndims)."""

    @abc.abstractmethod
    def _inverse_prior_transform(self, theta):
        """Unchecked inverse on points inside the support."""

    @abc.abstractmethod
    def _log_prob(self, theta):
        """Unchecked log-density on points inside the support."""

    @abc.abstractmethod
    def _in_support(self, theta):
        """Boolean mask of shape (n,): which rows lie in the (closed) support."""

    @abc.abstractmethod
    def _state(self):
        """(JSON-able config, dict of float64 arrays) that rebuild this prior."""

    @classmethod
    @abc.abstractmethod
    def _from_state(cls, config, arrays):
        """Rebuild from what :meth:`_state` returned."""

    def __reduce__(self):
        # Pickle as config plus arrays (what a saved file holds), never as
        # live kernels, so process pools get a clean copy without TensorFlow.
        return (_registry.build, _registry.dump(self))

    def __repr__(self):
        return f"{type(self).__name__}(ndims={self.ndims}, params={list(self.params)})"


class _BoxPrior(Prior):
    """Shared checks of priors that are products over a box ``[lower, upper]``."""

    def __init__(self, lower, upper, params=None):
        lower = _as_vector(lower, "lower")
        upper = _as_vector(upper, "upper")
        if lower.shape != upper.shape:
            lower, upper = np.broadcast_arrays(lower, upper)
            lower, upper = lower.copy(), upper.copy()
        if not np.all(lower < upper):
            raise ValueError(
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

    Examples
    --------
    >>> import flowprior as fp
    >>> fp.LogUniformPrior([1.0], [100.0]).prior_transform([0.5])
    array([10.])
    """

    def __init__(self, lower, upper, params=None):
        super().__init__(lower, upper, params=params)
        if not np.all(self.lower > 0):
            raise ValueError(f"expected lower > 0 for a log-uniform prior; got {self.lower.tolist()}")
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
            raise ValueError(
                f"expected cov of shape ({mean.size},) or ({mean.size}, {mean.size}); got {cov.shape}"
            )
        if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-12, atol=0):
            raise ValueError("expected a finite, symmetric covariance matrix; got one that is not")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("expected a positive-definite covariance matrix; got one that is not") from None
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
