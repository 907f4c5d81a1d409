r"""Two-stage nested sampling: a cheap run, a flow on its posterior, an exact run.

1. Stage 1 runs the original problem at low ``nlive``.  Only its samples
   matter: its evidence may be rough.
2. A flow is trained on the stage-1 posterior, in the cube of the original
   prior (so its support is the prior's): a :class:`~flowprior.PiecewiseMAF`
   by default, which is one MAF unless the samples form separated clusters.
3. Stage 2 runs the repartitioned problem
   (:func:`~flowprior.repartition`, superposition weight ``beta``) at
   ``nlive_high``.  Its evidence and posterior are those of the original
   problem, whatever the flow's quality; a good flow makes it cheaper.

Proposals.  A flow trained on a low-nlive run has thin tails: where it
under-covers the posterior, the corrected likelihood rises (up to
:math:`\mathcal{L}/\beta`) and stage 2 must find those places.  The default
adds defensive Gaussians fitted to the stage-1 posterior (one per cluster),
with covariances inflated 4 and 25 times (2 and 5 standard deviations), at
10% of the proposal weight each (``gaussian_weight``, ``gaussian_inflation``).
A single 4-times Gaussian at 20% was cheapest on Gaussians but let one 4-D
banana run spend 66k stage-2 calls chasing the likelihood ratio in a curved
arm the flow and the Gaussian both missed (9k with the two scales); see
``docs/two_stage.rst`` for the measurements.

Flows are trained on standardised data (:func:`flowprior.training.train_maf`):
without it, the stage-1 flow for a posterior of width 0.1 in a box of width
20 was poor (exp(-KL) of 0.01 on a 4-D banana) and stage 2 took twice the calls.

Default sampler settings (dynesty).  Stage 1: ``bound="multi"``,
``bootstrap=0``, ``enlarge=1.25``, ``first_update={"min_eff": 20}``: at low
nlive dynesty's bootstrapped ellipsoid expansion was measured to waste most
of the stage-1 budget (a 6-D banana at nlive 100 took 174k calls; with a
fixed enlargement 5.6k), and building bounds from 20% efficiency rather than
10% saved another 15--30% of stage-1 calls (banana-4, gauss-6, bimodal-3).
``dlogz=1.5`` (dynesty's default is 0.059 at nlive 50) stops stage 1 once the
live points hold less than about 78% of the evidence (bounded with the
largest live likelihood): the last live points are still added to its
samples, and only its evidence, which nothing uses, is rougher.  Stage 1
ends in the posterior's bulk, where a mode holding fewer than 2 ndim live
points cannot have an ellipsoid of its own (dynesty's rule), so one
ellipsoid spans the modes and sampling from it collapses: on a 5-D bimodal
problem stage 1 spent 18,600 of its 23,924 calls in its last 100 iterations
at ``dlogz=0.5``, against 6,621 calls in all at 1.5, with the same or lower
stage-2 cost on gauss-6, banana-4 and bimodal-3.  Stage 2 (both samplers):
``precision_criterion=0.66``, PolyChord's stopping rule (the dynesty adapter
implements it too): stop once the live points' evidence by their *mean*
likelihood, :math:`X\langle\tilde{\mathcal{L}}\rangle_\mathrm{live}`, is below
0.66 of the dead points'.  That is the tolerance of dynesty's own default at
nlive 500 (``dlogz=0.509``, and :math:`e^{0.509} - 1 = 0.66`), but dynesty
applies it to the *largest* live likelihood.  With a proposal close to the
posterior, :math:`\tilde{\mathcal{L}}` is nearly flat apart from a few peaks
where the proposal is short.  The largest-likelihood rule keeps stage 2
compressing onto those peaks, which hold almost none of the evidence, while
its efficiency falls with :math:`X` (to 3% on the demo's banana: 32,783
stage-2 calls against 3,107).  The final live points are added either way,
so the evidence is the usual nested-sampling estimate.

The flow's tails.  Trained on a few hundred effective samples, a flow is
too thin where it extrapolates: on a 6-D Gaussian it was :math:`e^{2.5}` too
low at three posterior standard deviations, so the corrected likelihood
peaked in a thin shell near the cube's faces, which ellipsoids bound poorly
(stage-2 efficiency fell to 7%), and dynesty's own stopping rule
(:math:`\mathcal{L}_\max X`, before the stage-2 default above) kept stage 2
running until it had compressed onto such peaks.  Two defaults address the
flow's part:

* ``flow_beta`` = 0.7: the flows are trained on the stage-1 dead points
  reweighted to the posterior tempered towards the prior,
  :math:`w_i \propto \mathcal{L}_i^{0.7}\,\Delta X_i`.  The target is wider and
  has more effective samples, and it reaches into places (the tip of a
  banana's arm) that the posterior's few hundred effective samples miss.
* ``n_flows`` = 3: three flows trained with different seeds share the flow
  weight.  Where each extrapolates, its deficit falls in a different place;
  their average is short only where all are.

On nine benchmark runs (gauss-6, banana-4, bimodal-3, three seeds each) these
brought the worst run from 41.5% of a single run's calls to 24.0%; the
earlier default, the trained flow widened by ``flow_scale`` = 1.2
(:meth:`flowprior.MAF.widened`), is still an option.  See
``docs/two_stage.rst`` for the measurements.
"""

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from .piecewise import PiecewiseMAF
from .priors import Prior
from .repartition import Mixture, repartition
from .run import run

__all__ = ["TwoStageResult", "two_stage", "STAGE1_DYNESTY_DEFAULTS", "STAGE2_DEFAULTS"]

logger = logging.getLogger(__name__)

STAGE1_DYNESTY_DEFAULTS = {"bound": "multi", "bootstrap": 0, "enlarge": 1.25, "first_update": {"min_eff": 20.0},
                           "dlogz": 1.5}
#: Stage-2 options for either sampler (see the module docs).
STAGE2_DEFAULTS = {"precision_criterion": 0.66}


@dataclass(frozen=True)
class TwoStageResult:
    """What :func:`two_stage` returns.

    ``logZ``, ``logZerr`` and ``samples`` come from stage 2 (exact for the
    original problem; the ``logL`` column there is the repartitioned
    likelihood).  ``ncall`` counts both stages.
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


def _diagnostics(low, high, flow, flows, rp, prior):
    params = list(prior.params)
    theta = low.samples[params].to_numpy()
    w = low.samples.get_weights()
    keep = w > 0
    theta, w = theta[keep], w[keep]
    # How well q covers the posterior P = L pi / Z: exp(-D_KL(P || q)),
    # from the stage-1 samples (no new likelihood calls) and the stage-2
    # evidence (stage 1's is rough: at nlive 50 it was measured 1-2 nats
    # high, which made this estimate exceed 1); 1 for q = P.  Not 1 / E_P[P/q]: a flow's far tails fall much faster than a
    # Gaussian's, so that average is ruled by points of weight ~1e-177.
    logL = low.samples.logL.to_numpy()[keep]
    log_ratio = logL + prior.log_prob(theta) - high.logZ - flow.log_prob(theta)
    p = w / w.sum()
    if np.any(np.isposinf(log_ratio) & (p > 0)):
        ess_fraction = 0.0  # the flow has no density where the posterior has mass
    else:
        ess_fraction = float(np.exp(-np.sum(p * log_ratio)))
    dlogZ = (high.logZ - low.logZ) / np.hypot(high.logZerr, low.logZerr)
    t2 = high.samples[params].to_numpy()
    w2 = high.samples.get_weights()
    resp = rp.prior.responsibilities(t2)
    fractions = (w2[:, None] * resp).sum(axis=0) / w2.sum()
    diag = {
        "importance_ess_fraction": float(ess_fraction),
        "logZ_stage_difference_sigma": float(dlogZ),
        "posterior_fraction_prior_branch": float(fractions[0]),
        "posterior_fraction_flow_branch": float(fractions[1:1 + len(flows)].sum()),
        "posterior_fraction_gaussian_branch": float(fractions[1 + len(flows):].sum()),
        # How far stage 2 compressed: D_KL(P || pi~) of its own run, near 0 for pi~ = P.
        "proposal_D_KL": float(high.samples.D_KL()),
        "ncall_low": int(low.ncall),
        "ncall_high": int(high.ncall),
    }
    problems = []
    if ess_fraction < 0.2:
        problems.append(f"exp(-KL) of the stage-1 posterior from the flow is only {ess_fraction:.2f}")
    if abs(dlogZ) > 4:
        problems.append(f"the stages' logZ differ by {dlogZ:.1f} sigma")
    if diag["posterior_fraction_flow_branch"] < 0.3:
        problems.append(f"only {diag['posterior_fraction_flow_branch']:.0%} of the posterior lies in the flow branch")
    if isinstance(flows[0], PiecewiseMAF):
        # The first flow's clustering is the one reported (the Gaussians use it too).
        first = flows[0]
        found = first.fit_info["n_clusters_found"]
        diag.update(n_clusters=first.n_clusters, n_clusters_found=found)
        if found > first.n_clusters:
            merged = (f"stage 1 found {found} separated clusters, but {found - first.n_clusters} had too few "
                      "effective samples for a flow and were merged into the nearest, so one flow spans them")
            if problems or diag["proposal_D_KL"] > 1.0:
                # Measured on a 5-D bimodal problem at nlive_low 50 with one untempered
                # flow: the 30% mode got 42 effective samples and was merged;
                # D_KL(P || pi~) was 1.8 nats (0.8 with the modes kept), exp(-KL) of the
                # flow alone a harmless-looking 0.53, and stage 2 cost 8x a single run.
                problems.append(merged + f", and stage 2 had to compress D_KL = {diag['proposal_D_KL']:.1f} "
                                "nats from its proposal (raise nlive_low until the smallest mode holds about "
                                "2 ndim live points)")
            else:
                # The demo's banana splits into arms that k-means calls clusters
                # (D_KL about 0.5): merging them did no harm.
                logger.info("two_stage: %s; stage 2 compressed only D_KL = %.2f nats from its proposal",
                            merged, diag["proposal_D_KL"])
    diag["warnings"] = problems
    for p in problems:
        warnings.warn(f"two_stage: the flow looks poor: {p}; the evidence stays exact, "
                      "but stage 2 was less efficient than it could be", RuntimeWarning, stacklevel=3)
    return diag


def _gaussian_fit(samples, prior, inflation, labels=None):
    """Gaussian moment fit of the stage-1 posterior; one per cluster when ``labels`` are given."""
    from .priors import GaussianPrior

    theta = samples[list(prior.params)].to_numpy()
    w = samples.get_weights()
    keep = w > 0
    theta, w = theta[keep], w[keep]
    labels = np.zeros(len(w), int) if labels is None else labels
    parts, shares = [], []
    for j in range(int(labels.max()) + 1):
        t, wj = theta[labels == j], w[labels == j]
        cov = np.atleast_2d(np.cov(t.T, aweights=wj)) * inflation
        parts.append(GaussianPrior(np.average(t, axis=0, weights=wj), cov, params=prior.params))
        shares.append(wj.sum())
    return parts[0] if len(parts) == 1 else Mixture(parts, shares)


FLOWS = ("piecewise", "maf")


def two_stage(loglikelihood, prior, *, sampler="dynesty", nlive_low=50, nlive_high=500, beta=0.1,
              flow="piecewise", n_flows=3, flow_beta=0.7, flow_scale=1.0, gaussian_weight=0.2,
              gaussian_inflation=(4.0, 25.0), seed=None, flow_options=None, low_options=None, high_options=None):
    r"""Cheap run, flow, exact repartitioned run (see module docs).

    Parameters
    ----------
    loglikelihood : callable
    prior : Prior
        The original prior; the flow is trained in its cube.
    sampler : {"dynesty", "polychord"}
    nlive_low, nlive_high : int
        Live points of the two stages.  Near its end, stage 1 needs about
        2 ndim live points in its smallest mode (dynesty's smallest
        ellipsoid cluster); with fewer, one ellipsoid spans the modes and
        stage 1's cost grows.  On a 5-D bimodal problem (weights 0.7/0.3) at
        50, stage 1 was 9--16% of a single run over three seeds (57% with
        ``dlogz=0.5``, the earlier stage-1 default), and the whole run
        18--25%.  Raise ``nlive_low`` when the smallest mode holds less
        posterior mass than about 2 ndim / ``nlive_low``; a warning says
        when a cluster too small for its own flow was merged and left stage
        2 far from its proposal.
    beta : float in [0, 1)
        Weight of the original prior in the stage-2 superposition.
    flow : {"piecewise", "maf"}
        The proposal trained on stage 1: a :class:`~flowprior.PiecewiseMAF`
        (one cluster unless the silhouette score finds separated modes;
        ``min_cluster_size=50`` unless set in ``flow_options``) or a single
        :class:`~flowprior.MAF`.
    n_flows : int >= 1
        Flows trained on the same samples with different seeds; the proposal
        gives them equal shares of the flow weight.  Each flow's density
        falls short of the posterior in different places where it
        extrapolates, and their average is short only where all of them
        are.  ``tw.flow`` is then their equal-weight
        :class:`~flowprior.Mixture`.
    flow_beta : float in (0, 1]
        Inverse temperature of the stage-1 samples the flow and the
        Gaussians are trained on (anesthetic's ``set_beta``): weights
        :math:`\propto \mathcal{L}_i^{\beta_f}\,\Delta X_i` from the same
        dead points.  Below 1 the training target is the posterior tempered
        towards the prior, wider and with more effective samples.
    flow_scale : float >= 1
        The stage-2 proposal uses the trained flow with its base widened to
        :math:`\mathcal{N}(0, s^2 I)` (:meth:`flowprior.MAF.widened`): a flow
        trained on a low-nlive run is too narrow in its tails, and a
        slightly wider one keeps the corrected likelihood's peaks in the
        bulk (see the module docs).  1 (the default, since ``flow_beta``
        and ``n_flows`` do this job better) uses the flows as trained;
        ``tw.flow`` is always the trained flow (or flows).
    gaussian_weight : float in [0, 1)
        Share of the proposal weight given to Gaussians fitted to the stage-1
        posterior, one per cluster of a piecewise flow (the rest goes to the
        flow); 0 uses the flow alone.
    gaussian_inflation : float or sequence of float
        Factors on those Gaussians' covariance; one defensive Gaussian per
        factor, sharing ``gaussian_weight`` equally.
    seed : int, optional
        Seeds both runs and the training.
    flow_options, low_options, high_options : dict, optional
        Passed to the flow's ``fit`` and to :func:`flowprior.run` for
        each stage (overriding the stage-1 and stage-2 defaults,
        ``STAGE1_DYNESTY_DEFAULTS`` and ``STAGE2_DEFAULTS``; for example
        ``high_options={"precision_criterion": None}`` gives stage 2
        dynesty's own stopping rule).

    Returns
    -------
    TwoStageResult
    """
    from .flow import MAF

    if flow not in FLOWS:
        raise ValueError(f"expected flow in {FLOWS}; got {flow!r}")
    if not isinstance(prior, Prior):
        raise TypeError(f"expected prior to be a flowprior Prior; got {type(prior).__name__}")
    if not (np.isfinite(flow_scale) and flow_scale >= 1.0):
        raise ValueError(f"expected flow_scale >= 1; got {flow_scale}")
    if isinstance(n_flows, bool) or not isinstance(n_flows, (int, np.integer)) or n_flows < 1:
        raise ValueError(f"expected n_flows >= 1; got {n_flows!r}")
    if not (np.isfinite(flow_beta) and 0.0 < flow_beta <= 1.0):
        raise ValueError(f"expected 0 < flow_beta <= 1; got {flow_beta}")
    if not 0.0 <= gaussian_weight < 1.0:
        raise ValueError(f"expected 0 <= gaussian_weight < 1; got {gaussian_weight}")
    inflations = np.atleast_1d(np.asarray(gaussian_inflation, dtype=np.float64))
    if inflations.ndim != 1 or inflations.size == 0 or not np.all(inflations > 0):
        raise ValueError(f"expected positive gaussian_inflation factors; got {gaussian_inflation!r}")
    if int(nlive_low) >= int(nlive_high):
        raise ValueError(f"expected nlive_low < nlive_high; got {nlive_low} and {nlive_high}")
    # Stage 1, the first flow, stage 2, then the other flows: n_flows=1 keeps the seeds it always had.
    seeds = np.random.SeedSequence(seed).generate_state(2 + n_flows)
    low_opts = dict(STAGE1_DYNESTY_DEFAULTS) if sampler == "dynesty" else {}
    low_opts.update(low_options or {})
    low = run(loglikelihood, prior, sampler=sampler, nlive=nlive_low, seed=int(seeds[0]), **low_opts)
    fit_opts = {"epochs": 300, "patience": 30}
    if flow == "piecewise":
        # A low-nlive run has a few hundred effective samples; 50 per mode
        # still trains a usable flow, and the Gaussian branch covers the rest.
        fit_opts["min_cluster_size"] = 50
    fit_opts.update(flow_options or {})
    cls = PiecewiseMAF if flow == "piecewise" else MAF
    train = low.samples if flow_beta == 1.0 else low.samples.set_beta(flow_beta)
    flows = [cls.fit(train, prior=prior, params=list(prior.params), seed=int(s), **fit_opts)
             for s in [seeds[1], *seeds[3:]]]
    q = flows[0] if n_flows == 1 else Mixture(flows, np.ones(n_flows))
    proposals = [f if flow_scale == 1.0 else f.widened(flow_scale) for f in flows]
    weights = [(1.0 - gaussian_weight) / n_flows] * n_flows
    if gaussian_weight > 0:
        labels = flows[0].labels if flow == "piecewise" else None
        proposals += [_gaussian_fit(train, prior, f, labels) for f in inflations]
        weights += [gaussian_weight / len(inflations)] * len(inflations)
    rp = repartition(loglikelihood, prior, proposals, beta=beta, weights=weights)
    high_options = dict(high_options or {})
    # dynesty's dynamic runs stop by their own rules.
    high_opts = {} if high_options.get("dynamic") else dict(STAGE2_DEFAULTS)
    high_opts.update(high_options)
    high = run(rp.loglikelihood, rp.prior, sampler=sampler, nlive=nlive_high, seed=int(seeds[2]), **high_opts)
    diag = _diagnostics(low, high, q, flows, rp, prior)
    logger.info("two_stage: logZ = %.3f +- %.3f with %d + %d calls", high.logZ, high.logZerr,
                low.ncall, high.ncall)
    return TwoStageResult(logZ=high.logZ, logZerr=high.logZerr, ncall=low.ncall + high.ncall,
                          samples=high.samples, low=low, high=high, flow=q, repartitioned=rp,
                          diagnostics=diag)
