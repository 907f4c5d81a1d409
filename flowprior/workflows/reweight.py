r"""Likelihood reweighting: the evidence and posterior of a slow likelihood B from samples of a fast A.

A flow :math:`q` is trained on the posterior :math:`P_A` of the fast likelihood and used as the
proposal of :func:`flowprior.importance` for the slow one:

.. math::

    \hat Z_B = \frac1N \sum_i \frac{\mathcal{L}_B(\theta_i)\,\pi(\theta_i)}{\beta\pi(\theta_i) + (1-\beta) q(\theta_i)},
    \qquad \theta_i \sim \beta\pi + (1-\beta) q, \qquad q \approx P_A .

Where :math:`q = P_A` exactly, each weight is :math:`Z_A\,\mathcal{L}_B/\mathcal{L}_A` (the classic
reweighting of A's samples), but the flow can be drawn from without end ("upsampled"), so the
draws go on until B's effective sample size is reached, and the slow likelihood is called about
:math:`n_\mathrm{eff}/\epsilon` times, with :math:`\epsilon = (\int P_B^2/q)^{-1}` the proposal's
efficiency for B.

It fails where :math:`P_B` has mass outside :math:`P_A`'s bulk: there only the defensive share
:math:`\beta\pi` proposes, the weights grow heavy-tailed and :math:`n_\mathrm{eff}/N` falls; the
diagnostics of :func:`flowprior.importance` (Pareto :math:`\hat k`, the prior-branch share) warn.
"""

import logging

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..flows.data import _from_frame, _is_frame
from ..flows.maf import MAF
from ..priors.base import check_prior
from ..training.options import split_fit_options
from .importance import DEFAULT_N_EFF, importance
from .repartition import DEFAULT_BETA

__all__ = ["reweight"]

logger = logging.getLogger(__name__)

def reweight(loglikelihood_B, samples_A, *, prior, params=None, weights=None, proposal=None, n_eff=DEFAULT_N_EFF,
             target_logZerr=None, beta=DEFAULT_BETA, max_ncall=1_000_000, seed=None, npool=None, start_method=None,
             flow_options=None, progress=False):
    r"""Evidence and posterior of a slow likelihood B, proposing from a flow trained on samples of A.

    Parameters
    ----------
    loglikelihood_B : callable
        ``loglikelihood_B(theta) -> float``, the slow likelihood.
    samples_A : anesthetic samples, or array_like ``(n, ndims)``
        Posterior samples of the fast likelihood A under ``prior``: nested samples (their weights
        are used) or weighted samples (``weights``).
    prior : Prior
        The prior of both analyses.
    params : sequence of str, optional
        Columns of ``samples_A`` to use, in the prior's order; the prior's ``params`` by default.
    weights : array_like ``(n,)``, optional
        Weights of array ``samples_A``.
    proposal : Prior, optional
        A flow already trained on :math:`P_A`; trained here (a :class:`flowprior.MAF`) if None.
    n_eff, target_logZerr, beta, max_ncall, npool, start_method, progress
        As in :func:`flowprior.importance`.
    seed : int, optional
        Seeds the flow's training and the draws.
    flow_options : dict, optional
        Passed to :meth:`flowprior.MAF.fit` (unknown names raise before anything is trained).

    Returns
    -------
    ImportanceResult
        ``logZ``, ``logZerr`` of B, ``samples`` of :math:`P_B` named by the prior's params,
        ``ncall`` (calls of :math:`\mathcal{L}_B`), ``n_eff``; ``diagnostics`` as in
        :func:`flowprior.importance`, plus ``efficiency`` (``n_eff / ncall``); ``proposal``, the flow.

    Warns
    -----
    RuntimeWarning
        Those of :func:`flowprior.importance`: where :math:`P_B` reaches beyond the bulk of
        :math:`P_A`, the weights' tail grows heavy or the defensive share finds the mass.
    """
    check_prior(prior)
    if not callable(loglikelihood_B):
        raise FlowpriorTypeError(f"expected a callable loglikelihood_B; got {type(loglikelihood_B).__name__}")
    if proposal is not None:
        check_prior(proposal, "proposal")
    flow_options = dict(flow_options or {})
    _check_fit_options(flow_options)
    if proposal is None:
        theta, weights = _posterior_of_A(samples_A, weights, prior, params)
        flow_options.setdefault("seed", seed)
        proposal = MAF.fit(theta, weights, prior=prior, params=prior.params, **flow_options)
    res = importance(loglikelihood_B, prior, proposal, n_eff=n_eff, target_logZerr=target_logZerr, beta=beta,
                     max_ncall=max_ncall, seed=seed, npool=npool, start_method=start_method, progress=progress)
    efficiency = res.n_eff / res.ncall if res.ncall else float("nan")
    res.diagnostics["efficiency"] = efficiency
    logger.info("reweight: logZ_B = %.4f +- %.4f, n_eff %.0f in %d calls (%.2f per call)", res.logZ, res.logZerr,
                res.n_eff, res.ncall, efficiency)
    return res


def _posterior_of_A(samples, weights, prior, params):
    """Rows and weights of A's samples, columns picked by name for frames."""
    names = list(prior.params) if params is None else list(params)
    if len(names) != prior.ndims:
        raise FlowpriorValueError(f"expected {prior.ndims} params, one per prior dimension; got {names}")
    if not _is_frame(samples):
        return np.asarray(samples, dtype=np.float64), weights
    theta, weights, _ = _from_frame(samples, weights, names)
    return theta, weights


def _check_fit_options(options):
    split_fit_options(options, extra=("seed", "backend"), name="flow_options")
