r"""Modes a nested-sampling run lost, and local runs that find them again.

A sampler that draws new points from bounds around its live points (dynesty's
ellipsoids) cannot draw in a region that has no live points left, and a
mode holding a few of them is easily left out of the bounds: at low
``nlive`` such a mode dies out before the run has climbed it.  In a 5-D
mixture whose 25 % mode is 0.7 times as wide as the other, stage 1 at
``nlive=50`` lost it on 5 of 20 seeds (``docs/two_stage.rst``).  Its dead
points still show where it was.

The steps: :mod:`~flowprior.workflows.two_stage.islands` finds the groups a run left,
:mod:`~flowprior.workflows.two_stage.probes` tells lost modes from the rest, and
:func:`recover_lost_modes` runs each again.

Runs stopped because one ellipsoid spans the modes.  dynesty gives no
ellipsoid of its own to a mode with fewer than ``2 ndim`` live points, and
the ellipsoid spanning both then collapses the efficiency.  A run stopped
there (``min_efficiency`` with :class:`~flowprior.workflows.two_stage.islands.SeparatedModes` as its check) has
each separated group of its final live points run on its own
(:func:`~flowprior.workflows.two_stage.islands.final_groups`, ``split_final``).

The limit.  A mode that the run never held two live points in, once
separated from the rest, leaves no group to find: that is the resolution
of a run at that ``nlive``, and only more live points help.
"""

import logging
from dataclasses import dataclass

import numpy as np

from ...priors.cube import CubeBox
from ...samplers.counting import CountedLikelihood
from ...samplers.run import run
from .islands import Island, final_groups, island_box, lost_islands
from .probes import climb, laplace, log_mass_above, separated_by_a_valley

__all__ = ["RecoveredMode", "Recovery", "recover_lost_modes"]

logger = logging.getLogger(__name__)


@dataclass
class RecoveredMode:
    r"""A lost island found again by a local run (:func:`recover_lost_modes`).

    Attributes
    ----------
    island : Island
    peak_logL : float
        Highest log-likelihood the climb reached.
    estimated_log_mass : float
        :func:`~flowprior.workflows.two_stage.probes.log_mass_above` at that peak, before the local run.
    log_mass : float
        The local run's :math:`\log(Z_B |B|)`.
    result : RunResult
        The local run, on the :class:`~flowprior.priors.cube.CubeBox` prior ``result_prior``.
    result_prior : CubeBox
    kind : {"lost", "split"}
        A mode the run left, or a group of its final live points run on its own.
    log_offset : float
        :math:`\log|B|`: the local run's dead points have the prior mass
        ``logdX + log_offset`` in the original prior's measure.
    """

    island: Island
    peak_logL: float
    estimated_log_mass: float
    log_mass: float
    result: object
    result_prior: object
    kind: str = "lost"
    log_offset: float = 0.0


@dataclass
class Recovery:
    """What :func:`recover_lost_modes` found and what it cost.

    ``modes`` were sampled again; ``skipped`` are the other candidates, each
    ``(island, reason, estimated fraction or None)``; ``ncall_probe`` counts the
    valley checks and climbs, ``ncall_runs`` the local runs.
    """

    modes: list
    skipped: list
    ncall_probe: int
    ncall_runs: int


def _laplace_box(peak, cov, rest, widths=(5.0, 4.0, 3.0)):
    """Box of ``width`` marginal standard deviations around ``peak``, the widest holding none of ``rest``."""
    sd = np.sqrt(np.diag(cov))
    for k in widths:
        lower, upper = np.clip(peak - k * sd, 0.0, 1.0), np.clip(peak + k * sd, 0.0, 1.0)
        if not (len(rest) and np.any(np.all((rest >= lower) & (rest <= upper), axis=1))):
            return lower, np.maximum(upper, lower + 1e-12)
    return None


def recover_lost_modes(loglikelihood, prior, samples, *, nlive, sampler="dynesty", seed=None, max_modes=3,
                       max_candidates=10, min_fraction=1e-3, run_options=None, split_final=False):
    """Find the modes a nested-sampling run lost and sample each with a local run (module docs).

    Parameters
    ----------
    loglikelihood : callable
    prior : Prior
        The run's prior (bijective: the search works in its cube).
    samples : anesthetic.NestedSamples
        The run's samples.
    nlive : int
        Live points of each local run.
    sampler : {"dynesty", "polychord"}
    seed : int, optional
    max_modes : int
        Local runs for lost modes at most; further ones are reported in ``skipped``.
    max_candidates : int
        Islands checked at most (largest first).
    min_fraction : float
        Lost modes whose estimated mass is below this fraction of the
        evidence are not run.
    run_options : dict, optional
        Passed to :func:`flowprior.run` for the local runs.
    split_final : bool
        Also give each separated group of the final live points a local run
        of its own (:func:`~flowprior.workflows.two_stage.islands.final_groups`): for a run stopped early because
        one ellipsoid had to span its modes.

    Returns
    -------
    Recovery
    """

    r = _Recoverer(loglikelihood, CountedLikelihood(loglikelihood), prior, samples, nlive=nlive, sampler=sampler,
                   seeds=np.random.SeedSequence(seed).generate_state(max_modes + 8), run_options=run_options)
    if split_final:
        r.run_final_groups(max_modes)
    # A split group's box can hold modes that its own run, at few live points, lost in turn.
    for parent in list(r.modes):
        r.add_inner_modes(parent, max_modes=max_modes, max_candidates=max_candidates, min_fraction=min_fraction)
    r.run_lost_islands(max_modes=max_modes, max_candidates=max_candidates, min_fraction=min_fraction)
    return Recovery(modes=r.modes, skipped=r.skipped, ncall_probe=r.counted.ncall + r.extra_probe,
                    ncall_runs=r.ncall_runs)


class _Recoverer:
    """The state of one :func:`recover_lost_modes`: the modes run so far and the candidates skipped."""

    def __init__(self, loglikelihood, counted, prior, samples, *, nlive, sampler, seeds, run_options):
        self.loglikelihood, self.counted, self.prior, self.samples = loglikelihood, counted, prior, samples
        self.nlive, self.sampler, self.seeds, self.run_options = nlive, sampler, seeds, run_options or {}
        self.logZ = float(samples.logZ())
        self.modes, self.skipped, self.ncall_runs, self.extra_probe = [], [], 0, 0

    def inside_a_box(self, points):
        return any(np.all((points >= m.result_prior.lower) & (points <= m.result_prior.upper)) for m in self.modes)

    def assess(self, isl, kind):
        """Climb and Laplace: ``(top, cov, log mass estimate, fraction)``, or a reason to skip it."""
        prior = self.prior
        top = climb(self.counted, prior, isl)
        if kind == "lost" and top["connected"]:
            return "connected: the climb reached points the run kept"
        if self.inside_a_box(top["peak"][None]):
            return "its peak lies in the box of a mode already run"
        cov, est, _ = laplace(self.counted, prior, top["peak"], top["logL"], top["step"])
        if cov is None:
            est = log_mass_above(isl.level, isl.log_volume, top["logL"], prior.ndims)
        return top, cov, float(est), float(np.exp(est - np.logaddexp(self.logZ, est)))

    def local_run(self, isl, kind, top, cov, est):
        """Nested sampling of the mode in its box, or None if no box avoids the rest."""

        # A lost island, or a group of too few final live points to span its region, is zoomed in on;
        # a larger group of final live points keeps its whole region.
        zoom = kind == "lost" or len(isl.members) < 2 * self.prior.ndims + 2
        box = _laplace_box(top["peak"], cov, isl.rest) if cov is not None and zoom else None
        if box is None:
            box = island_box(isl, extra=top["peak"], margin=0.5)
        if box is None:
            return None
        restricted = CubeBox(self.prior, *box)
        offset = restricted.log_volume
        res = run(self.loglikelihood, restricted, sampler=self.sampler, nlive=self.nlive,
                  seed=int(self.seeds[len(self.modes)]), **self.run_options)
        log_mass = float(res.logZ + offset)
        logger.info("local run (%s) at logL %.1f, peak %.1f: %d calls, log mass %.2f (estimated %.2f)", kind,
                    isl.level, top["logL"], res.ncall, log_mass, est)
        self.ncall_runs += res.ncall
        return RecoveredMode(island=isl, peak_logL=float(top["logL"]), estimated_log_mass=est,
                             log_mass=log_mass, result=res, result_prior=restricted, kind=kind, log_offset=offset)

    def run_final_groups(self, max_modes):
        """A local run for each separated group of the final live points."""
        groups, _ = final_groups(self.counted, self.prior, self.samples)
        for isl in groups[:max_modes + 4]:
            found = self.assess(isl, "split")
            mode = self.local_run(isl, "split", *found[:3]) if not isinstance(found, str) else None
            if mode is None:
                self.skipped.append((isl, found if isinstance(found, str) else "no box avoids the other groups",
                                     None))
                continue
            self.modes.append(mode)

    def add_inner_modes(self, parent, **limits):
        """The modes that ``parent``'s own local run lost, searched for in its box and composed into the cube."""
        inner = recover_lost_modes(self.loglikelihood, parent.result_prior, parent.result.samples, nlive=self.nlive,
                                   sampler=self.sampler, seed=int(self.seeds[-1]), run_options=self.run_options,
                                   **limits)
        self.extra_probe += inner.ncall_probe
        self.ncall_runs += inner.ncall_runs
        box = parent.result_prior
        for m in inner.modes:
            width = box.upper - box.lower
            composed = CubeBox(self.prior, box.lower + width * m.result_prior.lower,
                               box.lower + width * m.result_prior.upper)
            self.modes.append(RecoveredMode(island=m.island, peak_logL=m.peak_logL,
                                            estimated_log_mass=m.estimated_log_mass + box.log_volume,
                                            log_mass=m.log_mass + box.log_volume, result=m.result,
                                            result_prior=composed, kind="lost", log_offset=composed.log_volume))
        self.skipped += inner.skipped

    def run_lost_islands(self, *, max_modes, max_candidates, min_fraction):
        """A local run for each island the run left that is a separate mode of enough estimated mass."""
        n_split = len(self.modes)
        for isl in lost_islands(self.samples, self.prior)[:max_candidates]:
            if self.inside_a_box(isl.members):
                self.skipped.append((isl, "inside the box of a mode already run", None))
                continue
            separated, _ = separated_by_a_valley(self.counted, self.prior, isl)
            if not separated:
                self.skipped.append((isl, "connected: no valley between it and the rest", None))
                continue
            found = self.assess(isl, "lost")
            if isinstance(found, str):
                self.skipped.append((isl, found, None))
                continue
            top, cov, est, fraction = found
            if fraction < min_fraction:
                self.skipped.append((isl, "negligible estimated mass", fraction))
            elif len(self.modes) - n_split >= max_modes:
                self.skipped.append((isl, f"more lost modes than max_modes={max_modes}", fraction))
            else:
                mode = self.local_run(isl, "lost", top, cov, est)
                if mode is None:
                    self.skipped.append((isl, "no box around it avoids the points the run kept elsewhere", fraction))
                else:
                    self.modes.append(mode)

