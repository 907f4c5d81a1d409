r"""Two-stage nested sampling: a cheap run, a proposal from its posterior, an exact run.

1. Stage 1 runs the original problem at low ``nlive``.
2. Modes that stage 1 left while they still rose are found in its history
   and sampled again by local runs (:func:`flowprior.modes.recover_lost_modes`).
3. The stage-1 posterior (and the recovered modes) is clustered; each
   cluster gets flows (if it has enough effective samples) and defensive
   Gaussians (:class:`~flowprior.proposals.CubeGaussian`), and every
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
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._logsumexp import logsumexp
from .counting import CountedLikelihood
from ._options import split_fit_options
from .block import BlockFlow, marginal_prior
from .data import effective_sample_size
from .flow import MAF
from .importance import importance
from .modes import SeparatedModes, recover_lost_modes
from .piecewise import PiecewiseMAF, cluster
from .priors import Prior
from .proposals import fit_cube_gaussian
from .repartition import DEFAULT_BETA, Mixture, repartition
from .mpi import mpi_comm, on_root
from .run import run
from .samplers import NESTED_SAMPLERS

__all__ = ["TwoStageResult", "two_stage", "STAGE1_DYNESTY_DEFAULTS", "STAGE1_POLYCHORD_DEFAULTS",
           "STAGE2_DEFAULTS", "NLIVE_HIGH", "CROSSCHECK_NLIVE_FACTOR", "POLYCHORD_REPEATS", "PILOT_DRAWS", "PILOT_ROUNDS",
           "PILOT_REFIT_EFFICIENCY"]

logger = logging.getLogger(__name__)

#: Stage-1 options for dynesty (measurements in ``docs/two_stage.rst``).
STAGE1_DYNESTY_DEFAULTS = {"bound": "sheared", "sample": "unif", "bootstrap": 0, "enlarge": 1.25,
                           "first_update": {"min_eff": 20.0}, "dlogz": 1.5, "min_efficiency": 0.07}
#: From this many dimensions, a stage 1 sampled uniformly in its ellipsoids at nlive_low has too
#: tight bounds for its own evidence to mean anything (its samples still serve).
UNIF_EVIDENCE_DIMS = 10
#: Stage-1 options for PolyChord (measurements in ``docs/two_stage.rst``); ``num_repeats`` is
#: ``POLYCHORD_REPEATS[0] * ndims`` unless given.
STAGE1_POLYCHORD_DEFAULTS = {"precision_criterion": 0.5}
#: Stage-2 options for either sampler: PolyChord's stopping rule on the mean live likelihood; with
#: PolyChord, ``num_repeats`` is ``POLYCHORD_REPEATS[1] * ndims`` unless given.
STAGE2_DEFAULTS = {"precision_criterion": 0.66}

#: Pilot draws per cluster that measure the clusters' posterior shares before stage 2.
PILOT_DRAWS = 100
#: At most this many pilot rounds (each refits the Gaussians of clusters too small for a flow).
PILOT_ROUNDS = 3
#: A small cluster's Gaussians are refitted when its pilot draws' effective fraction is below this.
PILOT_REFIT_EFFICIENCY = 0.5
#: Live points of each local run for a mode, as a fraction of ``nlive_low`` (one mode each: no
#: ellipsoid has to be shared).
LOCAL_NLIVE = 0.5
#: Live points of stage 2 without ``target_logZerr``.
NLIVE_HIGH = 500
#: With ``target_logZerr``, stage 2 is a cross-check at this many times ``nlive_low`` live points, and the
#: importance stage carries the precision: it costs about a quarter of stage 2's calls per unit of
#: precision (``docs/importance.rst``).
CROSSCHECK_NLIVE_FACTOR = 2
#: Slice-sampling repeats per dimension of PolyChord's stages 1 and 2 (its own default is 5).
POLYCHORD_REPEATS = (1, 2)

FLOWS = ("piecewise", "maf", "block")
#: Keys of ``flow_options`` that choose the clusters rather than train a flow.
_CLUSTER_KEYS = ("n_clusters", "max_clusters", "min_silhouette", "min_cluster_size")
#: Keys of ``flow_options`` that only one kind of flow takes.
_FLOW_KEYS = {"piecewise": ("n_jobs", "refine"), "maf": (), "block": ("blocks", "threshold")}


@dataclass(frozen=True)
class TwoStageResult:
    """What :func:`two_stage` returns.

    ``logZ``, ``logZerr`` and ``samples`` come from stage 2 (exact for the
    original problem; the ``logL`` column there is the repartitioned
    likelihood), combined with the importance stage's evidence when
    ``target_logZerr`` asked for one (``importance``, an
    :class:`~flowprior.ImportanceResult`, else None).  ``ncall`` counts every
    likelihood call: stage 1, the search for lost modes and their local runs,
    the pilot, stage 2 and the importance stage.  With PolyChord under MPI it
    is the total over the ranks: the sampler runs share their work, while the
    search, the pilot and the importance stage run alike on every rank.
    """

    logZ: float
    logZerr: float
    ncall: int
    samples: object
    low: object
    high: object
    flow: object
    repartitioned: object = field(repr=False)
    diagnostics: dict = field(default_factory=dict)
    recovered: tuple = ()
    importance: object = None


def _check_options(sampler, flow, flow_options, low_options, high_options):
    """Reject unknown option names before any likelihood call."""
    from .samplers import dynesty as dy
    from .samplers import polychord as pc

    run_keys = set(inspect.signature(run).parameters) - {"loglikelihood", "prior", "sampler", "nlive"}
    known = set(dy.OPTIONS if sampler == "dynesty" else pc.OPTIONS) | run_keys
    for name, opts in (("low_options", low_options), ("high_options", high_options)):
        unknown = sorted(set(opts or {}) - known)
        if unknown:
            raise TypeError(f"expected {name} among the {sampler} and run options {sorted(known)}; got {unknown}")
    split_fit_options(flow_options, extra=("backend",) + _CLUSTER_KEYS + _FLOW_KEYS[flow], name="flow_options")


def _merged(samples, prior, modes, beta):
    r"""``(theta, log w, source)`` of stage 1 and the local runs, each outside the smaller boxes of the others.

    :math:`\log w = \beta\log L + \log dX`, the prior mass ``dX`` in stage 1's measure throughout.  A
    local run accounts for all of its box, so what another source (stage 1, or the run of a larger box
    holding it) has inside the box is dropped.
    """
    params = list(prior.params)
    sources = [(samples, 0.0, 0.0)] + [(m.result.samples, m.log_offset, m.result_prior.log_volume) for m in modes]
    thetas, logws = [], []
    for s, offset, log_volume in sources:
        theta = s[params].to_numpy()
        logw = beta * s.logL.to_numpy() + np.asarray(s.logdX(), dtype=np.float64) + offset
        u = prior._inverse_prior_transform(theta)
        for m in modes:
            if m.result_prior.log_volume < log_volume:
                logw[np.all((u >= m.result_prior.lower) & (u <= m.result_prior.upper), axis=1)] = -np.inf
        thetas.append(theta)
        logws.append(logw)
    source = np.concatenate([np.full(len(t), j) for j, t in enumerate(thetas)])
    logw = np.concatenate(logws)
    logw[~np.isfinite(logw)] = -np.inf
    return np.vstack(thetas), logw, source


def _with_floor(share, eligible, floor):
    """Shares summing to one with every eligible one at least ``floor``, the others scaled down in proportion."""
    share = np.asarray(share, dtype=np.float64) / np.sum(share)
    fixed = np.zeros(len(share), bool)
    while True:
        rest = ~fixed
        out = np.where(fixed, floor, share * (1.0 - floor * fixed.sum()) / max(share[rest].sum(), 1e-300))
        low = eligible & rest & (out < floor)
        if not low.any():
            return out
        fixed |= low


def _pilot_shares(loglikelihood, prior, components, weights, owner, n_clusters, beta, n, rng):
    r"""Each cluster's posterior share, by importance sampling from the defensive proposal.

    With :math:`\theta_i \sim \tilde\pi` and weights :math:`\tilde{\mathcal{L}}_i = \mathcal{L}\pi/\tilde\pi`,
    cluster :math:`k`'s share is :math:`\sum_i \tilde{\mathcal{L}}_i r_k(\theta_i) / \sum_i \tilde{\mathcal{L}}_i`,
    :math:`r_k` the responsibility of its components.  The draws are independent of stage 2's, so the
    proposal stays fixed before stage 2 starts and its evidence stays exact.
    """
    counted = CountedLikelihood(loglikelihood)
    rp = repartition(counted, prior, components, beta=beta, weights=weights)
    theta = rp.prior.sample(int(n), seed=rng)
    logw = np.array([rp.loglikelihood(t) for t in theta])
    finite = np.isfinite(logw)
    resp = rp.prior.responsibilities(theta[finite])[:, 1:]
    w = np.exp(logw[finite] - np.max(logw[finite])) if finite.any() else np.zeros(0)
    by_cluster = np.column_stack([resp[:, owner == k].sum(axis=1) for k in range(n_clusters)])
    share = (w[:, None] * by_cluster).sum(axis=0)
    total = share.sum()
    return {"share": share / total if total > 0 else np.full(n_clusters, 1.0 / n_clusters),
            "ncall": counted.ncall, "theta": theta[finite], "weights": w, "responsibility": by_cluster}


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
        recovered (step 2 of the module docs) and warned about.
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
        is then their equal-weight :class:`~flowprior.Mixture`.
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
        Where stage 2's error is larger (as it is at the default ``nlive_high``), an importance
        stage (:func:`flowprior.importance`) from the same defensive proposal, independent of
        stage 2, adds draws until the two estimates combined by inverse variance reach it,

        .. math::

            \log Z = \frac{\log Z_2/\sigma_2^2 + \log Z_I/\sigma_I^2}{1/\sigma_2^2 + 1/\sigma_I^2},
            \qquad \sigma^{-2} = \sigma_2^{-2} + \sigma_I^{-2};

        a ``RuntimeWarning`` when the two differ by more than 4 combined sigma.

    Returns
    -------
    TwoStageResult
    """
    if sampler not in NESTED_SAMPLERS:
        raise ValueError(f"expected sampler in {NESTED_SAMPLERS}; got {sampler!r}")
    if target_logZerr is not None and (isinstance(target_logZerr, bool) or not isinstance(
            target_logZerr, (int, float, np.integer, np.floating)) or not 0 < target_logZerr < np.inf):
        raise ValueError(f"expected target_logZerr > 0 or None; got {target_logZerr!r}")
    if flow not in FLOWS:
        raise ValueError(f"expected flow in {FLOWS}; got {flow!r}")
    if not isinstance(prior, Prior):
        raise TypeError(f"expected prior to be a flowprior Prior; got {type(prior).__name__}")
    if flow == "block":
        marginal_prior(prior, range(prior.ndims))  # a block flow needs a product prior: say so before stage 1
    if not (np.isfinite(flow_scale) and flow_scale >= 1.0):
        raise ValueError(f"expected flow_scale >= 1; got {flow_scale}")
    if isinstance(n_flows, bool) or not isinstance(n_flows, (int, np.integer)) or n_flows < 1:
        raise ValueError(f"expected n_flows >= 1; got {n_flows!r}")
    if not (np.isfinite(flow_beta) and 0.0 < flow_beta <= 1.0):
        raise ValueError(f"expected 0 < flow_beta <= 1; got {flow_beta}")
    if not 0.0 <= gaussian_weight < 1.0:
        raise ValueError(f"expected 0 <= gaussian_weight < 1; got {gaussian_weight}")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"expected 0 <= min_share <= 1; got {min_share}")
    if isinstance(max_recovered, bool) or not isinstance(max_recovered, (int, np.integer)) or max_recovered < 0:
        raise ValueError(f"expected max_recovered >= 0; got {max_recovered!r}")
    inflations = np.atleast_1d(np.asarray(gaussian_inflation, dtype=np.float64))
    if inflations.ndim != 1 or inflations.size == 0 or not np.all(inflations > 0):
        raise ValueError(f"expected positive gaussian_inflation factors; got {gaussian_inflation!r}")
    if nlive_high is None:
        nlive_high = NLIVE_HIGH if target_logZerr is None else CROSSCHECK_NLIVE_FACTOR * int(nlive_low)
    if int(nlive_low) >= int(nlive_high):
        raise ValueError(f"expected nlive_low < nlive_high; got {nlive_low} and {nlive_high}")
    _check_options(sampler, flow, flow_options, low_options, high_options)
    # PolyChord under MPI: every rank runs this alike; the flows are trained once, on rank 0.
    comm = mpi_comm() if sampler == "polychord" else None

    # Stage 1, the first flow, stage 2, the other flows, the clustering and the local runs.
    seeds = np.random.SeedSequence(seed).generate_state(4 + n_flows)
    low_opts = dict(STAGE1_DYNESTY_DEFAULTS if sampler == "dynesty" else STAGE1_POLYCHORD_DEFAULTS)
    if sampler == "polychord":
        low_opts["num_repeats"] = POLYCHORD_REPEATS[0] * prior.ndims
    low_opts.update(low_options or {})
    split_check = None
    if max_recovered == 0 and "min_efficiency" not in (low_options or {}):
        low_opts.pop("min_efficiency", None)  # nothing would continue the modes of a stage 1 stopped early
    if low_opts.get("sample", "unif") != "unif" and "min_efficiency" not in (low_options or {}):
        low_opts.pop("min_efficiency", None)  # walks and slices are inefficient by design, not by collapse
    if sampler == "dynesty" and low_opts.get("min_efficiency") is not None and max_recovered > 0:
        # Stop stage 1 early only where its efficiency fell because it holds separated modes.
        split_check = SeparatedModes(loglikelihood, prior)
        low_opts.setdefault("stop_check", split_check)
    low = run(loglikelihood, prior, sampler=sampler, nlive=nlive_low, seed=int(seeds[0]), **low_opts)
    # The local runs are each of one mode: no early stop there.
    local_opts = {k: v for k, v in low_opts.items() if k not in ("stop_check", "min_efficiency")}

    recovery = None
    if max_recovered > 0:
        nlive_local = max(int(LOCAL_NLIVE * nlive_low), 2 * prior.ndims + 2)
        recovery = recover_lost_modes(loglikelihood, prior, low.samples, nlive=nlive_local, sampler=sampler,
                                      seed=int(seeds[-1]), max_modes=int(max_recovered), run_options=local_opts,
                                      split_final=low.stopped_by == "min_efficiency")
    modes = recovery.modes if recovery else []

    # Training samples: stage 1 outside the local runs' boxes, and the local runs, merged into one
    # weighted sample.  A local run's dead points carry prior mass logdX + log|B| in stage 1's
    # measure, so the merged weights L^beta_f dX are consistent.
    theta, log_weight, source = _merged(low.samples, prior, modes, flow_beta)
    w = np.exp(log_weight - np.max(log_weight))
    keep = w > 0
    theta, w, source = theta[keep], w[keep] / w[keep].sum(), source[keep]
    fit_opts = {"epochs": 300, "patience": 30}
    fit_opts.update({k: v for k, v in (flow_options or {}).items() if k not in _CLUSTER_KEYS})
    cluster_opts = {k: v for k, v in (flow_options or {}).items() if k in _CLUSTER_KEYS}
    # A low-nlive run has a few hundred effective samples; 50 per cluster still trains a usable flow.
    min_size = int(cluster_opts.pop("min_cluster_size", 50))
    labels, scores = cluster(theta, w, min_cluster_size=1, seed=int(seeds[-2]), **cluster_opts)
    n_clusters = int(labels.max()) + 1
    kinds = []
    for k in range(n_clusters):
        by_source = np.bincount(source[labels == k], weights=w[labels == k], minlength=len(modes) + 1)
        j = int(np.argmax(by_source))
        kinds.append("stage 1" if j == 0 else ("recovered" if modes[j - 1].kind == "lost" else "split"))
    share = np.array([w[labels == k].sum() for k in range(n_clusters)]) / w.sum()
    ess = np.array([effective_sample_size(w[labels == k]) for k in range(n_clusters)])
    big = np.where(ess >= min_size)[0]

    # Flows: one per cluster with enough effective samples.
    flow_seeds = [int(s) for s in [seeds[1], *seeds[3:3 + n_flows - 1]]]
    if flow == "piecewise" and len(big) > 0:
        rows = np.isin(labels, big)
        sub = np.searchsorted(big, labels[rows])
        opts = {"refine": 2, **fit_opts, "min_cluster_size": 1}
        flows = on_root(lambda: [PiecewiseMAF.fit(theta[rows], w[rows], prior=prior, params=list(prior.params),
                                                  labels=sub, seed=s, **opts) for s in flow_seeds], comm)
        flow_clusters = list(big)
    else:
        cls = {"piecewise": PiecewiseMAF, "maf": MAF, "block": BlockFlow}[flow]
        opts = {"min_cluster_size": 1, "n_clusters": 1, **fit_opts} if cls is PiecewiseMAF else fit_opts
        flows = on_root(lambda: [cls.fit(theta, w, prior=prior, params=list(prior.params), seed=s, **opts)
                                 for s in flow_seeds], comm)
        # One flow over every cluster; but not over separated clusters, which it would bridge: those
        # are proposed from by their Gaussian moment fits (the flow is still ``tw.flow``).
        flow_clusters = None if n_clusters == 1 or flow in ("maf", "block") else []
    q = flows[0] if n_flows == 1 else Mixture(flows, np.ones(n_flows))

    # The proposal: every cluster its share of it, at least min_share / K; within a cluster, its flows
    # (or, for a cluster too small for a flow, a Gaussian moment fit) and the defensive Gaussians.
    components, within, owner, inflation_of = [], [], [], []
    flow_weight = 1.0 - gaussian_weight
    # Clusters with too few effective samples to fit a Gaussian are stray points, not modes: no floor.
    modelike = ess >= prior.ndims + 1
    floor = min_share / max(int(modelike.sum()), 1)
    cshare = _with_floor(share, modelike, floor)
    if flow_clusters is None:
        for f in flows:
            components.append(f if flow_scale == 1.0 else f.widened(flow_scale))
            within.append(flow_weight / n_flows)
            owner.append(-1)
            inflation_of.append(None)
    for k in range(n_clusters):
        rows = labels == k
        if flow_clusters is not None and k in flow_clusters:
            j = flow_clusters.index(k)
            for f in flows:
                c = f.components[j]
                components.append(c if flow_scale == 1.0 else c.widened(flow_scale))
                within.append(flow_weight / n_flows)
                owner.append(k)
                inflation_of.append(None)
        elif flow_clusters is not None:
            components.append(fit_cube_gaussian(theta[rows], w[rows], prior))
            within.append(flow_weight)
            owner.append(k)
            inflation_of.append(1.0)
        if gaussian_weight > 0:
            for factor in inflations:
                components.append(fit_cube_gaussian(theta[rows], w[rows], prior, inflation=factor))
                within.append(gaussian_weight / len(inflations))
                owner.append(k)
                inflation_of.append(factor)
    owner, within = np.array(owner), np.array(within)

    def component_weights(cluster_share):
        return within * np.where(owner >= 0, cluster_share[np.maximum(owner, 0)], 1.0)

    # Stage 1 weighs modes badly at low nlive (a 60 % mode at 17 %, say); a pilot importance sample
    # from the proposal measures each cluster's posterior share, and the proposal takes those shares.
    pilot, ncall_pilot = None, 0
    if flow_clusters is not None and int(modelike.sum()) >= 2:
        rng = np.random.default_rng([int(seeds[2]), 1])
        for _ in range(PILOT_ROUNDS):
            pilot = _pilot_shares(loglikelihood, prior, components, component_weights(cshare), owner, n_clusters,
                                  beta, PILOT_DRAWS * int(modelike.sum()), rng)
            ncall_pilot += pilot["ncall"]
            cshare = _with_floor(np.maximum(pilot["share"], 1e-12), modelike, floor)
            # A cluster too small for a flow has Gaussians fitted to a few stage-1 samples, often from the
            # mode's outskirts; refitted to the pilot's weighted draws they move onto the mode (one step
            # of population Monte Carlo), and the next round measures the shares again.
            refit = False
            for k in range(n_clusters):
                rk = pilot["responsibility"][:, k]
                wk = pilot["weights"] * rk
                if wk.sum() <= 0 or k in flow_clusters or not modelike[k]:
                    continue
                # Refit only a poor fit (its draws' weights uneven) with enough weighted draws to fit.
                ess_k = effective_sample_size(wk)
                if ess_k >= prior.ndims + 1 and ess_k < PILOT_REFIT_EFFICIENCY * rk.sum():
                    for i in np.where(owner == k)[0]:
                        components[i] = fit_cube_gaussian(pilot["theta"], wk, prior, inflation=inflation_of[i])
                    refit = True
            if not refit:
                break
    rp = repartition(loglikelihood, prior, components, beta=beta, weights=component_weights(cshare))

    high_options = dict(high_options or {})
    high_opts = {} if high_options.get("dynamic") else dict(STAGE2_DEFAULTS)
    if sampler == "polychord":
        high_opts["num_repeats"] = POLYCHORD_REPEATS[1] * prior.ndims
    high_opts.update(high_options)
    high = run(rp.loglikelihood, rp.prior, sampler=sampler, nlive=nlive_high, seed=int(seeds[2]), **high_opts)

    # Under MPI every rank makes the calls outside the sampler runs (whose counts are already totals).
    ranks = 1 if comm is None else comm.Get_size()
    ncall_search = ((recovery.ncall_runs + ranks * recovery.ncall_probe if recovery else 0)
                    + (ranks * split_check.ncall if split_check else 0))
    ncall_pilot *= ranks
    info = {"labels": labels, "share": share, "ess": ess, "flow_clusters": flow_clusters, "owner": owner,
            "scores": scores, "recovery": recovery, "min_size": min_size, "pilot": pilot,
            "ncall_search": ncall_search, "ncall_pilot": ncall_pilot,
            "stage1_sample": low_opts.get("sample") if sampler == "dynesty" else None,
            "proposal": Mixture(components, component_weights(cshare)),
            "kinds": kinds}
    diag = _diagnostics(low, high, rp, prior, info, nlive_low)
    logZ, logZerr, imp = high.logZ, high.logZerr, None
    if target_logZerr is not None and high.logZerr > target_logZerr:
        logZ, logZerr, imp = _importance_stage(loglikelihood, prior, info["proposal"], beta, high, target_logZerr,
                                               np.random.default_rng([int(seeds[2]), 2]), diag)
    ncall_importance = ranks * imp.ncall if imp else 0
    diag["ncall_importance"] = ncall_importance
    ncall = low.ncall + ncall_search + ncall_pilot + high.ncall + ncall_importance
    logger.info("two_stage: logZ = %.3f +- %.3f with %d calls (%d stage 1, %d recovering lost modes, %d pilot, "
                "%d stage 2, %d importance)", logZ, logZerr, ncall, low.ncall, ncall_search, ncall_pilot, high.ncall,
                ncall_importance)
    return TwoStageResult(logZ=logZ, logZerr=logZerr, ncall=ncall, samples=high.samples, low=low,
                          high=high, flow=q, repartitioned=rp, diagnostics=diag, recovered=tuple(modes),
                          importance=imp)


def _importance_stage(loglikelihood, prior, proposal, beta, high, target, rng, diag):
    """Importance draws until stage 2's and their evidence combined reach ``target`` (see ``target_logZerr``)."""
    need = 1.0 / np.sqrt(1.0 / target**2 - 1.0 / high.logZerr**2)
    imp = importance(loglikelihood, prior, proposal, target_logZerr=float(need), beta=beta, seed=rng)
    w2, wi = high.logZerr**-2, imp.logZerr**-2
    logZ = (w2 * high.logZ + wi * imp.logZ) / (w2 + wi)
    logZerr = float((w2 + wi) ** -0.5)
    apart = (high.logZ - imp.logZ) / np.hypot(high.logZerr, imp.logZerr)
    diag.update(logZ_stage2=float(high.logZ), logZerr_stage2=float(high.logZerr), logZ_importance=float(imp.logZ),
                logZerr_importance=float(imp.logZerr), stage2_importance_difference_sigma=float(apart))
    if abs(apart) > 4:
        msg = (f"stage 2 and the importance stage disagree by {apart:.1f} sigma (logZ {high.logZ:.3f} +- "
               f"{high.logZerr:.3f} and {imp.logZ:.3f} +- {imp.logZerr:.3f}): the proposal may miss mass")
        diag["warnings"].append(msg)
        warnings.warn(f"two_stage: {msg}", RuntimeWarning, stacklevel=3)
    return float(logZ), logZerr, imp


def _diagnostics(low, high, rp, prior, info, nlive_low):
    """Numbers about the run (``tw.diagnostics``), then the warnings :func:`_warnings` finds in them."""
    params = list(prior.params)
    t2 = high.samples[params].to_numpy()
    w2 = np.asarray(high.samples.get_weights(), dtype=np.float64)
    keep = w2 > 0
    t2, w2 = t2[keep], w2[keep]
    p2 = w2 / w2.sum()
    # exp(-D_KL(P || q)) of the proposal q (all but the prior branch) over the stage-2 posterior, where
    # log L + log pi = log L~ + log pi~ needs no new likelihood call.
    log_pi_tilde = rp.prior.log_prob(t2)
    log_ratio = high.samples.logL.to_numpy()[keep] + log_pi_tilde - high.logZ - info["proposal"].log_prob(t2)
    ess_fraction = 0.0 if np.any(np.isposinf(log_ratio)) else float(np.exp(-np.sum(p2 * log_ratio)))
    complete = low.stopped_by != "min_efficiency" and not (info["stage1_sample"] == "unif"
                                                          and prior.ndims >= UNIF_EVIDENCE_DIMS)
    dlogZ = (high.logZ - low.logZ) / np.hypot(high.logZerr, low.logZerr) if complete else np.nan

    resp = rp.prior.responsibilities(t2)
    fractions = (p2[:, None] * resp).sum(axis=0)
    owner = info["owner"]
    is_flow = np.array([isinstance(c, (MAF, PiecewiseMAF, BlockFlow)) for c in rp.prior.components[1:]])
    prop_w = rp.prior.weights[1:] / rp.prior.weights[1:].sum()
    recovery = info["recovery"]
    clusters = []
    for k in range(len(info["share"])):
        mine = owner == k
        clusters.append({
            "source": info["kinds"][k],
            "training_share": float(info["share"][k]),
            "effective_samples": float(info["ess"][k]),
            "has_flow": info["flow_clusters"] is None or k in info["flow_clusters"],
            "pilot_share": float(info["pilot"]["share"][k]) if info["pilot"] else None,
            "proposal_share": float(prop_w[mine].sum()),
            "posterior_share": float(fractions[1:][mine].sum()),
        })
    diag = {
        "importance_ess_fraction": ess_fraction,
        "logZ_stage_difference_sigma": float(dlogZ),
        "stage1_stopped_by": low.stopped_by,
        "posterior_fraction_prior_branch": float(fractions[0]),
        "posterior_fraction_flow_branch": float(fractions[1:][is_flow].sum()),
        "posterior_fraction_gaussian_branch": float(fractions[1:][~is_flow].sum()),
        # How far stage 2 compressed: D_KL(P || pi~) of its own run, near 0 for pi~ = P.
        "proposal_D_KL": float(high.samples.D_KL()),
        "n_clusters": len(clusters),
        "n_clusters_with_flow": len(clusters) if info["flow_clusters"] is None else len(info["flow_clusters"]),
        "clusters": clusters,
        "recovered_modes": [{"kind": m.kind, "level": m.island.level, "peak_logL": m.peak_logL,
                             "log_mass": m.log_mass, "estimated_log_mass": m.estimated_log_mass,
                             "ncall": m.result.ncall}
                            for m in (recovery.modes if recovery else [])],
        "lost_mode_candidates_skipped": [{"level": isl.level, "reason": why, "estimated_fraction": frac}
                                         for isl, why, frac in (recovery.skipped if recovery else [])],
        "ncall_low": int(low.ncall),
        "ncall_search": int(info["ncall_search"]),
        "ncall_pilot": int(info["ncall_pilot"]),
        "ncall_high": int(high.ncall),
    }
    problems, notes = _warnings(diag, nlive_low)
    diag["warnings"] = problems + notes
    small = [k for k, c in enumerate(clusters) if not c["has_flow"]]
    if small:
        logger.info("two_stage: %d of %d clusters had too few effective samples for a flow (Gaussians only)",
                    len(small), len(clusters))
    for msg in problems:
        warnings.warn(f"two_stage: {msg}", RuntimeWarning, stacklevel=3)
    for msg in notes:
        warnings.warn(f"two_stage: the proposal looks poor: {msg}; the evidence stays exact, but stage 2 was less "
                      "efficient than it could be", RuntimeWarning, stacklevel=3)
    return diag


def _warnings(diag, nlive_low):
    """``(problems, notes)``: where the evidence may be wrong, and where stage 2 was only costly (module docs)."""
    problems, notes = [], []
    if diag["posterior_fraction_prior_branch"] > 0.01:
        problems.append(
            f"stage 2 found {diag['posterior_fraction_prior_branch']:.1%} of the posterior where only the original "
            "prior proposed points: the proposal missed that mass, and stage 2 finds such mass only by chance, so "
            "more may be missing and logZ may be too low; rerun with a larger nlive_low")
    for k, c in enumerate(diag["clusters"]):
        if c["source"] == "recovered" and c["posterior_share"] > 0.01:
            problems.append(
                f"stage 1 lost a mode that holds {c['posterior_share']:.0%} of the posterior; a local run found it "
                f"again and logZ includes it, but stage 1 (nlive_low={nlive_low}) was at the limit of its mode "
                "finding, and a mode it never held two live points in cannot be recovered: rerun with a larger "
                "nlive_low to be sure")
        elif c["posterior_share"] > 0.02 and c["posterior_share"] > 5 * c["proposal_share"]:
            problems.append(
                f"the proposal under-weighted cluster {k}: {c['posterior_share']:.0%} of the posterior against "
                f"{c['proposal_share']:.1%} of the proposal; stage 2 corrected it, but its error bar assumes it "
                "found all such mass")
    for cand in diag["lost_mode_candidates_skipped"]:
        frac = cand["estimated_fraction"]
        if frac is not None and frac > 0.01:
            problems.append(f"stage 1 lost a mode estimated to hold {frac:.0%} of the evidence that was not run "
                            f"again ({cand['reason']}); logZ may be too low")
    if diag["importance_ess_fraction"] < 0.2:
        notes.append(f"exp(-KL) of the posterior from the proposal is only {diag['importance_ess_fraction']:.2f}")
    if abs(diag["logZ_stage_difference_sigma"]) > 4:
        notes.append(f"the stages' logZ differ by {diag['logZ_stage_difference_sigma']:.1f} sigma")
    # Clusters too small for a flow are proposed from by Gaussians by design: judge the flows on the rest.
    flowed = sum(c["posterior_share"] for c in diag["clusters"] if c.get("has_flow", True)) if diag["clusters"] else 1.0
    if diag["posterior_fraction_flow_branch"] < 0.3 * flowed:
        notes.append(f"only {diag['posterior_fraction_flow_branch']:.0%} of the posterior lies in the flow branch "
                     f"(of {flowed:.0%} in clusters with a flow)")
    return problems, notes
