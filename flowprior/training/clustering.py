"""Clustering weighted samples with k-means, the number of clusters chosen by silhouette score."""

import logging

import numpy as np

from ..errors import FlowpriorValueError
from ..flows.data import effective_sample_size

__all__ = ["cluster", "MAX_CLUSTERS_LIMIT"]

logger = logging.getLogger(__name__)

#: The search for K goes past ``max_clusters`` while the silhouette score still rises, up to this.
MAX_CLUSTERS_LIMIT = 64


def _standardise(theta, weights):
    mean = np.average(theta, axis=0, weights=weights)
    std = np.sqrt(np.average((theta - mean) ** 2, axis=0, weights=weights))
    return (theta - mean) / np.where(std > 0, std, 1.0)


def _kmeans(z, weights, k, seed):
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z, sample_weight=weights)
    return km.labels_, km.cluster_centers_


def _merge_small(z, weights, labels, min_cluster_size):
    """Merge clusters below ``min_cluster_size`` effective samples into the nearest one."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) == 1:
            return labels
        ess = np.array([effective_sample_size(weights[labels == j]) for j in ids])
        small = int(np.argmin(ess))
        if ess[small] >= min_cluster_size:
            return labels
        centres = np.array([np.average(z[labels == j], axis=0, weights=weights[labels == j]) for j in ids])
        dist = np.sum((centres - centres[small]) ** 2, axis=1)
        dist[small] = np.inf
        target = ids[int(np.argmin(dist))]
        logger.warning("cluster of %.0f effective samples is below min_cluster_size=%d; merged into "
                       "the nearest cluster", ess[small], min_cluster_size)
        labels[labels == ids[small]] = target


def cluster(theta, weights=None, *, n_clusters=None, max_clusters=8, min_silhouette=0.42,
            min_cluster_size=200, seed=None):
    """Cluster weighted samples with k-means, choosing K by the silhouette score.

    Parameters
    ----------
    theta : ndarray, shape ``(n, ndims)``
    weights : ndarray, shape ``(n,)``, optional
    n_clusters : int, optional
        Fixes K; otherwise it is chosen by silhouette (see module docs).
    max_clusters : int
        Largest K tried, unless the score is still rising there: then K goes on up, one at a time,
        while it does (at most :data:`MAX_CLUSTERS_LIMIT`).
    min_silhouette : float
        Below this best score the samples form one cluster.
    min_cluster_size : int
        Clusters with fewer effective samples are merged into their nearest
        neighbour.
    seed : int, optional

    Returns
    -------
    labels : ndarray of int, shape ``(n,)``, values ``0..K-1``
    scores : dict
        Silhouette score of each K tried (empty when ``n_clusters`` is given).
    """
    from sklearn.metrics import silhouette_score

    theta = np.asarray(theta, dtype=np.float64)
    weights = np.ones(len(theta)) if weights is None else np.asarray(weights, dtype=np.float64)
    z = _standardise(theta, weights)
    seeds = np.random.SeedSequence(seed).generate_state(2)
    km_seed = int(seeds[0])
    scores = {}
    if n_clusters is not None:
        if int(n_clusters) < 1:
            raise FlowpriorValueError(f"expected n_clusters >= 1; got {n_clusters}")
        k = int(n_clusters)
        labels = np.zeros(len(z), int) if k == 1 else _kmeans(z, weights, k, km_seed)[0]
    else:
        if int(max_clusters) < 2:
            raise FlowpriorValueError(f"expected max_clusters >= 2; got {max_clusters}")
        rng = np.random.default_rng(seeds[1])
        pick = rng.choice(len(z), size=min(2000, len(z)), p=weights / weights.sum())
        best = (-np.inf, np.zeros(len(z), int), 0)
        k = 1
        # Past max_clusters only while the score still rises: eighteen separated modes (the egg box)
        # scored best at the cap itself, and a cluster that holds several modes gets one flow across them.
        while k < int(max_clusters) or (best[2] == k and k < MAX_CLUSTERS_LIMIT):
            k += 1
            if k >= len(np.unique(pick)):
                break
            labels_k = _kmeans(z, weights, k, km_seed)[0]
            if len(np.unique(labels_k[pick])) < 2:
                continue
            scores[k] = float(silhouette_score(z[pick], labels_k[pick]))
            if scores[k] > best[0]:
                best = (scores[k], labels_k, k)
        labels = best[1] if best[0] >= min_silhouette else np.zeros(len(z), int)
        logger.info("silhouette scores %s; using %d cluster(s)", scores, len(np.unique(labels)))
    labels = _merge_small(z, weights, labels, min_cluster_size)
    return np.unique(labels, return_inverse=True)[1], scores
