r"""Two-stage nested sampling: a cheap run, a proposal from its posterior, an exact run.

1. Stage 1 runs the original problem at low ``nlive``.
2. Modes that stage 1 left while they still rose are found in its history
   and sampled again by local runs (:func:`flowprior.workflows.two_stage.recovery.recover_lost_modes`).
3. The stage-1 posterior (and the recovered modes) is clustered; each
   cluster gets flows (if it has enough effective samples) and defensive
   Gaussians (:class:`~flowprior.priors.cube.CubeGaussian`), and every
   cluster at least a floor share of the proposal, whatever weight stage 1
   gave it.
4. With two or more clusters, a pilot importance sample from the proposal
   measures each cluster's posterior share, which the proposal then takes.
5. Stage 2 runs the repartitioned problem
   (:func:`~flowprior.repartition`, superposition weight ``beta``) at
   ``nlive_high``; with ``target_logZerr``, stage 2 is a cross-check at a
   lower ``nlive_high`` and an importance stage reaches the target.

Stage 2's evidence is the original problem's,

.. math::

    \tilde\pi = \beta\pi + (1-\beta)\,q, \qquad
    \tilde{\mathcal{L}} = \mathcal{L}\,\pi/\tilde\pi, \qquad
    \int\tilde{\mathcal{L}}\tilde\pi = \int\mathcal{L}\pi,

but a nested sampler finds only the mass its live points can reach.  Where
:math:`q` has (almost) nothing, :math:`\tilde\pi \approx \beta\pi`, and a
mode there holds a fraction of the stage-2 prior volume as small as in the
original problem: stage 2 cannot find it.  The answer is then low, with an
error bar that knows nothing of it.  Hence steps 2 to 4, and the
diagnostics (``docs/two_stage.rst``): a ``RuntimeWarning`` whenever the
stage-2 posterior holds mass where only the original prior proposed points,
whenever stage 1 lost a mode (so its mode finding was at its limit), and
whenever the proposal under-weighted a cluster badly.  A mode that stage 1
never held two live points in leaves no trace; two-stage cannot find it, any
more than a single run at ``nlive_low`` could.
"""

import inspect
import logging

import numpy as np

from ...errors import FlowpriorTypeError, FlowpriorValueError
from ...flows.block import marginal_prior
from ...flows.kinds import check_fit_options, flow_class
from ...priors.base import check_prior
from ...priors.mixture import Mixture
from ...samplers import NESTED_SAMPLERS
from ...samplers import dynesty as dy
from ...samplers import polychord as pc
from ...samplers.mpi import mpi_comm
from ...samplers.run import run
from ..repartition import DEFAULT_BETA, repartition
from .diagnostics import UNIF_EVIDENCE_DIMS, diagnostics
from .exploration import (
    POLYCHORD_REPEATS,
    STAGE1_DYNESTY_DEFAULTS,
    STAGE1_POLYCHORD_DEFAULTS,
    explore,
    stage1_enlarge,
)
from .pilot import PILOT_DRAWS, PILOT_REFIT_EFFICIENCY, PILOT_ROUNDS, run_pilot
from .precision import precision_stage
from .proposal import CLUSTER_KEYS, FIT_DEFAULTS, _with_floor, build_proposal, train_flows
from .result import TwoStageResult, posterior

__all__ = ["TwoStageResult", "two_stage", "STAGE1_DYNESTY_DEFAULTS", "STAGE1_POLYCHORD_DEFAULTS", "stage1_enlarge",
           "STAGE2_DEFAULTS", "NLIVE_HIGH", "CROSSCHECK_NLIVE_FACTOR", "POLYCHORD_REPEATS", "PILOT_DRAWS",
           "PILOT_ROUNDS", "PILOT_REFIT_EFFICIENCY", "UNIF_EVIDENCE_DIMS"]

logger = logging.getLogger(__name__)

#: Stage-2 options for either sampler: PolyChord's stopping rule on the mean live likelihood; with
#: PolyChord, ``num_repeats`` is ``POLYCHORD_REPEATS[1] * ndims`` unless given.
STAGE2_DEFAULTS = {"precision_criterion": 0.66}
#: Live points of stage 2 without ``target_logZerr``.
NLIVE_HIGH = 500
#: With ``target_logZerr``, stage 2 is a cross-check at this many times ``nlive_low`` live points, and the
#: importance stage carries the precision: it costs about a quarter of stage 2's calls per unit of
#: precision (``docs/importance.rst``).
CROSSCHECK_NLIVE_FACTOR = 2
#: The flows a stage-1 posterior can train (:data:`flowprior.flows.kinds.FLOW_KINDS` but the KDE, whose cost
#: per density call grows with its points).
FLOWS = ("piecewise", "maf", "block")


def _check_arguments(*, sampler, nlive_low, nlive_high, flow, prior, flow_scale, n_flows, flow_beta, gaussian_weight,
                     min_share, max_recovered, gaussian_inflation, target_logZerr):
    """Raise for the first unusable argument, before any likelihood call; ``(nlive_high, inflations)``."""
    if sampler not in NESTED_SAMPLERS:
        raise FlowpriorValueError(f"expected sampler in {NESTED_SAMPLERS}; got {sampler!r}")
    if target_logZerr is not None and (isinstance(target_logZerr, bool) or not isinstance(
            target_logZerr, (int, float, np.integer, np.floating)) or not 0 < target_logZerr < np.inf):
        raise FlowpriorValueError(f"expected target_logZerr > 0 or None; got {target_logZerr!r}")
    flow_class(flow, FLOWS)
    check_prior(prior)
    if flow == "block":
        marginal_prior(prior, range(prior.ndims))  # a block flow needs a product prior: say so before stage 1
    if not (np.isfinite(flow_scale) and flow_scale >= 1.0):
        raise FlowpriorValueError(f"expected flow_scale >= 1; got {flow_scale}")
    if isinstance(n_flows, bool) or not isinstance(n_flows, (int, np.integer)) or n_flows < 1:
        raise FlowpriorValueError(f"expected n_flows >= 1; got {n_flows!r}")
    if not (np.isfinite(flow_beta) and 0.0 < flow_beta <= 1.0):
        raise FlowpriorValueError(f"expected 0 < flow_beta <= 1; got {flow_beta}")
    if not 0.0 <= gaussian_weight < 1.0:
        raise FlowpriorValueError(f"expected 0 <= gaussian_weight < 1; got {gaussian_weight}")
    if not 0.0 <= min_share <= 1.0:
        raise FlowpriorValueError(f"expected 0 <= min_share <= 1; got {min_share}")
    if isinstance(max_recovered, bool) or not isinstance(max_recovered, (int, np.integer)) or max_recovered < 0:
        raise FlowpriorValueError(f"expected max_recovered >= 0; got {max_recovered!r}")
    inflations = np.atleast_1d(np.asarray(gaussian_inflation, dtype=np.float64))
    if inflations.ndim != 1 or inflations.size == 0 or not np.all(inflations > 0):
        raise FlowpriorValueError(f"expected positive gaussian_inflation factors; got {gaussian_inflation!r}")
    if nlive_high is None:
        nlive_high = NLIVE_HIGH if target_logZerr is None else CROSSCHECK_NLIVE_FACTOR * int(nlive_low)
    if int(nlive_low) >= int(nlive_high):
        raise FlowpriorValueError(f"expected nlive_low < nlive_high; got {nlive_low} and {nlive_high}")
    return nlive_high, inflations


def _check_options(sampler, flow, flow_options, low_options, high_options):
    """Reject unknown option names before any likelihood call."""

    run_keys = set(inspect.signature(run).parameters) - {"loglikelihood", "prior", "sampler", "nlive"}
    known = set(dy.OPTIONS if sampler == "dynesty" else pc.OPTIONS) | run_keys
    for name, opts in (("low_options", low_options), ("high_options", high_options)):
        unknown = sorted(set(opts or {}) - known)
        if unknown:
            raise FlowpriorTypeError(f"expected {name} among the {sampler} and run options {sorted(known)}; got "
                                     f"{unknown}")
    check_fit_options(flow, flow_options, extra=CLUSTER_KEYS)


def two_stage(loglikelihood, prior, *, sampler="dynesty", nlive_low=50, nlive_high=None, beta=DEFAULT_BETA,
              flow="piecewise", n_flows=3, flow_beta=0.7, flow_scale=1.0, gaussian_weight=0.2,
              gaussian_inflation=(4.0, 25.0), min_share=0.5, max_recovered=3, seed=None, flow_options=None,
              low_options=None, high_options=None, target_logZerr=None):
    r"""Cheap run, proposal, exact repartitioned run (see module docs).

    Parameters
    ----------
    loglikelihood : callable
    prior : Prior
        The original prior; bijective (flows and Gaussians live in its cube).
    sampler : {"dynesty", "polychord"}
    nlive_low, nlive_high : int
        Live points of the two stages; ``nlive_high`` defaults to
        ``NLIVE_HIGH`` (500), or with ``target_logZerr`` to
        ``CROSSCHECK_NLIVE_FACTOR * nlive_low`` (100): stage 2 is then a
        cross-check and the importance stage reaches the target.  Stage 1's mode finding is that of a
        run at ``nlive_low``: a mode whose share of the prior volume, where
        it separates from the rest, is below a few live points in
        ``nlive_low`` may be lost.  Lost modes that left a trace are
        recovered (step 2 of the module docs) and warned about.  Where stage 1
        and the search find more modes than ``nlive_low /``
        :data:`~flowprior.workflows.two_stage.exploration.LIVE_PER_MODE`, stage 1 and the search run again, once, with
        ``2 * LIVE_PER_MODE`` live points per mode found and a local run
        for as many lost modes as were found (the first
        attempt's calls count in ``ncall_search``; ``diagnostics["nlive_low"]``
        is the number used).
    beta : float in [0, 1)
        Weight of the original prior in the stage-2 superposition.
    flow : {"piecewise", "maf", "block"}
        One MAF per cluster with enough effective samples
        (:class:`~flowprior.PiecewiseMAF` with the clusters given), a single
        :class:`~flowprior.MAF` on all samples, or a :class:`~flowprior.BlockFlow`
        on all samples (independent groups of parameters trained apart; the prior must be a
        product over parameters).
    n_flows : int >= 1
        Flows trained with different seeds, sharing the flow weight: each
        falls short in different places where it extrapolates.  ``tw.flow``
        is then their equal-weight :class:`~flowprior.Mixture`.  A piecewise
        flow over many clusters gets fewer seeds, at least one, so that at most
        :data:`~flowprior.workflows.two_stage.proposal.FLOW_FIT_BUDGET` cluster
        flows are trained.
    flow_beta : float in (0, 1]
        Inverse temperature of the samples the flows and Gaussians are
        trained on, :math:`w_i \propto \mathcal{L}_i^{\beta_f}\,\Delta X_i`
        (anesthetic's ``set_beta``): below 1 the target is wider than the
        posterior and has more effective samples.
    flow_scale : float >= 1
        Stage 2 proposes from the flows with their base widened to
        :math:`\mathcal{N}(0, s^2 I)` (:meth:`flowprior.MAF.widened`).
    gaussian_weight : float in [0, 1)
        Share of each cluster's proposal given to defensive Gaussians; 0
        uses the flows alone (and, for a cluster too small for a flow, a
        Gaussian moment fit).
    gaussian_inflation : float or sequence of float
        Factors on those Gaussians' covariances, one Gaussian per factor.
    min_share : float in [0, 1]
        Each of the :math:`K` clusters with at least ``ndims + 1`` effective
        samples gets at least ``min_share / K`` of the proposal, however
        little of the stage-1 posterior it held (the others are scaled down
        in proportion): stage
        1 at low ``nlive`` under-weights modes with little prior volume, and
        stage 2 can only correct weights where the proposal reaches.
    max_recovered : int >= 0
        Local runs for modes stage 1 lost, at most; 0 skips the search.
    seed : int, optional
        Seeds every run and the training.
    flow_options, low_options, high_options : dict, optional
        Passed to the flow's ``fit`` (``n_clusters``, ``max_clusters``,
        ``min_silhouette`` and ``min_cluster_size`` choose the clusters) and to
        :func:`flowprior.run` for stage 1 (and the local runs) and stage 2,
        over ``STAGE1_*_DEFAULTS`` and ``STAGE2_DEFAULTS``.  Unknown names
        raise ``TypeError`` before any likelihood call.
    target_logZerr : float, optional
        Where stage 2's error is larger (as it is at the default ``nlive_high``), a second independent
        estimate, combined with stage 2's by inverse variance, reaches it: importance sampling from the
        same defensive proposal, or a second stage 2 at more live points, whichever stage 2's own
        posterior says is cheaper per unit of precision (:mod:`flowprior.workflows.two_stage.precision`),

        .. math::

            \log Z = \frac{\log Z_2/\sigma_2^2 + \log Z_3/\sigma_3^2}{1/\sigma_2^2 + 1/\sigma_3^2},
            \qquad \sigma^{-2} = \sigma_2^{-2} + \sigma_3^{-2};

        a ``RuntimeWarning`` when the two differ by more than 4 combined sigma.

    Returns
    -------
    TwoStageResult
    """
    nlive_high, inflations = _check_arguments(
        sampler=sampler, nlive_low=nlive_low, nlive_high=nlive_high, flow=flow, prior=prior, flow_scale=flow_scale,
        n_flows=n_flows, flow_beta=flow_beta, gaussian_weight=gaussian_weight, min_share=min_share,
        max_recovered=max_recovered, gaussian_inflation=gaussian_inflation, target_logZerr=target_logZerr)
    _check_options(sampler, flow, flow_options, low_options, high_options)
    # PolyChord under MPI: every rank runs this alike; the flows are trained once, on rank 0.
    comm = mpi_comm() if sampler == "polychord" else None
    seeds = np.random.SeedSequence(seed).generate_state(4 + n_flows)
    ex = explore(loglikelihood, prior, sampler=sampler, nlive_low=nlive_low, low_options=low_options,
                 max_recovered=max_recovered, flow_beta=flow_beta, flow_options=flow_options,
                 seeds=(int(seeds[0]), int(seeds[-1]), int(seeds[-2])))
    nlive_low = ex.nlive_low
    low, low_opts, recovery, clusters = ex.low, ex.low_opts, ex.recovery, ex.clusters
    modes, theta, w = ex.modes, ex.theta, ex.w
    fit_opts = {**FIT_DEFAULTS, **{k: v for k, v in (flow_options or {}).items() if k not in CLUSTER_KEYS}}
    flow_seeds = [int(s) for s in [seeds[1], *seeds[3:3 + n_flows - 1]]]
    flows, flow_clusters = train_flows(theta, w, clusters, prior, flow, fit_opts, flow_seeds, comm)
    q = flows[0] if len(flows) == 1 else Mixture(flows, np.ones(len(flows)))
    proposal = build_proposal(theta, w, clusters, flows, flow_clusters, prior, flow_scale=flow_scale,
                              gaussian_weight=gaussian_weight, inflations=inflations)
    # Every cluster its share of the proposal, at least min_share / K; clusters with too few effective
    # samples to fit a Gaussian are stray points, not modes: no floor.
    modelike = clusters.ess >= prior.ndims + 1
    floor = min_share / max(int(modelike.sum()), 1)
    cshare = _with_floor(clusters.share, modelike, floor)
    pilot, ncall_pilot = None, 0
    if flow_clusters is not None and int(modelike.sum()) >= 2:
        pilot, cshare, ncall_pilot = run_pilot(loglikelihood, prior, proposal, clusters, flow_clusters, modelike,
                                               floor, cshare, beta, np.random.default_rng([int(seeds[2]), 1]))
    rp = repartition(loglikelihood, prior, proposal.components, beta=beta, weights=proposal.weights(cshare))
    high = _stage2(rp, sampler, nlive_high, high_options, prior.ndims, int(seeds[2]))

    # Under MPI every rank makes the calls outside the sampler runs (whose counts are already totals).
    ranks = 1 if comm is None else comm.Get_size()
    ncall_search = ex.ncall_runs + ranks * ex.ncall_probe
    info = {"labels": clusters.labels, "share": clusters.share, "ess": clusters.ess, "flow_clusters": flow_clusters,
            "owner": proposal.owner, "scores": clusters.scores, "recovery": recovery, "min_size": clusters.min_size,
            "pilot": pilot, "ncall_search": ncall_search, "ncall_pilot": ranks * ncall_pilot,
            "stage1_sample": low_opts.get("sample") if sampler == "dynesty" else None,
            "proposal": proposal.mixture(cshare), "kinds": clusters.kinds}
    diag = diagnostics(low, high, rp, prior, info, nlive_low, seed=np.random.default_rng([int(seeds[2]), 3]))
    diag["nlive_low"] = nlive_low  # stage 1's own, after any rerun for many modes
    logZ, logZerr, imp, again = high.logZ, high.logZerr, None, None
    if target_logZerr is not None and high.logZerr > target_logZerr:
        def run_nested(nlive):
            return _stage2(rp, sampler, nlive, high_options, prior.ndims, int(seeds[2]) + 1)

        logZ, logZerr, imp, again = precision_stage(loglikelihood, prior, info["proposal"], beta, high,
                                                    target_logZerr, rng=np.random.default_rng([int(seeds[2]), 2]),
                                                    run_nested=run_nested, diag=diag)
    diag["ncall_importance"] = ranks * imp.ncall if imp else 0
    diag["ncall_high"] += again.ncall if again else 0
    ncall = low.ncall + ncall_search + info["ncall_pilot"] + diag["ncall_high"] + diag["ncall_importance"]
    logger.info("two_stage: logZ = %.3f +- %.3f with %d calls (%d stage 1, %d recovering lost modes, %d pilot, "
                "%d stage 2, %d importance)", logZ, logZerr, ncall, low.ncall, ncall_search, info["ncall_pilot"],
                diag["ncall_high"], diag["ncall_importance"])
    final = again or high
    return TwoStageResult(logZ=logZ, logZerr=logZerr, ncall=ncall, samples=posterior(final, rp, prior), low=low,
                          high=final, flow=q, repartitioned=rp, diagnostics=diag, recovered=tuple(modes),
                          importance=imp)


def _stage2(rp, sampler, nlive, high_options, ndims, seed):
    """Stage 2: the repartitioned problem with ``STAGE2_DEFAULTS`` under ``high_options``."""
    high_options = dict(high_options or {})
    high_opts = {} if high_options.get("dynamic") else dict(STAGE2_DEFAULTS)
    if sampler == "polychord":
        high_opts["num_repeats"] = POLYCHORD_REPEATS[1] * ndims
    else:
        # dynesty's own choice, named: stage 2's likelihood is nearly flat over its proposal, where random walks mix
        # (the suite's 10-D problems right), so fp.run's warning about them is not for this run.
        high_opts["sample"] = "auto"
    high_opts.update(high_options)
    return run(rp.loglikelihood, rp.prior, sampler=sampler, nlive=nlive, seed=seed, **high_opts)
