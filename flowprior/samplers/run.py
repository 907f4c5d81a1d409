"""``flowprior.run``: one call from a likelihood and any flowprior prior to a result."""

import logging
import multiprocessing
import time

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..priors.base import check_prior
from ..samplers import POOLED_SAMPLERS, SAMPLERS
from .counting import CountedLikelihood, CountingPool, pool_size
from .pools import ProcessPool, closed_after
from .results import RunResult, logZ_error

__all__ = ["run"]

logger = logging.getLogger(__name__)


def run(loglikelihood, prior, *, sampler="dynesty", nlive=500, seed=None, npool=None,
        start_method=None, **sampler_options):
    r"""Run nested sampling with a flowprior prior.

    .. math::

        Z = \int \mathcal{L}(\theta)\, \pi(\theta)\, d\theta
          = \int_{[0,1]^d} \mathcal{L}(\theta(u))\, du .

    Parameters
    ----------
    loglikelihood : callable
        ``loglikelihood(theta) -> float`` on physical parameters.
    prior : Prior
        Any flowprior prior (simple, MAF, ...); its ``prior_transform`` is the
        sampler's hypercube transform.
    sampler : {"dynesty", "polychord", "nautilus"}
    nlive : int
        Live points (nautilus: ``n_live``).
    seed : int, optional
        Seeds the sampler (and the evidence-error simulation).
    npool : int, optional
        dynesty and nautilus: run on a pool of this many processes, made and
        closed here.
    start_method : {"fork", "spawn", "forkserver"}, optional
        Start method of that pool; the platform default if None.
    **sampler_options
        Passed to the sampler; unknown ones raise ``TypeError`` listing the
        accepted ones.  dynesty: ``pool`` (any object with ``map``, such as an
        ``mpi4py.futures.MPIPoolExecutor``: the user's to close; calls in its
        workers are counted exactly, task by task; ``queue_size`` defaults to
        its size), ``dynamic=True`` for dynamic nested sampling,
        ``bound`` (also ``"sheared"``, ellipsoids in a frame that straightens curved
        contours: :mod:`flowprior.samplers.sheared`), ``sample``, ``dlogz``, ``precision_criterion`` (static runs:
        PolyChord's stopping rule, see :mod:`flowprior.samplers.dynesty`), ...;
        PolyChord: ``num_repeats``, ``base_dir``, ``precision_criterion``, ...;
        nautilus: ``n_eff``, ``discard_exploration`` (True here, for an
        unbiased evidence), ``pool``, ... (:mod:`flowprior.samplers.nautilus`).

    Returns
    -------
    RunResult
        ``samples`` (anesthetic NestedSamples; for nautilus weighted
        Samples), ``logZ``, ``logZerr``,
        ``ncall`` (counted by flowprior), ``sampler``, ``wall_time``, ``raw``,
        ``stopped_by``.

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> prior = fp.UniformPrior([-5, -5], [5, 5])
    >>> res = fp.run(lambda t: -0.5 * np.sum(t**2), prior, nlive=100, seed=0)  # doctest: +SKIP
    >>> res.logZ, res.logZerr, res.ncall                                        # doctest: +SKIP
    """
    check_prior(prior)
    if sampler not in SAMPLERS:
        raise FlowpriorValueError(f"expected sampler in {SAMPLERS}; got {sampler!r}")
    nlive = int(nlive)
    if nlive < prior.ndims + 1:
        raise FlowpriorValueError(f"expected nlive > ndims ({prior.ndims}); got {nlive}")
    if npool is not None and sampler not in POOLED_SAMPLERS:
        raise FlowpriorValueError(f"expected npool only with sampler in {POOLED_SAMPLERS} (PolyChord uses MPI); "
                         f"got npool={npool}")
    user_pool = sampler_options.get("pool")
    if user_pool is not None:
        if sampler not in POOLED_SAMPLERS:
            raise FlowpriorValueError(f"expected pool only with sampler in {POOLED_SAMPLERS} (PolyChord uses MPI); "
                             f"got pool={user_pool!r}")
        if npool is not None:
            raise FlowpriorValueError(f"expected npool or pool, not both; got npool={npool} and a pool")
        if not callable(getattr(user_pool, "map", None)):
            hint = f" (for {user_pool} processes, use npool={user_pool})" if isinstance(user_pool, int) else ""
            raise FlowpriorTypeError(f"expected pool to be an object with a map method{hint}; got "
                                     f"{type(user_pool).__name__}")
        size = sampler_options.get("queue_size") or pool_size(user_pool)
        if size is None and sampler == "nautilus":
            raise FlowpriorValueError(f"expected a pool that gives its size (size, _processes, _max_workers or "
                                      "num_workers) "
                             f"for nautilus; got a {type(user_pool).__name__}")
        if size is None:
            raise FlowpriorValueError(f"expected queue_size for a pool that does not give its size; got a "
                             f"{type(user_pool).__name__} and queue_size=None")
    start = time.perf_counter()
    pool = None
    if npool is not None:
        ctx = multiprocessing.get_context(start_method)
        counter = ctx.Value("q", 0)
        counted = CountedLikelihood(loglikelihood, counter)
        pool = ProcessPool(int(npool), ctx, counter)
        sampler_options, size = {**sampler_options, "pool": pool}, int(npool)
    else:
        counted = CountedLikelihood(loglikelihood)
        if user_pool is not None:
            sampler_options = {**sampler_options, "pool": CountingPool(user_pool, counted, size)}
    if sampler == "dynesty" and sampler_options.get("pool") is not None:
        sampler_options["queue_size"] = size  # dynesty's batch of points in flight
    with closed_after(pool):
        if sampler == "dynesty":
            from .dynesty import run_dynesty as adapter
        elif sampler == "nautilus":
            from .nautilus import run_nautilus as adapter
        else:
            from .polychord import run_polychord as adapter
        samples, raw, info = adapter(counted, prior, nlive=nlive, seed=seed, options=sampler_options)
    if "logZ" in info:  # an importance sampler's own estimate
        logZ, logZerr = info["logZ"], info["logZerr"]
    else:
        logZ, logZerr = float(samples.logZ()), logZ_error(samples, seed=seed)
    ncall = info.get("ncall", counted.ncall)  # under MPI, the total over the ranks
    if info.get("comm") is not None:
        logZerr = info["comm"].bcast(logZerr, root=0)  # seed=None simulates differently on each rank
    wall = time.perf_counter() - start
    logger.info("%s: logZ = %.3f +- %.3f with %d likelihood calls in %.1f s",
                sampler, logZ, logZerr, ncall, wall)
    return RunResult(samples=samples, logZ=logZ, logZerr=logZerr, ncall=ncall,
                     sampler=sampler, wall_time=wall, raw=raw, stopped_by=info["stopped_by"])
