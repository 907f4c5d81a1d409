r"""Posterior repartitioning with a superposition of the original prior and proposals.

Nested sampling integrates :math:`\mathcal{L}\pi`; any other split
:math:`\tilde{\mathcal{L}}\tilde\pi = \mathcal{L}\pi` has the same evidence and
posterior.  flowprior uses the superposition (supernest-style)

.. math::

    \tilde\pi = \beta\,\pi + (1-\beta) \sum_k w_k\, q_k, \qquad
    \tilde{\mathcal{L}} = \mathcal{L}\, \frac{\pi}{\tilde\pi},

so that :math:`\tilde{\mathcal{L}} \le \mathcal{L}/\beta`: a proposal that
misses tail mass can cost efficiency but cannot bias or blow up the
evidence.  :math:`\beta = 0` is plain repartitioning.

The superposition is a :class:`~flowprior.Mixture` with the original prior as component 0
(weight :math:`\beta`), whose hypercube transform is exact and deterministic.

References
----------
X. Chen, F. Feroz and M. Hobson (2019), "Bayesian posterior repartitioning for nested
sampling", arXiv:1908.04655.

A. Petrosyan and W. J. Handley (2022), "SuperNest: accelerated nested sampling applied to
astrophysics and cosmology", MaxEnt 2022, arXiv:2212.01760.
"""

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..priors.base import Prior
from ..priors.mixture import Mixture, _check_weights

__all__ = ["Repartitioned", "repartition", "DEFAULT_BETA"]

DEFAULT_BETA = 0.1
"""The original prior's share of a superposition: every corrected likelihood is at most 10 L."""


class Repartitioned:
    r"""The repartitioned problem: ``loglikelihood`` and ``prior`` to hand to a sampler.

    .. math::

        \log\tilde{\mathcal{L}}(\theta) = \log\mathcal{L}(\theta) + \log\pi(\theta)
            - \log\tilde\pi(\theta).

    Parameters
    ----------
    loglikelihood : callable
        The original :math:`\log\mathcal{L}`.
    prior : Prior
        The original prior :math:`\pi` (kept as ``original_prior``).
    mixture : Mixture
        :math:`\tilde\pi`, kept as ``prior``; component 0 is the original prior (weight ``beta``).
    beta : float
    """

    def __init__(self, loglikelihood, prior, mixture, beta):
        self._loglikelihood = loglikelihood
        self.original_prior = prior
        self.prior = mixture
        self.beta = beta

    def loglikelihood(self, theta):
        """Repartitioned log-likelihood; -inf outside the original prior's support.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)``
        """
        log_pi = self.original_prior.log_prob(theta)
        if log_pi == -np.inf:
            return -np.inf
        return float(self._loglikelihood(theta)) + log_pi - float(self.prior.log_prob(theta))

    def __call__(self, theta):
        return self.loglikelihood(theta)


def repartition(loglikelihood, prior, proposals, *, beta=DEFAULT_BETA, weights=None):
    r"""Superpose ``proposals`` with ``prior`` and correct the likelihood to keep Z exact.

    Parameters
    ----------
    loglikelihood : callable
        Original :math:`\log\mathcal{L}(\theta)`.
    prior : Prior
        Original prior :math:`\pi`.
    proposals : Prior or sequence of Prior
        Flows, piecewise flows or any flowprior prior on the same params.
    beta : float in [0, 1)
        Weight of the original prior in the superposition.
    weights : array_like, optional
        Relative weights of the proposals (equal by default).

    Returns
    -------
    Repartitioned
        ``rp.loglikelihood`` and ``rp.prior`` for :func:`flowprior.run`.

    Examples
    --------
    >>> import flowprior as fp
    >>> prior = fp.UniformPrior([-5], [5])
    >>> rp = fp.repartition(lambda t: -0.5 * sum(x * x for x in t), prior, fp.GaussianPrior([0.0], [1.0]),
    ...                     beta=0.2)
    >>> round(rp.loglikelihood([0.0]) + rp.prior.log_prob([0.0]), 10) == round(prior.log_prob([0.0]), 10)
    True
    """
    if isinstance(proposals, Prior):
        proposals = [proposals]
    proposals = list(proposals)
    if not 0.0 <= beta < 1.0:
        raise FlowpriorValueError(f"expected 0 <= beta < 1; got {beta}")
    if not proposals:
        raise FlowpriorValueError("expected at least one proposal; got none")
    for q in proposals:
        if not isinstance(q, Prior):
            raise FlowpriorTypeError(f"expected flowprior priors as proposals; got {type(q).__name__}")
        if q.ndims != prior.ndims:
            raise FlowpriorValueError(f"expected proposals with {prior.ndims} dimensions; got {q.ndims}")
    w = _check_weights(np.ones(len(proposals)) if weights is None else weights, len(proposals))
    mixture = Mixture([prior, *proposals], np.r_[beta, (1.0 - beta) * w])
    return Repartitioned(loglikelihood, prior, mixture, beta)
