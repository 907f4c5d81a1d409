r"""Marginal Bayesian statistics of a density estimator against a prior.

For a posterior density :math:`P` (a trained flow, a piecewise flow, a KDE,
any flowprior prior) and a prior :math:`\pi` on the same parameters,

.. math::

    \mathcal{D}_\mathrm{KL} = \left\langle \log\frac{P}{\pi} \right\rangle_P,
    \qquad
    \frac{d_G}{2} = \left\langle \left(\log\frac{P}{\pi}\right)^2 \right\rangle_P
        - \left\langle \log\frac{P}{\pi} \right\rangle_P^2

(the Kullback-Leibler divergence and the Bayesian model dimensionality of
Handley & Lemos 2019, anesthetic's ``D_KL`` and ``d_G``), estimated by Monte
Carlo over :math:`N` draws from :math:`P`, with errors

.. math::

    \sigma_{\mathcal{D}} = \frac{s}{\sqrt{N}}, \qquad
    \sigma_{d_G} = 2\sqrt{\frac{m_4 - s^4}{N}},

:math:`s^2` and :math:`m_4` being the sample variance and fourth central
moment of :math:`\log P/\pi` (the standard error of a sample variance).
"""

from dataclasses import dataclass

import numpy as np

from .priors import Prior

__all__ = ["MarginalStats", "marginal_stats"]


@dataclass(frozen=True)
class MarginalStats:
    """What :func:`marginal_stats` returns (anesthetic's names)."""

    D_KL: float
    D_KL_err: float
    d_G: float
    d_G_err: float
    nsamples: int


def marginal_stats(flow, *, prior=None, nsamples=10_000, seed=None):
    r"""KL divergence and Bayesian model dimensionality of ``flow`` from ``prior``.

    Parameters
    ----------
    flow : Prior
        The (marginal) posterior density: a MAF, PiecewiseMAF, KDE or any
        flowprior prior with ``sample`` and ``log_prob``.
    prior : Prior, optional
        The prior on the same parameters; the flow's base prior by default.
    nsamples : int
        Monte Carlo draws from ``flow``.
    seed : int, optional

    Returns
    -------
    MarginalStats
        ``D_KL``, ``D_KL_err``, ``d_G``, ``d_G_err``.

    Examples
    --------
    A Gaussian of covariance :math:`\Sigma` inside a box of volume :math:`V`
    has :math:`\mathcal{D}_\mathrm{KL} = \log V - \tfrac12\log\det(2\pi e\Sigma)`
    and :math:`d_G = d`:

    >>> import numpy as np, flowprior as fp
    >>> st = fp.marginal_stats(fp.GaussianPrior([0.0, 0.0], [0.01, 0.01]),   # variances
    ...                        prior=fp.UniformPrior([-5, -5], [5, 5]), nsamples=100_000, seed=0)
    >>> round(st.D_KL, 1), round(float(np.log(100) - np.log(2 * np.pi * np.e * 0.01)), 1)
    (6.4, 6.4)
    >>> round(st.d_G, 1)
    2.0
    """
    if not isinstance(flow, Prior):
        raise TypeError(f"expected flow to be a flowprior prior or flow; got {type(flow).__name__}")
    if prior is None:
        prior = getattr(flow, "prior", None)
        if prior is None:
            raise ValueError("expected a prior: this flow has no base prior to default to")
    if not isinstance(prior, Prior):
        raise TypeError(f"expected prior to be a flowprior Prior; got {type(prior).__name__}")
    if prior.ndims != flow.ndims:
        raise ValueError(f"expected a prior with {flow.ndims} dimensions; got {prior.ndims}")
    nsamples = int(nsamples)
    if nsamples < 2:
        raise ValueError(f"expected nsamples >= 2; got {nsamples}")
    theta = flow.sample(nsamples, seed=seed)
    log_ratio = flow.log_prob(theta) - prior.log_prob(theta)
    if not np.all(np.isfinite(log_ratio)):
        bad = int(np.sum(~np.isfinite(log_ratio)))
        raise ValueError(f"expected the flow's samples inside the prior's support; got {bad} of {nsamples} "
                         "outside (log ratio not finite)")
    mean = log_ratio.mean()
    var = log_ratio.var(ddof=1)
    m4 = np.mean((log_ratio - mean) ** 4)
    return MarginalStats(
        D_KL=float(mean),
        D_KL_err=float(np.sqrt(var / nsamples)),
        d_G=float(2 * var),
        d_G_err=float(2 * np.sqrt(max(m4 - var**2, 0.0) / nsamples)),
        nsamples=nsamples,
    )
