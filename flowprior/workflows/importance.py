r"""Defensive importance sampling of the evidence from a flowprior prior used as proposal.

Draws :math:`\theta_i \sim \tilde q = \beta\pi + (1-\beta) q` (Hesterberg 1995's defensive
mixture) and weights them by

.. math::

    w_i = \frac{\mathcal{L}(\theta_i)\,\pi(\theta_i)}{\tilde q(\theta_i)} \le \frac{\mathcal{L}(\theta_i)}{\beta},
    \qquad \hat Z = \frac{1}{N}\sum_i w_i, \qquad
    \widehat{\mathrm{Var}}\,\hat Z = \frac{1}{N(N-1)} \sum_i (w_i - \hat Z)^2 .

:math:`\hat Z` is unbiased for any proposal whose support, with the defensive share, covers the
prior's; its reported error is the delta-method :math:`\sigma_{\log Z} = \sqrt{\widehat{\mathrm{Var}}\,
\hat Z}/\hat Z`.  The effective sample size is Kish's :math:`n_\mathrm{eff} = (\sum w)^2/\sum w^2`,
so :math:`\sigma_{\log Z}^2 \approx 1/n_\mathrm{eff} - 1/N`.

The error estimate is only as good as the sample variance of the weights.  When the proposal
misses mass, the weights have a heavy tail, and the sample variance is too small until the
rare large weights arrive.  The shape :math:`\hat k` of a generalised Pareto fitted to the
largest weights (Vehtari et al. 2024, "Pareto smoothed importance sampling", JMLR 25, 72)
measures that: above 0.7 the error bar is not to be trusted, and a ``RuntimeWarning`` says so.
"""

import logging
import math
import multiprocessing
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..kernels.logsumexp import logsumexp
from ..priors.base import check_prior
from ..priors.mixture import Mixture
from ..samplers.counting import CountedLikelihood, checked
from ..samplers.pools import ProcessPool, closed_after
from .repartition import DEFAULT_BETA

__all__ = ["ImportanceResult", "importance", "pareto_khat", "DEFAULT_N_EFF", "PARETO_K_LIMIT",
           "PRIOR_BRANCH_LIMIT"]

logger = logging.getLogger(__name__)

DEFAULT_N_EFF = 1000
"""Effective sample size aimed at when neither ``n_eff`` nor ``target_logZerr`` is given."""

PARETO_K_LIMIT = 0.7
"""Above this Pareto :math:`\\hat k` the weights' variance, and so the error bar, is unreliable."""

PRIOR_BRANCH_LIMIT = 0.01
"""Warn when more than this share of the weight lies where the defensive prior share dominates."""

_FIRST_BATCH = 500
_MIN_BATCH = 100


@dataclass(frozen=True)
class ImportanceResult:
    """What :func:`importance` returns.

    Parameters
    ----------
    logZ, logZerr : float
        Log-evidence and its one-sigma error (see module docs).
    ncall : int
        Likelihood calls, counted exactly (draws outside the prior's support are not called).
    n_eff : float
        Kish's effective sample size of the weights.
    samples : anesthetic.Samples
        The weighted draws with non-zero weight, columns named by the prior's ``params``
        plus ``logL``.
    proposal : Prior
        The proposal :math:`q` (without the defensive share).
    diagnostics : dict
        ``ndraws``, ``batches``, ``pareto_k``, ``prior_branch_fraction`` (share of the weight
        where :math:`\\beta\\pi > (1-\\beta) q`), ``max_weight_fraction``, ``stopped_by``
        (``"n_eff"``, ``"target_logZerr"`` or ``"max_ncall"``).
    """

    logZ: float
    logZerr: float
    ncall: int
    n_eff: float
    samples: object = field(repr=False)
    proposal: object = field(default=None, repr=False)
    diagnostics: dict = field(default_factory=dict, repr=False)


def pareto_khat(log_weights):
    r"""Shape :math:`\hat k` of a generalised Pareto fitted to the largest importance weights.

    The tail is the largest :math:`M = \min(N/5, 3\sqrt N)` weights above the next one, fitted
    by Zhang and Stephens' (2009) empirical-Bayes estimate with the weakly informative prior of
    Vehtari et al. (2024).  :math:`\hat k < 0.5`: finite variance, the error bar holds;
    :math:`0.5 < \hat k < 0.7`: it converges slowly; :math:`\hat k > 0.7`: it cannot be trusted.

    Parameters
    ----------
    log_weights : array_like
        Log-weights; ``-inf`` entries are ignored.

    Returns
    -------
    float
        NaN when fewer than 25 weights are finite (too few for a tail of 5); ``-inf`` when the
        largest weights are tied (bounded weights).
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = np.sort(lw[np.isfinite(lw)])
    n = lw.size
    m = int(min(0.2 * n, 3.0 * math.sqrt(n)))
    if m < 5:
        return float("nan")
    w = np.exp(lw - lw[-1])
    x = w[-m:] - w[-m - 1]
    x = x[x > 0]
    if x.size < 5:
        # Ties at the top: the weights are bounded there, the lightest tail there is.
        return float("-inf")
    k, _ = _gpd_fit(x)
    # Vehtari et al.'s prior on k: shrink towards 0.5 by 10 pseudo-observations.
    return float((m * k + 10 * 0.5) / (m + 10))


def _gpd_fit(x):
    """Zhang & Stephens (2009) posterior-mean fit of a generalised Pareto; ``x`` sorted ascending, > 0."""
    n = x.size
    m_est = 30 + int(math.sqrt(n))
    b = 1.0 - np.sqrt(m_est / (np.arange(1, m_est + 1) - 0.5))
    b = b / (3.0 * x[max(int(n / 4 + 0.5) - 1, 0)]) + 1.0 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    profile = n * (np.log(-b / k) - k - 1.0)
    weights = np.exp(profile - logsumexp(profile))
    keep = weights >= 10 * np.finfo(float).eps
    b, weights = b[keep], weights[keep] / weights[keep].sum()
    b_post = float(np.sum(b * weights))
    k_post = float(np.log1p(-b_post * x).mean())
    return k_post, -k_post / b_post


def _positive(value, name, kind=float):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FlowpriorTypeError(f"expected {name} to be a number; got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise FlowpriorValueError(f"expected {name} > 0; got {value}")
    return kind(value)


def importance(loglikelihood, prior, proposal, *, n_eff=None, target_logZerr=None, min_draws=None, beta=DEFAULT_BETA,
               max_ncall=1_000_000, seed=None, npool=None, start_method=None, progress=False):
    r"""Evidence by defensive importance sampling, in batches until a target is reached.

    .. math::

        \hat Z = \frac1N \sum_{i=1}^N \frac{\mathcal{L}(\theta_i)\,\pi(\theta_i)}
        {\beta\pi(\theta_i) + (1-\beta)\,q(\theta_i)}, \qquad \theta_i \sim \beta\pi + (1-\beta) q .

    Parameters
    ----------
    loglikelihood : callable
        ``loglikelihood(theta) -> float``: finite or ``-inf``; NaN raises.
    prior : Prior
        The original prior :math:`\pi`.
    proposal : Prior
        Any flowprior prior on the same parameters (a flow, a piecewise flow, a mixture).
    n_eff : float, optional
        Stop once Kish's effective sample size reaches this.
    target_logZerr : float, optional
        Stop once the error of log Z is at most this.  With both targets, both must be met; with
        neither, ``n_eff = DEFAULT_N_EFF``.
    min_draws : int, optional
        Draw at least this many points, whatever the weights so far say: a caller that knows the
        weights' variance from elsewhere (``two_stage`` from its stage 2) sets the sample size by it.
    beta : float in [0, 1)
        The prior's share of the proposal; every weight is then at most :math:`\mathcal{L}/\beta`.
        ``beta=0`` is plain importance sampling, exact only if ``proposal`` covers the posterior.
    max_ncall : int
        Stop (and warn) after this many likelihood calls if no target has been met.
    seed : int or numpy.random.Generator, optional
        Draws are a deterministic function of the seed (also with a pool).
    npool : int, optional
        Evaluate each batch on a pool of this many processes (the likelihood must pickle).
    start_method : {"fork", "spawn", "forkserver"}, optional
        The pool's start method; the platform default if None.
    progress : bool
        Log each batch at INFO level (``logging.getLogger("flowprior.workflows.importance")``).

    Returns
    -------
    ImportanceResult

    Warns
    -----
    RuntimeWarning
        When Pareto :math:`\hat k` > ``PARETO_K_LIMIT`` (the error bar is unreliable), when more
        than ``PRIOR_BRANCH_LIMIT`` of the weight was found where only the defensive prior share
        proposes (the proposal misses mass and more may be missing), or when ``max_ncall`` ended
        the run before its target.

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> prior = fp.UniformPrior([-5, -5], [5, 5])
    >>> q = fp.GaussianPrior([0, 0], np.eye(2))
    >>> res = fp.importance(lambda t: -0.5 * t @ t - np.log(2 * np.pi), prior, q, n_eff=2000, seed=0)
    >>> bool(abs(res.logZ + np.log(100)) < 4 * res.logZerr)
    True
    """
    n_eff, target_logZerr, max_ncall, npool = _checked(loglikelihood, prior, proposal, n_eff=n_eff,
                                                       target_logZerr=target_logZerr, beta=beta,
                                                       max_ncall=max_ncall, npool=npool)
    min_draws = 0 if min_draws is None else _positive(min_draws, "min_draws", int)
    rng = np.random.default_rng(seed)
    draws = _Draws(loglikelihood, prior, proposal, beta)
    pool = None
    if npool is not None:
        pool = ProcessPool(npool, multiprocessing.get_context(start_method), None)
    stopped_by = "max_ncall"
    with closed_after(pool):
        batch = _FIRST_BATCH if n_eff is None else int(min(_FIRST_BATCH, max(_MIN_BATCH, n_eff)))
        while True:
            draws.add(batch, rng, pool, npool)
            state = _estimate(draws.logw())
            if progress:
                logger.info("importance batch %d: %d draws, logZ = %.4f +- %.4f, n_eff = %.0f",
                            draws.batches, draws.ndraws, state["logZ"], state["logZerr"], state["n_eff"])
            done_n = n_eff is None or state["n_eff"] >= n_eff
            done_err = target_logZerr is None or state["logZerr"] <= target_logZerr
            if done_n and done_err and draws.ndraws >= min_draws and np.isfinite(state["logZ"]):
                stopped_by = "n_eff" if target_logZerr is None else "target_logZerr"
                break
            if draws.ncall >= max_ncall:
                break
            batch = _next_batch(draws.ndraws, state, n_eff, target_logZerr, max_ncall - draws.ncall, min_draws)
    return _result(draws, state, stopped_by, n_eff, target_logZerr, prior, proposal)


def _checked(loglikelihood, prior, proposal, *, n_eff, target_logZerr, beta, max_ncall, npool):
    """Raise for the first unusable argument; ``(n_eff, target_logZerr, max_ncall, npool)`` as numbers."""
    if not callable(loglikelihood):
        raise FlowpriorTypeError(f"expected a callable loglikelihood; got {type(loglikelihood).__name__}")
    for name, value in (("prior", prior), ("proposal", proposal)):
        check_prior(value, name)
    if proposal.ndims != prior.ndims:
        raise FlowpriorValueError(f"expected a proposal with {prior.ndims} dimensions; got {proposal.ndims}")
    if tuple(proposal.params) != tuple(prior.params):
        raise FlowpriorValueError(f"expected a proposal on the prior's params {list(prior.params)}; got "
                                  f"{list(proposal.params)}")
    n_eff = _positive(n_eff, "n_eff")
    target_logZerr = _positive(target_logZerr, "target_logZerr")
    max_ncall = _positive(max_ncall, "max_ncall", int)
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
            or not 0.0 <= beta < 1.0:
        raise FlowpriorValueError(f"expected 0 <= beta < 1; got {beta!r}")
    if npool is not None:
        npool = _positive(npool, "npool", int)
    if n_eff is None and target_logZerr is None:
        n_eff = float(DEFAULT_N_EFF)
    return n_eff, target_logZerr, max_ncall, npool


class _Draws:
    """The draws so far from the defensive mixture, their log-likelihoods and log-weights."""

    def __init__(self, loglikelihood, prior, proposal, beta):
        self.loglikelihood, self.prior = loglikelihood, prior
        self.mixture = Mixture([prior, proposal], [beta, 1.0 - beta]) if beta > 0 else proposal
        self.log_beta = math.log(beta) if beta > 0 else -math.inf
        self.counted = CountedLikelihood(loglikelihood)
        self.thetas, self.logLs, self.logws, self.prior_dominated = [], [], [], []
        self.ndraws, self.batches, self.ncall_pool = 0, 0, 0

    @property
    def ncall(self):
        return self.counted.ncall + self.ncall_pool

    def add(self, batch, rng, pool, npool):
        """``batch`` more draws, the likelihood called (in ``pool`` if given) for those inside the prior."""
        theta = self.mixture.sample(batch, seed=rng)
        log_pi = self.prior.log_prob(theta)
        log_q = self.mixture.log_prob(theta)
        inside = np.isfinite(log_pi)
        logL = np.full(batch, -np.inf)
        if inside.any():
            points = list(theta[inside])
            if pool is None:
                values = [self.counted(t) for t in points]
            else:
                values = pool.map(self.loglikelihood, points, chunksize=max(1, len(points) // (4 * npool)))
                values = [checked(v, t) for v, t in zip(values, points)]
                self.ncall_pool += len(points)
            logL[inside] = values
        self.thetas.append(theta)
        self.logLs.append(logL)
        self.logws.append(np.where(inside, logL + log_pi - log_q, -np.inf))
        # Where the defensive prior share dominates the proposal's density, the proposal missed.
        self.prior_dominated.append(self.log_beta + log_pi > log_q + math.log(0.5))
        self.ndraws += batch
        self.batches += 1

    def logw(self):
        return np.concatenate(self.logws)


def _result(draws, state, stopped_by, n_eff, target_logZerr, prior, proposal):
    """The :class:`ImportanceResult` of the draws, with its diagnostics and warnings."""
    theta = np.concatenate(draws.thetas)
    logL = np.concatenate(draws.logLs)
    logw = draws.logw()
    dominated = np.concatenate(draws.prior_dominated)
    khat = pareto_khat(logw)
    finite = np.isfinite(logw)
    total = logsumexp(logw[finite]) if finite.any() else -np.inf
    prior_share = float(np.exp(logsumexp(logw[finite & dominated]) - total)) if (finite & dominated).any() else 0.0
    max_share = float(np.exp(np.max(logw[finite]) - total)) if finite.any() else float("nan")
    diagnostics = {"ndraws": draws.ndraws, "batches": draws.batches, "pareto_k": khat,
                   "prior_branch_fraction": prior_share, "max_weight_fraction": max_share, "stopped_by": stopped_by}
    for message in _warnings(diagnostics, n_eff, target_logZerr, state):
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    samples = _samples(theta[finite], logL[finite], logw[finite], prior.params)
    logger.info("importance: logZ = %.4f +- %.4f, n_eff = %.0f, %d likelihood calls, Pareto k = %.2f",
                state["logZ"], state["logZerr"], state["n_eff"], draws.ncall, khat)
    return ImportanceResult(logZ=state["logZ"], logZerr=state["logZerr"], ncall=draws.ncall, n_eff=state["n_eff"],
                            samples=samples, proposal=proposal, diagnostics=diagnostics)


def _estimate(logw):
    """logZ, its delta-method error and Kish's n_eff from log-weights (``-inf`` for zero weights)."""
    n = logw.size
    finite = np.isfinite(logw)
    if not finite.any():
        return {"logZ": -math.inf, "logZerr": math.inf, "n_eff": 0.0}
    w = np.exp(logw - np.max(logw[finite]))
    mean = w.mean()
    var_mean = w.var(ddof=1) / n if n > 1 else math.inf
    logZ = float(np.max(logw[finite]) + math.log(mean))
    return {"logZ": logZ, "logZerr": float(math.sqrt(var_mean) / mean),
            "n_eff": float(w.sum() ** 2 / np.sum(w * w))}


def _next_batch(ndraws, state, n_eff, target_logZerr, remaining, min_draws=0):
    """Draws still needed by the current weights' efficiency (or ``min_draws``), aiming 10 % past the target."""
    need = max(ndraws, min_draws / 1.1)
    if n_eff is not None and state["n_eff"] > 0:
        need = max(need, ndraws * n_eff / state["n_eff"])
    if target_logZerr is not None and np.isfinite(state["logZerr"]):
        need = max(need, ndraws * (state["logZerr"] / target_logZerr) ** 2)
    batch = int(min(max(1.1 * need - ndraws, _MIN_BATCH), 4 * ndraws))
    return int(max(1, min(batch, remaining)))


def _warnings(d, n_eff, target_logZerr, state):
    out = []
    if np.isfinite(d["pareto_k"]) and d["pareto_k"] > PARETO_K_LIMIT:
        out.append(f"importance weights have a heavy tail (Pareto k = {d['pareto_k']:.2f} > {PARETO_K_LIMIT}): "
                   "the proposal misses posterior mass and logZerr is not to be trusted")
    if d["prior_branch_fraction"] > PRIOR_BRANCH_LIMIT:
        out.append(f"{100 * d['prior_branch_fraction']:.1f}% of the importance weight lies where only the defensive "
                   "prior share proposes: the proposal misses mass there, and more may be missing")
    if d["stopped_by"] == "max_ncall":
        out.append(f"max_ncall reached before the target (n_eff {state['n_eff']:.0f}"
                   f"{'' if n_eff is None else f' of {n_eff:.0f}'}, logZerr {state['logZerr']:.3g}"
                   f"{'' if target_logZerr is None else f' of {target_logZerr:.3g}'})")
    return out


def _samples(theta, logL, logw, params):
    from anesthetic import Samples

    return Samples(data=theta, columns=list(params), weights=np.exp(logw - np.max(logw)), logL=logL)
