r"""Modes a nested-sampling run lost, and local runs that find them again.

A sampler that draws new points from bounds around its live points (dynesty's
ellipsoids) cannot draw in a region that has no live points left, and a
mode holding a few of them is easily left out of the bounds: at low
``nlive`` such a mode dies out before the run has climbed it.  In a 5-D
mixture whose 25 % mode is 0.7 times as wide as the other, stage 1 at
``nlive=50`` lost it on 5 of 20 seeds (``docs/two_stage.rst``).  Its dead
points still show where it was.

Finding them (:func:`lost_islands`, no likelihood calls).  The live set at
the contour :math:`\mathcal{L}_i` is every point born below it and dying at
or above it, :math:`\{j : \mathcal{L}^\mathrm{birth}_j < \mathcal{L}_i \le
\mathcal{L}_j\}`.  At 40 contours, the live set (in the prior's cube, scaled
by its spread) is cut into single-linkage groups lying at least two median
nearest-neighbour distances from the rest.  A group is *left* when none of
its points is a final live point, when no more points were born in its
region (the points nearest to its own) after that contour than it held
there, and when the posterior mass the run found in its region is below 1 %
of the evidence.  The same island seen at several contours is kept at the
latest.

Telling lost modes from the rest (likelihood calls).  Most left groups are
the retreating edges of a region the run kept (a banana's arms) or modes
the contour passed naturally.  For each: a valley check
(:func:`separated_by_a_valley`: a point below the contour on the segments to
the nearest other live points); a climb (:func:`climb`, gradient ascent,
which counts as connected once it comes nearer to points the run kept than
to the island's own); and Laplace's method at the peak it reaches
(:func:`laplace`), which estimates the mode's mass,
:math:`\log M \approx \log\mathcal{L}_\mathrm{peak} + \frac{d}{2}\log 2\pi +
\frac12\log|\Sigma|`.  A separated mode whose estimated mass is at least
1e-3 of the evidence is run again: nested sampling of the original problem
restricted to a box of five standard deviations around its peak in the
prior's cube (:class:`CubeBox`), which gives its posterior samples and its
mass :math:`Z_B\,|B|`.

Runs stopped because one ellipsoid spans the modes.  dynesty gives no
ellipsoid of its own to a mode with fewer than ``2 ndim`` live points, and
the ellipsoid spanning both then collapses the efficiency.  A run stopped
there (``min_efficiency`` with :class:`SeparatedModes` as its check) has
each separated group of its final live points run on its own
(:func:`final_groups`, ``split_final``).

The limit.  A mode that the run never held two live points in, once
separated from the rest, leaves no group to find: that is the resolution
of a run at that ``nlive``, and only more live points help.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaln

from . import _registry
from ._logsumexp import logsumexp
from .priors import Prior

__all__ = ["Island", "lost_islands", "separated_by_a_valley", "climb", "laplace", "log_mass_above", "CubeBox",
           "island_box", "final_groups", "SeparatedModes", "RecoveredMode", "Recovery", "recover_lost_modes"]

logger = logging.getLogger(__name__)


@dataclass
class Island:
    r"""A group of live points that a run left before its end (see module docs).

    Attributes
    ----------
    level : float
        :math:`\log\mathcal{L}` of the latest contour at which the group held
        at least two live points.
    n_live : int
        Its live points there.
    cube : ndarray, shape ``(m, ndims)``
        Its live points at that contour and at up to three earlier ones (where
        the same island was seen), in the prior's cube.
    members, others : ndarray
        At ``level``: its live points and the run's other live points, in the cube.
    n_levels : int
        Contours at which the island was seen.
    log_fraction_seen : float
        Log of the run's posterior mass in the island's region (the dead
        points nearest to its live points), as a fraction of the run's evidence.
    log_volume : float
        Log of its prior volume at ``level``: :math:`X_i\,n/n_\mathrm{live}`.
    scale : ndarray
        Spread of the live set at ``level`` per cube coordinate (the metric of
        every distance here).
    rest : ndarray
        Cube points the run kept sampling outside the island: the other live
        points at ``level`` and every point born above it outside the island.
    """

    level: float
    n_live: int
    cube: np.ndarray
    members: np.ndarray
    others: np.ndarray
    n_levels: int = 1
    log_fraction_seen: float = -np.inf
    log_volume: float = 0.0
    scale: np.ndarray = None
    rest: np.ndarray = None
    births: int = 0
    headroom: float = 0.0


def _nearest(points, targets):
    """Index of the nearest row of ``targets`` for every row of ``points``."""
    d2 = ((points[:, None, :] - targets[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d2, axis=1)


def _groups(x, max_groups, min_gap):
    """Single-linkage groups of the rows of ``x`` (cut into 2..max_groups) set apart by a gap.

    A group qualifies when its nearest distance to the other rows is at least
    ``min_gap`` times the median nearest-neighbour distance of all rows.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    typical = float(np.median(dist.min(axis=1)))
    tree = linkage(x, method="single")
    seen, out = set(), []
    for k in range(2, max_groups + 1):
        labels = fcluster(tree, k, criterion="maxclust")
        for c in np.unique(labels):
            rows = np.where(labels == c)[0]
            if len(rows) < 2 or len(rows) > len(x) - 2 or tuple(rows) in seen:
                continue
            seen.add(tuple(rows))
            rest = np.setdiff1d(np.arange(len(x)), rows)
            if dist[np.ix_(rows, rest)].min() >= min_gap * typical:
                out.append(rows)
    return out


def lost_islands(samples, prior, *, n_levels=40, max_groups=4, min_gap=2.0, max_fraction_seen=0.01):
    """Groups of live points that a nested-sampling run left before its end.

    Parameters
    ----------
    samples : anesthetic.NestedSamples
        With ``logL`` and ``logL_birth`` (any :func:`flowprior.run` result).
    prior : Prior
        The run's prior; groups are found in its cube, scaled by the live
        set's spread.
    n_levels : int
        Contours examined, evenly spaced in iteration.
    max_groups : int
        The single-linkage tree of each live set is cut into 2 to this many groups.
    min_gap : float
        A group must lie at least this many median nearest-neighbour
        distances from the other live points.
    max_fraction_seen : float
        Groups in whose region the run found more than this fraction of its
        posterior mass are not lost: the run integrated them.

    Returns
    -------
    list of Island
        One per island (the same island seen at several contours is kept at
        the latest), most live points first.  Whether a valley separates each
        from the rest is checked by :func:`separated_by_a_valley`.
    """
    theta = samples[list(prior.params)].to_numpy()
    logL = samples.logL.to_numpy()
    birth = samples.logL_birth.to_numpy()
    order = np.argsort(logL, kind="stable")
    theta, logL, birth = theta[order], logL[order], birth[order]
    finite = np.isfinite(logL)
    n = len(logL)
    if finite.sum() < 10:
        return []
    cube = prior._inverse_prior_transform(theta)
    logw = np.asarray(samples.logw(), dtype=np.float64)[order]
    logX = np.asarray(samples.logX(), dtype=np.float64)[order]
    logZ = float(logsumexp(logw))
    stop = max(n - int(np.max(samples.nlive.to_numpy())) - 1, 0)  # before the final live points are added
    final = (birth < logL[stop]) & (logL >= logL[stop])
    levels = np.unique(np.linspace(int(np.argmax(finite)), stop, n_levels).astype(int))
    kept = []
    for i in levels[::-1]:
        alive = np.where((birth < logL[i]) & (logL >= logL[i]))[0]
        if len(alive) < 6:
            continue
        u = cube[alive]
        scale = np.where(u.std(axis=0) > 0, u.std(axis=0), 1.0)
        later = np.where(birth >= logL[i])[0]
        owner = _nearest(cube[later] / scale, u / scale)
        dead_owner = _nearest(cube / scale, u / scale)
        for rows in _groups(u / scale, max_groups, min_gap):
            members = alive[rows]
            # Points born in the group's region after this contour: a region the
            # run kept sampling (a banana's arm) has many; a lost island at most
            # the few that replaced its last live points before they died.
            births = int(np.isin(owner, rows).sum())
            if births > len(rows) or np.isin(np.where(final)[0], members).any():
                continue
            # Posterior mass of the dead points in the group's region, as the run saw it.
            seen = float(logsumexp(logw[np.isin(dead_owner, rows)]) - logZ)
            same = [isl for isl in kept
                    if np.isin(_nearest(isl.members.mean(axis=0)[None] / scale, u / scale), rows).any()]
            if same:
                # The same island at an earlier contour: its live points there widen its footprint.
                if same[0].n_levels < 4:
                    same[0].cube = np.vstack([same[0].cube, cube[members]])
                same[0].n_levels += 1
                continue
            kept.append(Island(level=float(logL[i]), n_live=len(members), cube=cube[members].copy(),
                               members=cube[members].copy(), others=cube[np.setdiff1d(alive, members)].copy(),
                               log_fraction_seen=seen, log_volume=float(logX[i] + np.log(len(rows) / len(alive))),
                               scale=scale, rest=np.vstack([cube[np.setdiff1d(alive, members)],
                                                            cube[later[~np.isin(owner, rows)]]]),
                               births=births, headroom=float(logL[members].max() - logL[i])))
    kept = [isl for isl in kept if isl.log_fraction_seen <= np.log(max_fraction_seen)]
    kept.sort(key=lambda isl: -len(isl.cube))
    return kept


def climb(loglikelihood, prior, island, *, max_steps=30):
    r"""Gradient ascent from the island's best live point, in its scaled cube coordinates.

    Stops at a (local) peak, after ``max_steps`` steps, or as soon as the
    path comes nearer to a point the run kept sampling (``island.rest``) than
    to the island's own points: then the island is connected to the rest.

    Returns
    -------
    dict
        ``peak`` (cube point), ``logL`` there, ``connected`` and ``ncall``.
    """
    scale = island.scale
    own = island.cube / scale
    rest = island.rest / scale
    def f(x):
        return float(loglikelihood(prior._prior_transform(np.clip(x * scale, 0.0, 1.0)[None])[0]))

    x = island.members[0] / scale
    fx, ncall = f(x), 1
    for m in island.members[1:]:
        fm = f(m / scale)
        ncall += 1
        if fm > fx:
            x, fx = m / scale, fm
    spread = own.std(axis=0).mean() if len(own) > 1 else 0.1
    step = max(0.5 * spread, 1e-3)
    h = 0.05 * step
    connected = False
    for _ in range(max_steps):
        grad = np.empty_like(x)
        for j in range(len(x)):
            e = np.zeros_like(x)
            e[j] = h
            grad[j] = (f(x + e) - fx) / h
        ncall += len(x)
        norm = np.linalg.norm(grad)
        if not np.isfinite(norm) or norm == 0:
            break
        trial = x + step * grad / norm
        ft = f(trial)
        ncall += 1
        if ft > fx:
            x, fx = trial, ft
            step *= 1.5
            if len(rest) and np.min(((rest - x) ** 2).sum(axis=1)) < np.min(((own - x) ** 2).sum(axis=1)):
                connected = True
                break
        else:
            step *= 0.3
            h = min(h, 0.05 * step)
            if step < 1e-3 * spread:
                break
    return {"peak": np.clip(x * scale, 0.0, 1.0), "logL": fx, "connected": connected, "ncall": ncall,
            "step": step * scale}


def laplace(loglikelihood, prior, peak, logL_peak, step):
    r"""Gaussian approximation of a mode at ``peak`` (cube coordinates) from finite differences.

    Each coordinate's step is adjusted until moving by it lowers
    :math:`\log\mathcal{L}` by 0.01 to 2; then the Hessian :math:`H` of
    :math:`\log\mathcal{L}` in the cube gives the covariance
    :math:`\Sigma = (-H)^{-1}` and the mode's mass (Laplace's method; the
    cube's measure is the prior's),

    .. math::

        \log M \approx \log\mathcal{L}_\mathrm{peak} + \frac{d}{2}\log 2\pi + \frac12\log|\Sigma|.

    Returns ``(cov, log_mass, ncall)``, or ``(None, nan, ncall)`` when
    :math:`-H` is not positive definite (no peak, or not a smooth one).
    """
    d = len(peak)

    def f(u):
        return float(loglikelihood(prior._prior_transform(np.clip(u, 0.0, 1.0)[None])[0]))

    h = np.maximum(np.abs(np.asarray(step, dtype=np.float64)), 1e-9) * np.ones(d)
    ncall = 0
    plus, minus = np.empty(d), np.empty(d)
    for i in range(d):
        for _ in range(8):
            e = np.zeros(d)
            e[i] = h[i]
            plus[i], minus[i] = f(peak + e), f(peak - e)
            ncall += 2
            drop = logL_peak - 0.5 * (plus[i] + minus[i])
            if drop > 2.0:
                h[i] /= 3.0
            elif drop < 0.01:
                h[i] *= 3.0
            else:
                break
    H = np.diag((plus + minus - 2.0 * logL_peak) / h**2)
    for i in range(d):
        for j in range(i + 1, d):
            ei, ej = np.zeros(d), np.zeros(d)
            ei[i], ej[j] = h[i], h[j]
            v = (f(peak + ei + ej) - f(peak + ei - ej) - f(peak - ei + ej) + f(peak - ei - ej)) / (4 * h[i] * h[j])
            ncall += 4
            H[i, j] = H[j, i] = v
    try:
        chol = np.linalg.cholesky(-H)
    except np.linalg.LinAlgError:
        return None, np.nan, ncall
    cov = np.linalg.inv(-H)
    log_det = -2.0 * np.sum(np.log(np.diag(chol)))
    return 0.5 * (cov + cov.T), float(logL_peak + 0.5 * d * np.log(2 * np.pi) + 0.5 * log_det), ncall


def log_mass_above(level, log_volume, peak_logL, ndims):
    r"""Mass a Gaussian mode holds above a contour, for when Laplace's method fails.

    With the mode's prior volume :math:`X_c` inside the contour
    (``log_volume``) and its peak :math:`\Delta` = ``peak_logL - level``
    above it, the live points are uniform in a ball and

    .. math::

        M = \mathcal{L}_i X_c\, \frac{d}{2}\, e^{\Delta} \Delta^{-d/2}\,
            \gamma\!\left(\frac{d}{2}, \Delta\right),

    with :math:`\gamma` the lower incomplete gamma function
    (:math:`M \to \mathcal{L}_i X_c` as :math:`\Delta \to 0`).
    """
    a = 0.5 * ndims
    delta = float(peak_logL - level)
    if delta < 1e-8:
        return float(level + log_volume)
    log_gamma_lower = np.log(max(gammainc(a, delta), 1e-300)) + gammaln(a)
    return float(level + log_volume + np.log(a) + delta - a * np.log(delta) + log_gamma_lower)


def separated_by_a_valley(loglikelihood, prior, island, *, n_pairs=3, n_points=6):
    """Whether every one of the ``n_pairs`` shortest segments to the rest dips below the island's contour.

    Returns ``(separated, ncall)``; the segments run in the prior's cube
    between the island's live points and the other live points at its
    contour, and ``n_points`` inner points of each are evaluated.
    """
    a, b = island.members, island.others
    if len(b) == 0:
        return True, 0
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    pairs = np.dstack(np.unravel_index(np.argsort(d2, axis=None)[:n_pairs], d2.shape))[0]
    t = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    ncall = 0
    for ia, ib in pairs:
        dipped = False
        for tk in t:
            u = np.clip(a[ia] + tk * (b[ib] - a[ia]), 0.0, 1.0)
            ncall += 1
            if float(loglikelihood(prior._prior_transform(u[None])[0])) < island.level:
                dipped = True
                break
        if not dipped:
            return False, ncall
    return True, ncall


@_registry.register
class CubeBox(Prior):
    r"""A prior restricted to the box :math:`B = [l, h]` of its unit cube, renormalised.

    .. math::

        \theta = T(l + (h - l)\,v), \qquad
        \log\pi_B(\theta) = \log\pi(\theta) - \sum_i \log(h_i - l_i),

    since :math:`\pi(B) = |B|` for a prior defined by its cube transform
    :math:`T`.  The evidence of a run on :math:`\pi_B` times :math:`|B|` is the
    mass :math:`\int_B \mathcal{L}\pi\,d\theta`.
    """

    def __init__(self, base, lower, upper):
        if not isinstance(base, Prior):
            raise TypeError(f"expected base to be a flowprior Prior; got {type(base).__name__}")
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        if (lower.shape != (base.ndims,) or upper.shape != (base.ndims,) or not np.all(lower >= 0)
                or not np.all(upper <= 1) or not np.all(lower < upper)):
            raise ValueError(f"expected 0 <= lower < upper <= 1 of shape ({base.ndims},); "
                             f"got {lower.tolist()} and {upper.tolist()}")
        self.base, self.lower, self.upper = base, lower, upper
        self.ndims, self.params = base.ndims, base.params
        self.log_volume = float(np.sum(np.log(upper - lower)))

    def _prior_transform(self, v):
        return self.base._prior_transform(self.lower + (self.upper - self.lower) * v)

    def _cube(self, theta):
        return self.base._inverse_prior_transform(theta)

    def _inverse_prior_transform(self, theta):
        return np.clip((self._cube(theta) - self.lower) / (self.upper - self.lower), 0.0, 1.0)

    def _log_prob(self, theta):
        return self.base._log_prob(theta) - self.log_volume

    def _in_support(self, theta):
        inside = self.base._in_support(theta)
        if inside.any():
            u = self._cube(theta[inside])
            inside[inside] = np.all((u >= self.lower) & (u <= self.upper), axis=1)
        return inside

    def _state(self):
        config, arrays = _registry.dump(self.base, prefix="base/")
        return {"base": config}, {**arrays, "lower": self.lower, "upper": self.upper}

    @classmethod
    def _from_state(cls, config, arrays):
        return cls(_registry.build(config["base"], arrays, prefix="base/"), arrays["lower"], arrays["upper"])


def island_box(island, *, margin=0.5, extra=None):
    """A box in the cube around the island's points, widened by ``margin`` of its range each side.

    The margin is halved until none of ``island.rest`` (the points the run
    kept sampling elsewhere) lies inside: the box must not reach into another
    mode.  None if even the bare range holds one.
    """
    final_cube = island.rest
    pts = island.cube if extra is None else np.vstack([island.cube, np.atleast_2d(extra)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    width = np.maximum(hi - lo, 1e-9)
    for m in (margin, margin / 2, margin / 4, 0.0):
        lower = np.clip(lo - m * width, 0.0, 1.0)
        upper = np.clip(hi + m * width, 0.0, 1.0)
        inside = np.all((final_cube >= lower) & (final_cube <= upper), axis=1)
        if not inside.any():
            return lower, np.maximum(upper, lower + 1e-12)
    return None


class SeparatedModes:
    """``stop_check`` for dynesty (:mod:`flowprior.samplers.dynesty`): do the live points form separated modes?

    The live points (in the prior's cube, scaled by their spread) are cut
    into single-linkage groups where links exceed ``min_gap`` median
    nearest-neighbour distances; groups of at least two points other than
    the largest are separated from it if the segment between their nearest
    points dips below the current contour (``n_points`` likelihood calls per
    group).  At the collapses this is for, the modes' link was 6.9 and 7.5
    median distances; a curved banana's live points break into several
    groups at 2 to 6 (so the default 4, with the valley and the two-point
    rule, keeps a banana's run going).  ``ncall`` counts the calls.
    """

    def __init__(self, loglikelihood, prior, *, min_gap=4.0, n_points=6):
        self.loglikelihood, self.prior = loglikelihood, prior
        self.min_gap, self.n_points = float(min_gap), int(n_points)
        self.ncall = 0

    def __call__(self, live_u, live_logl):
        from scipy.cluster.hierarchy import fcluster, linkage

        u = np.asarray(live_u, dtype=np.float64)
        if len(u) < 4:
            return False
        scale = np.where(u.std(axis=0) > 0, u.std(axis=0), 1.0)
        x = u / scale
        dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
        np.fill_diagonal(dist, np.inf)
        labels = fcluster(linkage(x, method="single"), self.min_gap * float(np.median(dist.min(axis=1))),
                          criterion="distance")
        ids, counts = np.unique(labels, return_counts=True)
        main = labels == ids[np.argmax(counts)]
        level = float(np.min(live_logl))
        t = np.linspace(0.0, 1.0, self.n_points + 2)[1:-1]
        for c, n in zip(ids, counts):
            rows = labels == c
            if n < 2 or np.array_equal(rows, main):
                continue
            sub = dist[np.ix_(rows, main)]
            i, j = np.unravel_index(np.argmin(sub), sub.shape)
            a, b = u[rows][i], u[main][j]
            for tk in t:
                self.ncall += 1
                theta = self.prior._prior_transform(np.clip(a + tk * (b - a), 0.0, 1.0)[None])[0]
                if float(self.loglikelihood(theta)) < level:
                    return True
        return False


@dataclass
class RecoveredMode:
    r"""A lost island found again by a local run (:func:`recover_lost_modes`).

    Attributes
    ----------
    island : Island
    peak_logL : float
        Highest log-likelihood the climb reached.
    estimated_log_mass : float
        :func:`log_mass_above` at that peak, before the local run.
    log_mass : float
        The local run's :math:`\log(Z_B |B|)`.
    result : RunResult
        The local run, on the :class:`CubeBox` prior ``result_prior``.
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


def final_groups(loglikelihood, prior, samples, *, min_gap=4.0):
    """Separated groups of a run's final live points, each as an :class:`Island` at the final contour.

    The single-linkage tree of the final live points is cut where links
    exceed ``min_gap`` median nearest-neighbour distances (as in
    :class:`SeparatedModes`: at 2, modes fall apart into pieces that no
    valley separates, and were run as one region).  Groups that a
    valley separates from the rest are modes of their own (merged where no
    valley lies between them), the other points together one more region;
    also the likelihood calls of the valley checks.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    theta = samples[list(prior.params)].to_numpy()
    logL = samples.logL.to_numpy()
    birth = samples.logL_birth.to_numpy()
    order = np.argsort(logL, kind="stable")
    theta, logL, birth = theta[order], logL[order], birth[order]
    logX = np.asarray(samples.logX(), dtype=np.float64)[order]
    stop = max(len(logL) - int(np.max(samples.nlive.to_numpy())) - 1, 0)
    final = np.where((birth < logL[stop]) & (logL >= logL[stop]))[0]
    if len(final) < 6:
        return [], 0
    u = prior._inverse_prior_transform(theta[final])
    scale = np.where(u.std(axis=0) > 0, u.std(axis=0), 1.0)
    x = u / scale
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    labels = fcluster(linkage(x, method="single"), min_gap * float(np.median(dist.min(axis=1))), criterion="distance")
    groups, ncall, joined = [], 0, np.zeros(len(u), bool)

    def island(rows):
        return Island(level=float(logL[stop]), n_live=int(rows.sum()), cube=u[rows].copy(), members=u[rows].copy(),
                      others=u[~rows].copy(), log_volume=float(logX[stop] + np.log(rows.sum() / len(final))),
                      scale=scale, rest=u[~rows].copy())

    # Each component a valley separates from the rest is a mode of its own (a single point too:
    # the last live point of a mode that was dying out); components joined by a valley-free segment
    # are one; what no valley separates is one region.
    ids = np.unique(labels)
    separated = []
    for c in ids:
        rows = labels == c
        if rows.all():
            break
        sep, n = separated_by_a_valley(loglikelihood, prior, island(rows))
        ncall += n
        (separated.append(c) if sep else None)
        joined |= rows if not sep else False
    merged = []
    for c in separated:
        for m in merged:
            probe = island(labels == c)
            probe.others = u[np.isin(labels, m)]
            sep, n = separated_by_a_valley(loglikelihood, prior, probe, n_pairs=1)
            ncall += n
            if not sep:
                m.append(c)
                break
        else:
            merged.append([c])
    for m in merged:
        groups.append(island(np.isin(labels, m)))
    if joined.sum() >= 1:
        groups.append(island(joined))
    return groups, ncall


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
        of its own (:func:`final_groups`): for a run stopped early because
        one ellipsoid had to span its modes.

    Returns
    -------
    Recovery
    """
    from .counting import CountedLikelihood
    from .run import run

    counted = CountedLikelihood(loglikelihood)
    logZ = float(samples.logZ())
    seeds = np.random.SeedSequence(seed).generate_state(max_modes + 8)
    modes, skipped, ncall_runs = [], [], 0

    def inside_a_box(points):
        return any(np.all((points >= m.result_prior.lower) & (points <= m.result_prior.upper)) for m in modes)

    def assess(isl, kind):
        """Climb and Laplace: ``(top, cov, log mass estimate, fraction)``, or a reason to skip it."""
        top = climb(counted, prior, isl)
        if kind == "lost" and top["connected"]:
            return "connected: the climb reached points the run kept"
        if inside_a_box(top["peak"][None]):
            return "its peak lies in the box of a mode already run"
        cov, est, _ = laplace(counted, prior, top["peak"], top["logL"], top["step"])
        if cov is None:
            est = log_mass_above(isl.level, isl.log_volume, top["logL"], prior.ndims)
        return top, cov, float(est), float(np.exp(est - np.logaddexp(logZ, est)))

    def local_run(isl, kind, top, cov, est):
        # A lost island, or a group of too few final live points to span its region, is zoomed in on;
        # a larger group of final live points keeps its whole region.
        zoom = kind == "lost" or len(isl.members) < 2 * prior.ndims + 2
        box = _laplace_box(top["peak"], cov, isl.rest) if cov is not None and zoom else None
        if box is None:
            box = island_box(isl, extra=top["peak"], margin=0.5)
        if box is None:
            return None
        restricted = CubeBox(prior, *box)
        offset = restricted.log_volume
        res = run(loglikelihood, restricted, sampler=sampler, nlive=nlive, seed=int(seeds[len(modes)]),
                  **(run_options or {}))
        log_mass = float(res.logZ + offset)
        logger.info("local run (%s) at logL %.1f, peak %.1f: %d calls, log mass %.2f (estimated %.2f)", kind,
                    isl.level, top["logL"], res.ncall, log_mass, est)
        return RecoveredMode(island=isl, peak_logL=float(top["logL"]), estimated_log_mass=est,
                             log_mass=log_mass, result=res, result_prior=restricted, kind=kind, log_offset=offset)

    if split_final:
        groups, _ = final_groups(counted, prior, samples)
        for isl in groups[:max_modes + 4]:
            found = assess(isl, "split")
            mode = local_run(isl, "split", *found[:3]) if not isinstance(found, str) else None
            if mode is None:
                skipped.append((isl, found if isinstance(found, str) else "no box avoids the other groups", None))
                continue
            ncall_runs += mode.result.ncall
            modes.append(mode)
    # A split group's box can hold modes that its own run, at few live points, lost in turn.
    extra_probe = 0
    for parent in list(modes):
        inner = recover_lost_modes(loglikelihood, parent.result_prior, parent.result.samples, nlive=nlive,
                                   sampler=sampler, seed=int(seeds[-1]), max_modes=max_modes,
                                   max_candidates=max_candidates, min_fraction=min_fraction,
                                   run_options=run_options)
        extra_probe += inner.ncall_probe
        ncall_runs += inner.ncall_runs
        box = parent.result_prior
        for m in inner.modes:
            width = box.upper - box.lower
            composed = CubeBox(prior, box.lower + width * m.result_prior.lower, box.lower + width * m.result_prior.upper)
            modes.append(RecoveredMode(island=m.island, peak_logL=m.peak_logL,
                                       estimated_log_mass=m.estimated_log_mass + box.log_volume,
                                       log_mass=m.log_mass + box.log_volume, result=m.result,
                                       result_prior=composed, kind="lost", log_offset=composed.log_volume))
        skipped += inner.skipped
    n_split = len(modes)
    for isl in lost_islands(samples, prior)[:max_candidates]:
        if inside_a_box(isl.members):
            skipped.append((isl, "inside the box of a mode already run", None))
            continue
        separated, _ = separated_by_a_valley(counted, prior, isl)
        if not separated:
            skipped.append((isl, "connected: no valley between it and the rest", None))
            continue
        found = assess(isl, "lost")
        if isinstance(found, str):
            skipped.append((isl, found, None))
            continue
        top, cov, est, fraction = found
        if fraction < min_fraction:
            skipped.append((isl, "negligible estimated mass", fraction))
            continue
        if len(modes) - n_split >= max_modes:
            skipped.append((isl, f"more lost modes than max_modes={max_modes}", fraction))
            continue
        mode = local_run(isl, "lost", top, cov, est)
        if mode is None:
            skipped.append((isl, "no box around it avoids the points the run kept elsewhere", fraction))
            continue
        ncall_runs += mode.result.ncall
        modes.append(mode)
    return Recovery(modes=modes, skipped=skipped, ncall_probe=counted.ncall + extra_probe, ncall_runs=ncall_runs)
