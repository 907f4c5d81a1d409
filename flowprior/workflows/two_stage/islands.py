r"""Islands: groups of live points a nested-sampling run left before its end (no likelihood calls).

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
"""

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from ...kernels.logsumexp import logsumexp
from .probes import separated_by_a_valley

__all__ = ["Island", "lost_islands", "island_box", "final_groups", "SeparatedModes"]


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
        from the rest is checked by :func:`~flowprior.workflows.two_stage.probes.separated_by_a_valley`.
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
