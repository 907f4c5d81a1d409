"""Stage 1 of :func:`flowprior.two_stage` and the search for what it lost: the modes the proposal is built on.

Stage 1 is a nested-sampling run at ``nlive_low`` with the options below; the search runs a local
nested sampling run for each separated group of its final live points and each lost mode it left
a trace of (:mod:`flowprior.workflows.two_stage.recovery`); the training set's clusters follow.
Where that finds more modes than ``nlive_low`` holds at :data:`LIVE_PER_MODE` live points each, it
all runs again, once, at twice that per mode found: modes found are a lower bound on modes there
(``docs/two_stage.rst``, the egg box).
"""

import logging
from dataclasses import dataclass

import numpy as np

from ...errors import SamplerStalledError
from ...samplers.run import run
from .islands import SeparatedModes
from .proposal import CLUSTER_KEYS, find_clusters, training_set
from .recovery import recover_lost_modes

__all__ = ["STAGE1_DYNESTY_DEFAULTS", "STAGE1_ENLARGE", "STAGE1_MAX_CALLS_PER_LIVE", "STAGE1_POLYCHORD_DEFAULTS",
           "LOCAL_NLIVE", "LIVE_PER_MODE", "MODE_SILHOUETTE", "MAX_NLIVE_LOW", "POLYCHORD_REPEATS", "Exploration",
           "explore", "stage1_enlarge"]

logger = logging.getLogger(__name__)

#: Stage-1 options for dynesty (measurements in ``docs/two_stage.rst``); ``enlarge`` is :func:`stage1_enlarge`
#: of the dimension unless given.  The bound is the standardised multi-ellipsoids without the shear: with it,
#: stage 1 lost unequal-5's minor mode silently on 2 of 8 calibration seeds (z = -9.3, -6.6), without it neither.
STAGE1_DYNESTY_DEFAULTS = {"bound": "multi", "sample": "unif", "bootstrap": 0, "first_update": {"min_eff": 20.0},
                           "dlogz": 1.5, "min_efficiency": 0.07}
#: The volume enlargement of stage 1's bounds in three dimensions; kept as a linear margin in every dimension.
STAGE1_ENLARGE = 1.25
#: Likelihood calls per live point after which stage 1 (dynesty) ends with
#: :class:`~flowprior.errors.SamplerStalledError`: stage 1 took 50--600 on the suite's problems that end, and
#: ``beta-10``'s ran past 15 minutes.
STAGE1_MAX_CALLS_PER_LIVE = 4000
#: Stage-1 options for PolyChord (measurements in ``docs/two_stage.rst``); ``num_repeats`` is
#: ``POLYCHORD_REPEATS[0] * ndims`` unless given.
STAGE1_POLYCHORD_DEFAULTS = {"precision_criterion": 0.5}
#: Live points of each local run for a mode, as a fraction of ``nlive_low`` (one mode each: no
#: ellipsoid has to be shared).
LOCAL_NLIVE = 0.5
#: Stage 1 holds at least this many live points per mode it finds: with fewer, it runs again with twice as
#: many per mode found (at most :data:`MAX_NLIVE_LOW`), since modes found are a lower bound on modes there.
LIVE_PER_MODE = 10
#: Silhouette score from which k-means clusters of stage 1 count as separate modes for :data:`LIVE_PER_MODE`.
MODE_SILHOUETTE = 0.75
#: The most live points stage 1 is given by :data:`LIVE_PER_MODE`.
MAX_NLIVE_LOW = 1000
#: Slice-sampling repeats per dimension of PolyChord's stages 1 and 2 (its own default is 5).
POLYCHORD_REPEATS = (1, 2)


def stage1_enlarge(ndims):
    r"""Volume enlargement of stage 1's bounds: :data:`STAGE1_ENLARGE` per three dimensions, at least that.

    A bound's enlargement is a factor on its volume, so a fixed one is a linear margin of
    :math:`1.25^{1/d}`: 7.7 % at :math:`d = 3`, 2.3 % at :math:`d = 10`.  Ellipsoids fitted to 50 live
    points fall short of a contour by a linear fraction that does not shrink with :math:`d`; in ten
    dimensions the bounds cut the contour (stage 1's evidences 3--7 nats high on a 10-D Gaussian), and
    in a funnel they cut off its neck: the live points pile up against the bound's face and the run
    compresses onto a false peak (``funnel-10``: 8 of 8 seeds stuck in the mouth with 1.25, none with
    2.1, ``docs/suite.rst``).  :math:`1.25^{d/3}` keeps the margin of three dimensions in every one.
    """
    return max(STAGE1_ENLARGE, STAGE1_ENLARGE ** (int(ndims) / 3.0))


def _stage1(loglikelihood, prior, sampler, nlive, low_options, max_recovered, seed):
    """Stage 1 with its defaults: ``(result, the options used, the separated-modes stop check or None)``."""
    low_opts = dict(STAGE1_DYNESTY_DEFAULTS if sampler == "dynesty" else STAGE1_POLYCHORD_DEFAULTS)
    if sampler == "dynesty":
        low_opts["enlarge"] = stage1_enlarge(prior.ndims)
        low_opts["maxcall"] = STAGE1_MAX_CALLS_PER_LIVE * int(nlive)
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
    low = run(loglikelihood, prior, sampler=sampler, nlive=nlive, seed=seed, **low_opts)
    if low.stopped_by == "maxcall" and "maxcall" not in (low_options or {}):
        raise SamplerStalledError(
            f"expected two_stage's stage 1 to end within {STAGE1_MAX_CALLS_PER_LIVE:,} likelihood calls per live "
            f"point; got {low.ncall:,} calls at nlive_low={nlive} and it had not: the likelihood keeps rising (a "
            "density infinite on a face of the prior, say) or the posterior lies many nats of compression from "
            "the prior, which a low-nlive run with uniform draws cannot afford (beta-10 of docs/suite.rst). "
            "Allow more with low_options={'maxcall': ...}, or use a sampler built for it")
    return low, low_opts, split_check


@dataclass
class Exploration:
    """Stage 1, its lost modes found again, and the clusters of the training set."""

    low: object
    low_opts: dict
    recovery: object
    modes: list
    theta: np.ndarray
    w: np.ndarray
    clusters: object
    ncall_runs: int  # calls of sampler runs: totals over MPI ranks
    ncall_probe: int  # calls outside sampler runs: per rank
    n_modes: int  # separated groups of stage 1's final live points (or one), lost modes run, lost ones left out
    nlive_low: int  # stage 1's live points


def _explore_once(loglikelihood, prior, sampler, nlive_low, low_options, max_recovered, flow_beta, flow_options, seeds):
    """Stage 1 at ``nlive_low``, the lost-mode search and the clusters; ``seeds``: stage 1, search, clusters."""
    low, low_opts, split_check = _stage1(loglikelihood, prior, sampler, nlive_low, low_options, max_recovered,
                                         seeds[0])
    recovery = None
    if max_recovered > 0:
        # The local runs are each of one mode: no early stop there.
        local_opts = {k: v for k, v in low_opts.items() if k not in ("stop_check", "min_efficiency")}
        nlive_local = max(int(LOCAL_NLIVE * nlive_low), 2 * prior.ndims + 2)
        recovery = recover_lost_modes(loglikelihood, prior, low.samples, nlive=nlive_local, sampler=sampler,
                                      seed=seeds[1], max_modes=int(max_recovered), run_options=local_opts,
                                      split_final=low.stopped_by == "min_efficiency")
    modes = recovery.modes if recovery else []
    theta, w, source = training_set(low.samples, prior, modes, flow_beta)
    clusters = find_clusters(theta, w, source, modes, {k: v for k, v in (flow_options or {}).items()
                                                       if k in CLUSTER_KEYS}, seeds[2])
    ncall_probe = (recovery.ncall_probe if recovery else 0) + (split_check.ncall if split_check else 0)
    # Modes, not clusters: k-means cuts a shell or a curved valley into many clusters of one mode.  Clusters count
    # as modes where they are clearly apart (silhouette 0.85-0.98 on separated Gaussians and the egg box, 0.4-0.64
    # on shells, Rosenbrock's valley and the funnel); the search's groups and lost modes count always.
    split = sum(m.kind == "split" for m in modes)
    left_out = sum(reason.startswith("more lost modes") for _, reason, _ in (recovery.skipped if recovery else []))
    n_modes = max(split, 1) + len(modes) - split + left_out
    if clusters.scores and max(clusters.scores.values()) >= MODE_SILHOUETTE:
        n_modes = max(n_modes, int(np.sum(clusters.ess >= prior.ndims + 1)))
    return Exploration(low, low_opts, recovery, modes, theta, w, clusters,
                        recovery.ncall_runs if recovery else 0, ncall_probe, n_modes, nlive_low)


def explore(loglikelihood, prior, *, sampler, nlive_low, low_options, max_recovered, flow_beta, flow_options, seeds):
    """Stage 1, the search and the clusters (module docs), again at more live points where it found many modes.

    ``seeds``: of stage 1, the search and the clusters.  The first attempt's calls count in the second's.
    """
    ex = _explore_once(loglikelihood, prior, sampler, nlive_low, low_options, max_recovered, flow_beta, flow_options,
                       seeds)
    n_modes = ex.n_modes
    if max_recovered > 0 and n_modes * LIVE_PER_MODE > nlive_low:
        # Stage 1 held more modes than its live points can: the modes it never held are missing from the
        # proposal and stage 2 finds them only by chance (egg box: 13 of 18 at nlive_low = 50, 0.35 nats low).
        first, nlive_first = ex, nlive_low
        nlive_low = min(2 * LIVE_PER_MODE * n_modes, MAX_NLIVE_LOW)
        logger.info("two_stage: stage 1 found %d modes with %d live points; again with %d", n_modes, nlive_first,
                    nlive_low)
        again_seeds = np.random.SeedSequence([seeds[0], 1]).generate_state(3)
        # As many local runs as modes found: a lost one more than max_recovered allows is left out of logZ.
        ex = _explore_once(loglikelihood, prior, sampler, nlive_low, low_options, max(int(max_recovered), n_modes),
                           flow_beta, flow_options, tuple(int(s) for s in again_seeds))
        ex.ncall_runs += first.low.ncall + first.ncall_runs
        ex.ncall_probe += first.ncall_probe
    return ex
