"""The stage-2 proposal: training samples merged from stage 1 and the local runs, clusters,
flows, and defensive Gaussians, each cluster given at least a floor share."""

from dataclasses import dataclass

import numpy as np

from ...flows.data import effective_sample_size
from ...flows.kinds import flow_class
from ...flows.piecewise import PiecewiseMAF
from ...priors.cube import fit_cube_gaussian
from ...priors.mixture import Mixture
from ...samplers.mpi import on_root

__all__ = ["FLOW_FIT_BUDGET", "Clusters", "Proposal", "training_set", "find_clusters", "train_flows", "build_proposal"]

#: Keys of ``flow_options`` that choose the clusters rather than train a flow.
CLUSTER_KEYS = ("n_clusters", "max_clusters", "min_silhouette", "min_cluster_size")
#: Training options of the stage-1 flows unless ``flow_options`` says otherwise.
FIT_DEFAULTS = {"epochs": 300, "patience": 30}
#: Effective samples a cluster needs for a flow of its own: a low-nlive run has a few hundred.
MIN_CLUSTER_ESS = 50
#: Cluster flows trained at most (clusters times seeds): with more big clusters than this over ``n_flows``,
#: each cluster gets fewer seeds, at least one.  A MAF costs seconds to train however small its
#: data; the egg box's 18 modes with three seeds each took 387 s of a run that had 15 minutes.
FLOW_FIT_BUDGET = 12


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


def training_set(samples, prior, modes, flow_beta):
    """``(theta, w, source)``: stage 1 and the local runs merged, tempered to ``flow_beta``, normalised.

    A local run's dead points carry prior mass ``logdX + log|B|`` in stage 1's measure, so the merged
    weights :math:`L^{\\beta_f} dX` are consistent.
    """
    theta, log_weight, source = _merged(samples, prior, modes, flow_beta)
    w = np.exp(log_weight - np.max(log_weight))
    keep = w > 0
    return theta[keep], w[keep] / w[keep].sum(), source[keep]


@dataclass
class Clusters:
    """The clusters of the training set: ``labels`` per sample, and per cluster its ``kind``
    (``"stage 1"``, ``"recovered"`` or ``"split"``), posterior ``share`` and effective samples ``ess``."""

    labels: np.ndarray
    scores: dict
    kinds: list
    share: np.ndarray
    ess: np.ndarray
    min_size: int

    @property
    def n(self):
        return len(self.share)

    @property
    def big(self):
        """Clusters with enough effective samples for a flow."""
        return np.where(self.ess >= self.min_size)[0]


def find_clusters(theta, w, source, modes, cluster_options, seed):
    """Cluster the training set (:func:`flowprior.training.clustering.cluster`) and describe each cluster."""
    from ...training.clustering import cluster

    options = dict(cluster_options)
    min_size = int(options.pop("min_cluster_size", MIN_CLUSTER_ESS))
    labels, scores = cluster(theta, w, min_cluster_size=1, seed=seed, **options)
    n = int(labels.max()) + 1
    kinds = []
    for k in range(n):
        by_source = np.bincount(source[labels == k], weights=w[labels == k], minlength=len(modes) + 1)
        j = int(np.argmax(by_source))
        kinds.append("stage 1" if j == 0 else ("recovered" if modes[j - 1].kind == "lost" else "split"))
    share = np.array([w[labels == k].sum() for k in range(n)]) / w.sum()
    ess = np.array([effective_sample_size(w[labels == k]) for k in range(n)])
    return Clusters(labels, scores, kinds, share, ess, min_size)


def train_flows(theta, w, clusters, prior, flow, fit_options, seeds, comm):
    """The flows (one per seed) and which clusters they cover.

    ``"piecewise"``: one MAF per cluster with enough effective samples (the clusters' indices are
    returned), with as many of ``seeds`` as :data:`FLOW_FIT_BUDGET` allows (at least one).  ``"maf"`` and
    ``"block"``: one flow on everything (None: it covers every cluster).
    A piecewise flow over one cluster does too; over several clusters none of which is big enough,
    none is covered by a flow (``[]``): a flow would bridge them, and each is proposed from by its
    Gaussian moment fit.  Under MPI the flows are trained on rank 0 and broadcast.
    """
    params = list(prior.params)
    big = clusters.big
    if flow == "piecewise" and len(big) > 0:
        rows = np.isin(clusters.labels, big)
        sub = np.searchsorted(big, clusters.labels[rows])
        opts = {"refine": 2, **fit_options, "min_cluster_size": 1, "labels": sub}
        seeds = seeds[:max(1, FLOW_FIT_BUDGET // len(big))]
        flows = on_root(lambda: _fit(flow, theta[rows], w[rows], prior, params, seeds, opts, comm), comm)
        return flows, list(big)
    opts = {"min_cluster_size": 1, "n_clusters": 1, **fit_options} if flow_class(flow) is PiecewiseMAF else fit_options
    flows = on_root(lambda: _fit(flow, theta, w, prior, params, seeds, opts, comm), comm)
    return flows, (None if clusters.n == 1 or flow in ("maf", "block") else [])


def _fit(flow, theta, w, prior, params, seeds, opts, comm):
    """One flow per seed; in a fresh interpreter (:mod:`flowprior.training.isolated`) unless under MPI, where rank 0
    trains in its own process (an MPI rank that starts processes can hang some transports)."""
    if comm is None:
        from ...training.isolated import fit_isolated

        return fit_isolated(flow, theta, w, prior=prior, seeds=seeds, params=params, **opts)
    cls = flow_class(flow)
    return [cls.fit(theta, w, prior=prior, params=params, seed=s, **opts) for s in seeds]


@dataclass
class Proposal:
    """The proposal's components, each with its share within its cluster (``within``), its cluster
    (``owner``, -1 for a flow over every cluster) and its covariance factor (``inflation``, None for
    a flow)."""

    components: list
    within: np.ndarray
    owner: np.ndarray
    inflation: list

    def weights(self, cluster_share):
        """Component weights when each cluster takes ``cluster_share`` of the proposal."""
        return self.within * np.where(self.owner >= 0, cluster_share[np.maximum(self.owner, 0)], 1.0)

    def mixture(self, cluster_share):
        return Mixture(self.components, self.weights(cluster_share))


def build_proposal(theta, w, clusters, flows, flow_clusters, prior, *, flow_scale, gaussian_weight, inflations):
    """Within each cluster its flows (or, for a cluster too small for a flow, a Gaussian moment fit),
    ``1 - gaussian_weight`` of it, and the defensive Gaussians with covariances times ``inflations``."""
    components, within, owner, inflation = [], [], [], []

    def add(component, share, cluster, factor):
        components.append(component)
        within.append(share)
        owner.append(cluster)
        inflation.append(factor)

    def scaled(f):
        return f if flow_scale == 1.0 else f.widened(flow_scale)

    flow_weight = 1.0 - gaussian_weight
    if flow_clusters is None:
        for f in flows:
            add(scaled(f), flow_weight / len(flows), -1, None)
    for k in range(clusters.n):
        rows = clusters.labels == k
        if flow_clusters is not None and k in flow_clusters:
            j = flow_clusters.index(k)
            for f in flows:
                add(scaled(f.components[j]), flow_weight / len(flows), k, None)
        elif flow_clusters is not None:
            add(fit_cube_gaussian(theta[rows], w[rows], prior), flow_weight, k, 1.0)
        if gaussian_weight > 0:
            for factor in inflations:
                add(fit_cube_gaussian(theta[rows], w[rows], prior, inflation=factor), gaussian_weight / len(inflations),
                    k, factor)
    return Proposal(components, np.array(within), np.array(owner), inflation)
