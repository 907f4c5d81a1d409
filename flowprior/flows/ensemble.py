r"""Ensembles of density estimators on bootstrap resamples: the training-sample error of a flow.

A flow trained on :math:`n_\mathrm{eff}` effective samples carries an error from that finite
sample, which Monte Carlo draws from the trained flow cannot see.  Member :math:`m` of an
ensemble is trained on a bootstrap resample (row counts :math:`c^{(m)} \sim
\mathrm{Multinomial}(n, 1/n)` multiplying the weights; Efron 1979) with its own seed, so the
spread of any statistic over the members estimates that error.
"""

import logging

import numpy as np

from ..errors import FlowpriorValueError
from .data import prepare
from .kde import KDE
from .kinds import FLOW_KINDS, check_fit_options, flow_class

__all__ = ["FLOWS", "bootstrap_ensemble", "check_ensemble"]

logger = logging.getLogger(__name__)

#: Density estimators an ensemble can be made of (:data:`flowprior.flows.kinds.FLOW_KINDS`).
FLOWS = FLOW_KINDS


def check_ensemble(flow, n_flows, flow_options=None):
    """Raise for an unknown estimator, fewer than one member or options its ``fit`` would refuse, before any work."""
    flow_class(flow)
    check_fit_options(flow, flow_options)
    if isinstance(n_flows, bool) or not isinstance(n_flows, (int, np.integer)) or n_flows < 1:
        raise FlowpriorValueError(f"expected n_flows >= 1; got {n_flows!r}")


def bootstrap_ensemble(samples, weights=None, *, prior, params=None, n_flows=5, flow="maf", seed=None,
                       flow_options=None):
    """``n_flows`` density estimators, each trained on a bootstrap resample of the samples.

    Parameters
    ----------
    samples, weights, prior, params
        As for :meth:`flowprior.MAF.fit`.
    n_flows : int
        Members; ``1`` trains one estimator on the samples as they are.
    flow : {"maf", "piecewise", "kde", "block"}
    seed : int, optional
        Seeds the resampling and every member's training.
    flow_options : dict, optional
        Passed to the estimator's ``fit`` (unknown keys raise).

    Returns
    -------
    list
        The trained members.
    """

    check_ensemble(flow, n_flows, flow_options)
    data = prepare(samples, weights, prior=prior, params=params)
    kind = flow_class(flow)
    options = dict(flow_options or {})
    rng = np.random.default_rng(seed)
    members = []
    for m in range(int(n_flows)):
        w = data.weights
        if n_flows > 1:
            w = w * rng.multinomial(len(w), np.full(len(w), 1.0 / len(w)))
        fit_seed = int(rng.integers(2**31 - 1))
        seeded = {} if kind is KDE else {"seed": fit_seed}  # a KDE is deterministic
        members.append(kind.fit(data.theta, w, prior=data.prior, params=data.params, **seeded, **options))
        logger.info("trained ensemble member %d of %d", m + 1, n_flows)
    return members
