r"""Priors defined in another prior's cube: a Gaussian there, and a box there.

:class:`CubeGaussian` is a Gaussian in the base prior's Gaussianised cube,
the space a :class:`~flowprior.MAF` works in:

.. math::

    \theta = T(\Phi(x)), \quad x \sim \mathcal{N}(\mu, \Sigma), \qquad
    \log q(\theta) = \log\mathcal{N}(x;\, \mu, \Sigma)
        - \sum_i \log\phi(x_i) + \log\pi(\theta),

with :math:`x = \Phi^{-1}(T^{-1}(\theta))` and :math:`T` the base prior's
hypercube transform.  Every draw lies inside the support of :math:`\pi`, so a
repartitioned likelihood (:func:`flowprior.repartition`) is never asked
about a point it must reject: such points cost nothing but were counted as
likelihood calls when the defensive Gaussians lived in :math:`\theta`.  For
a posterior narrow against a uniform box, :math:`x` is locally linear in
:math:`\theta`, so the component is the familiar moment-fitted Gaussian.

:class:`CubeBox` is the base prior restricted to a box in its unit cube, the prior of a
local run on one mode (:mod:`flowprior.workflows.two_stage.recovery`).
"""

import numpy as np

from .. import _registry
from ..errors import FlowpriorValueError
from ..kernels.normal import ndtr, ndtri_clipped
from .base import Prior, check_prior

__all__ = ["CubeGaussian", "fit_cube_gaussian", "CubeBox"]


def _symmetric_positive(cov, floor):
    """``cov`` made exactly symmetric, its eigenvalues raised to at least ``floor``."""
    cov = 0.5 * (cov + cov.T)
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, floor)
    out = (vecs * vals) @ vecs.T
    return 0.5 * (out + out.T)


@_registry.register
class CubeGaussian(Prior):
    """A Gaussian in the Gaussianised cube of ``base`` (see module docs).

    Parameters
    ----------
    base : Prior
        A bijective prior (its cube transform has an inverse).
    mean : array_like, shape ``(ndims,)``
    cov : array_like, shape ``(ndims, ndims)``
        Of :math:`x = \\Phi^{-1}(T^{-1}(\\theta))`; symmetric positive definite.
    """

    def __init__(self, base, mean, cov):
        check_prior(base, "base")
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        if mean.shape != (base.ndims,) or cov.shape != (base.ndims, base.ndims):
            raise FlowpriorValueError(f"expected mean of shape ({base.ndims},) and cov of shape ({base.ndims}, "
                                      f"{base.ndims}); "
                             f"got {mean.shape} and {cov.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov)) and np.array_equal(cov, cov.T)):
            raise FlowpriorValueError("expected a finite mean and a finite, exactly symmetric covariance; got "
                                      "otherwise")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise FlowpriorValueError("expected a positive-definite covariance matrix; got one that is not") from None
        self.base, self.mean, self.cov = base, mean, cov
        self.ndims, self.params = base.ndims, base.params
        self._chol = chol
        self._log_norm = float(np.sum(np.log(np.diag(chol))))

    def _prior_transform(self, u):
        # Row-wise sums rather than BLAS, so a point gives the same bits in any batch.
        x = self.mean + np.sum(ndtri_clipped(u)[:, None, :] * self._chol[None, :, :], axis=2)
        return self.base._prior_transform(ndtr(x))

    def _x(self, theta):
        return ndtri_clipped(self.base._inverse_prior_transform(theta))

    def _inverse_prior_transform(self, theta):
        r = self._x(theta) - self.mean
        z = np.empty_like(r)
        for i in range(self.ndims):
            z[:, i] = (r[:, i] - np.sum(z[:, :i] * self._chol[i, :i], axis=1)) / self._chol[i, i]
        return ndtr(z)

    def _log_prob(self, theta):
        x = self._x(theta)
        r = x - self.mean
        z = np.empty_like(r)
        for i in range(self.ndims):
            z[:, i] = (r[:, i] - np.sum(z[:, :i] * self._chol[i, :i], axis=1)) / self._chol[i, i]
        # log N(x; mu, Sigma) - sum log phi(x): the normalisations of both cancel but for log det.
        return -0.5 * np.sum(z * z, axis=1) - self._log_norm + 0.5 * np.sum(x * x, axis=1) + self.base._log_prob(theta)

    def _in_support(self, theta):
        return self.base._in_support(theta)

    def _state(self):
        config, arrays = _registry.dump(self.base, prefix="base/")
        return {"base": config}, {**arrays, "mean": self.mean, "cov": self.cov}

    @classmethod
    def _from_state(cls, config, arrays):
        return cls(_registry.build(config["base"], arrays, prefix="base/"), arrays["mean"], arrays["cov"])


def fit_cube_gaussian(theta, weights, prior, *, inflation=1.0):
    """Weighted moment fit of a :class:`CubeGaussian` to samples, its covariance times ``inflation``.

    A covariance that a few samples leave singular has its eigenvalues
    raised to 1e-6 of the largest (and to 1e-12 at least).
    """
    x = ndtri_clipped(prior._inverse_prior_transform(np.atleast_2d(theta)))
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = w @ x
    r = x - mean
    cov = (r * w[:, None]).T @ r
    # Kish's correction for weighted samples (np.cov's aweights)
    cov = cov / max(1.0 - np.sum(w**2), 1e-12)
    floor = max(1e-6 * float(np.max(np.linalg.eigvalsh(0.5 * (cov + cov.T)))), 1e-12)
    return CubeGaussian(prior, mean, _symmetric_positive(cov * float(inflation), floor))


@_registry.register
class CubeBox(Prior):
    r"""A prior restricted to the box :math:`B = [l, h]` of its unit cube, renormalised.

    .. math::

        \theta = T(l + (h - l)\,v), \qquad
        \log\pi_B(\theta) = \log\pi(\theta) - \sum_i \log(h_i - l_i),

    since :math:`\pi(B) = |B|` for a prior defined by its cube transform
    :math:`T`.  The evidence of a run on :math:`\pi_B` times :math:`|B|` is the
    mass :math:`\int_B \mathcal{L}\pi\,d\theta`.
    """

    def __init__(self, base, lower, upper):
        check_prior(base, "base")
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        if (lower.shape != (base.ndims,) or upper.shape != (base.ndims,) or not np.all(lower >= 0)
                or not np.all(upper <= 1) or not np.all(lower < upper)):
            raise FlowpriorValueError(f"expected 0 <= lower < upper <= 1 of shape ({base.ndims},); "
                             f"got {lower.tolist()} and {upper.tolist()}")
        self.base, self.lower, self.upper = base, lower, upper
        self.ndims, self.params = base.ndims, base.params
        self.log_volume = float(np.sum(np.log(upper - lower)))

    def _prior_transform(self, v):
        return self.base._prior_transform(self.lower + (self.upper - self.lower) * v)

    def _cube(self, theta):
        return self.base._inverse_prior_transform(theta)

    def _inverse_prior_transform(self, theta):
        return np.clip((self._cube(theta) - self.lower) / (self.upper - self.lower), 0.0, 1.0)

    def _log_prob(self, theta):
        return self.base._log_prob(theta) - self.log_volume

    def _in_support(self, theta):
        inside = self.base._in_support(theta)
        if inside.any():
            u = self._cube(theta[inside])
            inside[inside] = np.all((u >= self.lower) & (u <= self.upper), axis=1)
        return inside

    def _state(self):
        config, arrays = _registry.dump(self.base, prefix="base/")
        return {"base": config}, {**arrays, "lower": self.lower, "upper": self.upper}

    @classmethod
    def _from_state(cls, config, arrays):
        return cls(_registry.build(config["base"], arrays, prefix="base/"), arrays["lower"], arrays["upper"])
