r"""Results of a nested-sampling run, as anesthetic samples with an evidence.

The evidence and its error are computed the same way for every sampler,
from the dead points' log-likelihoods and live-point counts:
:math:`\log Z` from anesthetic's deterministic estimate, and its error as the
standard deviation of :math:`\log Z` over simulated shrinkages
:math:`t_i \sim \mathrm{Beta}(n_i, 1)` (Skilling 2006), drawn from a seeded
generator (anesthetic's own simulation uses NumPy's global random state).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

__all__ = ["RunResult", "nested_samples", "birth_contours", "logZ_error"]


@dataclass(frozen=True)
class RunResult:
    """What :func:`flowprior.run` returns.

    Parameters
    ----------
    samples : anesthetic.NestedSamples or anesthetic.Samples
        Dead points with columns named by the prior's ``params`` plus
        ``logL``, ``logL_birth`` and ``nlive``; for nautilus, an importance
        sample: weighted ``Samples`` with the params and ``logL``.
    logZ, logZerr : float
        Log-evidence and its one-sigma error.
    ncall : int
        Likelihood calls, counted by flowprior.
    sampler : str
    wall_time : float
        Seconds.
    raw : object
        The sampler's own result object.
    stopped_by : str
        The rule that ended the run: ``"precision_criterion"``,
        ``"min_efficiency"``, ``"maxcall"`` or ``"maxiter"`` (dynesty's limits, static runs),
        ``"n_like_max or timeout"`` (nautilus) or ``"the sampler's own rules"``.
    """

    samples: object
    logZ: float
    logZerr: float
    ncall: int
    sampler: str
    wall_time: float
    raw: object = field(default=None, repr=False)
    stopped_by: str = "the sampler's own rules"


def birth_contours(logL, nlive):
    """Birth contours that reproduce a sequence of live-point counts.

    ``logL`` sorted ascending, ``nlive[i]`` the live points when point ``i``
    died.  Each death hands out ``nlive[i+1] - nlive[i] + 1`` births at its
    contour; points take births first-in first-out, so every point is born
    below the contour it dies at and anesthetic recovers ``nlive`` exactly.
    """
    logL = np.asarray(logL, dtype=np.float64)
    nlive = np.asarray(nlive, dtype=np.int64)
    births = [-np.inf] * int(nlive[0])
    out = np.empty(len(logL))
    head = 0
    for i in range(len(logL)):
        out[i] = births[head]
        head += 1
        nxt = nlive[i + 1] if i + 1 < len(logL) else 0
        births.extend([logL[i]] * int(max(nxt - nlive[i] + 1, 0)))
    return out


def nested_samples(theta, logL, params, *, logL_birth):
    """anesthetic ``NestedSamples`` from dead points and their birth contours."""
    from anesthetic import NestedSamples

    return NestedSamples(data=np.asarray(theta), columns=list(params), logL=np.asarray(logL),
                         logL_birth=np.asarray(logL_birth))


def logZ_error(samples, *, nsamples=1000, seed=None):
    """Standard deviation of log Z over simulated shrinkages (see module docs)."""
    logL = samples.logL.to_numpy()
    nlive = samples.nlive.to_numpy()
    finite = np.isfinite(logL)
    logL, nlive = logL[finite], nlive[finite]
    rng = np.random.default_rng(seed)
    logt = np.log(rng.random((nsamples, len(logL)))) / nlive
    logX = np.cumsum(logt, axis=1)
    logX_prev = np.hstack([np.zeros((nsamples, 1)), logX[:, :-1]])
    log_dX = logX_prev + np.log(-np.expm1(logt))
    return float(np.std(logsumexp(logL + log_dX, axis=1)))
