r"""dynesty adapter (static and dynamic nested sampling).

Static runs also accept ``precision_criterion``, PolyChord's stopping rule:
stop when the evidence the live points hold,
:math:`Z_\mathrm{live} = X \langle\mathcal{L}\rangle_\mathrm{live}`, is
below that fraction of the evidence of the dead points,
:math:`Z_\mathrm{live} < p\,Z_\mathrm{dead}`.  dynesty's own ``dlogz``
rule, :math:`\log(1 + X \mathcal{L}_\max / Z_\mathrm{dead}) < \Delta`, is the
same with the *largest* live likelihood in place of the mean
(:math:`p = e^\Delta - 1`); it keeps a run going until it has compressed onto
its highest peak even when that peak holds almost no evidence.  With both
given, the run stops when either holds.

``min_efficiency`` (static runs) stops a run once its last ``nlive``
iterations needed more than ``1 / min_efficiency`` likelihood calls each and
``stop_check(live_u, live_logl)``, if given, returns True (it is asked at most
once every ``nlive`` iterations).  With few live points, dynesty gives no
ellipsoid of its own to a mode holding fewer than ``2 ndim`` of them; one
ellipsoid then spans the modes and its efficiency collapses (a 5-D bimodal
run at ``nlive=50`` spent 62k calls, most of them in its last iterations).
A run that only has to find the modes can stop there and let each be run on
its own (:func:`flowprior.workflows.two_stage.recovery.recover_lost_modes`); ``stop_check`` tells
that case from a curved posterior's, which collapses as well.

The final live points are added in every case, so the evidence is the usual
estimate including them.

Static runs stop only once the extrapolated tail of their posterior weights beyond the live points'
reach is below ``tail_tolerance`` (default :data:`~flowprior.samplers.termination.TAIL_TOLERANCE`)
of the evidence so far, as well as by the rules above (:mod:`flowprior.samplers.termination`: in a
funnel every other rule stops with the bulk of the posterior still ahead); ``tail_tolerance=None``
leaves the run to those rules alone.

``bound="multi"`` (the default) and ``bound="sheared"`` are flowprior's own bounds: dynesty's
multi-ellipsoids in a standardised frame, ``"sheared"`` with a volume-preserving quadratic shear of
the live points where that pays (curved contours); both raise
:class:`~flowprior.errors.SamplerStalledError` where dynesty's would be drawn from for ever
(:mod:`flowprior.samplers.sheared`).  A dynesty bound object passed as ``bound`` is used as it is.
"""

import warnings

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError, MissingDependencyError
from ..kernels.logsumexp import logsumexp
from ._checks import at_least_one, check_values, fraction, non_negative_int, positive, positive_int
from .results import birth_contours, nested_samples
from .termination import TAIL_TOLERANCE, TailWatch

__all__ = ["OPTIONS", "MCMC_DIMS", "run_dynesty"]

#: Options passed to the sampler's constructor.
_INIT = ("bound", "sample", "walks", "slices", "bootstrap", "enlarge", "update_interval",
         "first_update", "facc")
#: Options passed to ``run_nested``.
_RUN_STATIC = ("dlogz", "maxiter", "maxcall", "print_progress", "precision_criterion", "min_efficiency",
               "stop_check", "tail_tolerance")
_RUN_DYNAMIC = ("dlogz_init", "nlive_batch", "maxbatch", "maxiter", "maxcall", "use_stop",
                "wt_kwargs", "print_progress")
OPTIONS = tuple(sorted(set(_INIT + _RUN_STATIC + _RUN_DYNAMIC + ("dynamic", "pool", "queue_size"))))
#: The bound unless one is given: dynesty's multi-ellipsoids, in a standardised frame, which raise rather than loop
#: for ever when they stop overlapping the cube (:mod:`flowprior.samplers.sheared`).
DEFAULT_BOUND = "multi"
#: From this dimension dynesty's own choice of sampling is MCMC (random walks to 20, slices beyond), and a
#: run that leaves ``sample`` to it warns that its logZerr does not include the bias of short chains.
MCMC_DIMS = 10
#: Values checked before the run (a ``dlogz <= 0`` run never ends).
RULES = {"dlogz": positive, "dlogz_init": positive, "maxiter": positive_int, "maxcall": positive_int,
         "nlive_batch": positive_int, "maxbatch": non_negative_int, "walks": positive_int, "slices": positive_int,
         "bootstrap": non_negative_int, "enlarge": at_least_one, "update_interval": positive,
         "queue_size": positive_int, "tail_tolerance": fraction}


def run_dynesty(loglikelihood, prior, *, nlive, seed, options):
    """Run dynesty with ``prior.prior_transform``; see :func:`flowprior.run`."""
    try:
        import dynesty
    except ImportError:
        raise MissingDependencyError("sampler='dynesty' needs dynesty: pip install 'flowprior[dynesty]'") from None
    options = dict(options)
    dynamic = bool(options.pop("dynamic", False))
    run_keys = _RUN_DYNAMIC if dynamic else _RUN_STATIC
    run_kwargs = {k: options.pop(k) for k in run_keys if k in options}
    run_kwargs.setdefault("print_progress", False)
    init_kwargs = {k: options.pop(k) for k in _INIT + ("pool", "queue_size") if k in options}
    if options:
        unknown = ", ".join(sorted(options))
        kind = "dynamic" if dynamic else "static"
        raise FlowpriorTypeError(f"dynesty ({kind}) does not accept option(s) {unknown}; "
                        f"accepted: {', '.join(sorted(_INIT + run_keys + ('dynamic', 'pool', 'queue_size')))}")
    check_values("dynesty", {**init_kwargs, **run_kwargs}, RULES)
    if "sample" not in init_kwargs and prior.ndims >= MCMC_DIMS:
        steps = "random walks" if prior.ndims <= 20 else "slices"
        warnings.warn(
            f"dynesty: in {prior.ndims} dimensions its own choice of sampling is {steps}, whose new points are not "
            "independent draws within the likelihood contour when their chains are short for the posterior's "
            "shape; logZerr does not include the bias this gives, measured at +4.5 nats (z = 16) on a 20-D "
            "curved problem and -0.8 to -3.0 nats (z = -4 to -17, 3 seeds) on beta-10 (docs/suite.rst), so logZ "
            "may be off by nats. Check logZ with "
            "flowprior.two_stage or a second sampler, or pass sample= to choose knowingly (sample='unif' draws "
            "from the bound without chains, at a cost that grows with the dimension)", RuntimeWarning, stacklevel=4)
    init_kwargs.setdefault("bound", DEFAULT_BOUND)
    if isinstance(init_kwargs["bound"], str) and init_kwargs["bound"] in ("multi", "sheared"):
        from .sheared import ShearedEllipsoids

        init_kwargs["bound"] = ShearedEllipsoids(prior.ndims, shear=init_kwargs["bound"] == "sheared")
    precision = run_kwargs.pop("precision_criterion", None)
    if precision is not None and not (np.isfinite(precision) and precision > 0.0):
        raise FlowpriorValueError(f"expected precision_criterion > 0; got {precision}")
    min_eff = run_kwargs.pop("min_efficiency", None)
    if min_eff is not None and not (np.isfinite(min_eff) and 0.0 < min_eff < 1.0):
        raise FlowpriorValueError(f"expected 0 < min_efficiency < 1; got {min_eff}")
    stop_check = run_kwargs.pop("stop_check", None)
    if stop_check is not None and not callable(stop_check):
        raise FlowpriorTypeError(f"expected a callable stop_check; got {type(stop_check).__name__}")
    tail = run_kwargs.pop("tail_tolerance", TAIL_TOLERANCE)
    rstate = np.random.default_rng(seed)
    cls = dynesty.DynamicNestedSampler if dynamic else dynesty.NestedSampler
    sampler = cls(loglikelihood, prior.prior_transform, prior.ndims, nlive=nlive, rstate=rstate,
                  **init_kwargs)
    stopped_by = "the sampler's own rules"
    if dynamic or (precision is None and min_eff is None and tail is None):
        sampler.run_nested(**run_kwargs)
    else:
        watch = None if tail is None else TailWatch(nlive, tail)
        stopped_by = _run_to_precision(sampler, precision, run_kwargs, min_eff, nlive, stop_check, watch)
    res = sampler.results
    if dynamic:
        nlive_seq = res.samples_n
    else:
        # A static run: nlive throughout, then the final live points one by one.
        n, total = int(res.nlive), len(res.logl)
        nlive_seq = np.r_[np.full(total - n, n), np.arange(n, 0, -1)]
    birth = birth_contours(res.logl, nlive_seq)
    return nested_samples(res.samples, res.logl, prior.params, logL_birth=birth), res, {"stopped_by": stopped_by}


def _run_to_precision(sampler, precision, run_kwargs, min_efficiency, nlive, stop_check=None, watch=None):
    """Static run stopped by PolyChord's criterion or dynesty's ``dlogz`` (each once ``watch`` allows it), by low
    efficiency, or by ``maxiter`` / ``maxcall``."""
    dlogz = run_kwargs.get("dlogz")
    if dlogz is None and precision is None:
        dlogz = 1e-3 * (nlive - 1) + 0.01  # dynesty's own default for run_nested
    calls, stopped_by, checked = [], "the sampler's own rules", -nlive
    # dynesty's own dlogz test is made here, where the tail watch can veto it: dlogz=0 never ends sample().
    for it in sampler.sample(maxiter=run_kwargs.get("maxiter"), maxcall=run_kwargs.get("maxcall"),
                             dlogz=0.0 if watch is not None else dlogz, add_live=False):
        rule = None
        if watch is not None:
            watch.add(it.loglstar, it.logvol)
            if dlogz is not None and it.delta_logz < dlogz:
                rule = "the sampler's own rules"
        if precision is not None:
            # it.logvol and it.logz (the dead points' evidence) are after this iteration's dead point.
            log_live = it.logvol + logsumexp(sampler.live_logl) - np.log(len(sampler.live_logl))
            if log_live - it.logz < np.log(precision):
                rule = "precision_criterion"
        if rule is not None and (watch is None or watch.allows_stop(it.logz)):
            stopped_by = rule
            break
        if min_efficiency is not None:
            calls.append(it.nc)
            n = len(calls)
            if n >= nlive and nlive / sum(calls[-nlive:]) < min_efficiency and n - checked >= nlive:
                checked = n
                if stop_check is None or stop_check(np.array(sampler.live_u), np.array(sampler.live_logl)):
                    stopped_by = "min_efficiency"
                    break
    else:
        # The generator ended without a rule above: dynesty's own dlogz (unwatched), or a limit.
        if run_kwargs.get("maxcall") is not None and sampler.ncall >= run_kwargs["maxcall"]:
            stopped_by = "maxcall"
        elif run_kwargs.get("maxiter") is not None and sampler.it - 1 >= run_kwargs["maxiter"]:
            stopped_by = "maxiter"
    sampler.add_final_live(print_progress=False)
    return stopped_by
