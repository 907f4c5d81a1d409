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

from .. import _registry
from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..io import save
from ._validate import as_points, check_unit_cube

__all__ = ["Prior"]


def _default_params(ndims):
    return tuple(f"p{i}" for i in range(ndims))


def _refuse_a_string(params):
    """A string of names would be split into letters."""
    if isinstance(params, str):
        raise FlowpriorTypeError(f"expected params as a sequence of names, such as ['a', 'b']; got the string "
                                 f"{params!r}")


def _check_params(params, ndims):
    if params is None:
        return _default_params(ndims)
    _refuse_a_string(params)
    params = tuple(str(p) for p in params)
    if len(params) != ndims:
        raise FlowpriorValueError(f"expected {ndims} parameter names; got {len(params)}: {list(params)}")
    if len(set(params)) != len(params):
        raise FlowpriorValueError(f"expected distinct parameter names; got {list(params)}")
    return params


def check_prior(value, name="prior"):
    """Raise unless ``value`` is a flowprior prior (the check every public entry point makes)."""
    if not isinstance(value, Prior):
        raise FlowpriorTypeError(f"expected {name} to be a flowprior Prior; got {type(value).__name__}")


def _as_vector(x, name):
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise FlowpriorValueError(f"expected {name} as a non-empty 1-D array; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise FlowpriorValueError(f"expected finite {name}; got {arr.tolist()}")
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
        """Map parameters inside the support back to the unit hypercube.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``

        Returns
        -------
        u : ndarray of the same shape
        """
        t2, single = as_points(theta, self.ndims, "theta")
        outside = ~self._in_support(t2)
        if np.any(outside):
            raise FlowpriorValueError(
                f"expected theta inside the support of the prior; got {int(outside.sum())} "
                f"point(s) outside, e.g. {t2[outside][0].tolist()}"
            )
        u = self._inverse_prior_transform(t2)
        return u[0] if single else u

    def log_prob(self, theta):
        """Normalised log-density; ``-inf`` outside the support, never NaN.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``

        Returns
        -------
        float or ndarray
            A float for one point and an array of shape ``(n,)`` for a batch.
        """
        t2, single = as_points(theta, self.ndims, "theta")
        out = self._log_prob_all(t2)
        return float(out[0]) if single else out

    def sample(self, n, seed=None):
        """Draw ``n`` independent samples, shape ``(n, ndims)``.

        Parameters
        ----------
        n : int
        seed : int, numpy.random.Generator or None
            Anything :func:`numpy.random.default_rng` accepts.
        """
        n = int(n)
        if n < 0:
            raise FlowpriorValueError(f"expected a non-negative number of samples; got {n}")
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

    def save(self, path):
        """Write this prior to ``path`` atomically; :func:`flowprior.load` reads it back (:mod:`flowprior.io`).

        Parameters
        ----------
        path : str or os.PathLike
        """
        save(self, path)

    def __reduce__(self):
        # Pickle as config plus arrays (what a saved file holds), never as
        # live kernels, so process pools get a clean copy without TensorFlow.
        return (_registry.build, _registry.dump(self))

    def __repr__(self):
        return f"{type(self).__name__}(ndims={self.ndims}, params={list(self.params)})"
