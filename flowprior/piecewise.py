r"""Piecewise flows for multimodal posteriors: one MAF per cluster, mixed exactly.

A single flow maps a unimodal Gaussian onto the target, so it leaves
bridges of mass between separated modes.  :class:`PiecewiseMAF` splits the
samples into clusters :math:`k = 1..K`, trains one :class:`~flowprior.MAF`
per cluster (all in the cube of the same base prior, so each has the base
prior's support) and mixes them with the clusters' shares of the sample
weight:

.. math::

    q(\theta) = \sum_k w_k\, q_k(\theta), \qquad
    w_k = \frac{\sum_{i \in k} w_i}{\sum_i w_i}, \qquad
    \log q = \operatorname{logsumexp}_k(\log w_k + \log q_k).

The hypercube transform is the exact, deterministic one of
:class:`~flowprior.Mixture`: the first coordinate :math:`u_1` is split into
intervals of length :math:`w_k`; the interval picks the cluster, :math:`u_1`
is rescaled to [0, 1] within it and flow :math:`k` maps the point.  It is a
function of :math:`u` alone (never of a random generator or of the point's
place in a batch), and uniform :math:`u` gives exactly :math:`q`.

Clustering.  k-means (scikit-learn, ``n_init=10``, seeded) on the samples
standardised by their weighted mean and standard deviation, with the
sample weights.  Without ``n_clusters`` the number of clusters :math:`K`
maximises the silhouette score over :math:`2..\text{max\_clusters}`,
computed on a weighted resample of at most 2,000 points; if even the best
score is below ``min_silhouette`` (0.42), the samples are taken as one
cluster.  Measured on 5,000 samples: unimodal targets score at most 0.33
(a Gaussian in 2-D; 0.13 in 5-D) and 0.38 (a banana) for every :math:`K`;
two moons 0.48, two concentric rings 0.45, eight Gaussians on a circle 0.81
and three separated 5-D blobs 0.82.

Tiny clusters.  A cluster whose Kish effective sample size is below
``min_cluster_size`` cannot train a flow.  k-means clusters that small are
merged into the cluster with the nearest centre (logged as a warning);
user-given ``labels`` that small are refused with a
:class:`~flowprior.errors.TrainingDataError`.

Soft boundaries.  k-means cuts along straight lines.  Where a cut crosses a
connected region (the crescents of two moons), each cluster's flow must
learn a hard edge, which a smooth flow cannot; the mixture then leaks mass
across the cut.  ``refine`` expectation-maximisation steps fix this: each
sample gets the responsibilities

.. math::

    r_{ik} = \frac{w_k q_k(\theta_i)}{\sum_j w_j q_j(\theta_i)},

every flow :math:`k` is retrained on all samples with weights
:math:`w_i r_{ik}` (rows with :math:`r_{ik} < 10^{-3}` dropped) and
:math:`w_k = \sum_i w_i r_{ik} / \sum_i w_i`.  This is the mixture's
maximum-likelihood fit started from the hard clusters.  Refinement stops
early when less than 1% of the sample weight has a responsibility between
0.01 and 0.99 (separated modes: nothing to share, and no retraining).
Measured on two moons (benchmark seed 1): KL(target || flow) 0.254 with
hard clusters and 0.128 with two steps, against 0.144 for a single MAF of
equal size; on two rings cut into eight sectors, 0.375 / 0.125 / 0.106
became 0.145 / 0.097 / 0.090 (three seeds).
"""

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _registry
from ._options import check_backend, training_options
from .data import effective_sample_size, prepare
from .errors import TrainingDataError
from .flow import MAF
from ._normal import ndtri_clipped
from .repartition import Mixture

__all__ = ["PiecewiseMAF", "cluster"]

logger = logging.getLogger(__name__)


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
        Largest K tried.
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
            raise ValueError(f"expected n_clusters >= 1; got {n_clusters}")
        k = int(n_clusters)
        labels = np.zeros(len(z), int) if k == 1 else _kmeans(z, weights, k, km_seed)[0]
    else:
        if int(max_clusters) < 2:
            raise ValueError(f"expected max_clusters >= 2; got {max_clusters}")
        rng = np.random.default_rng(seeds[1])
        pick = rng.choice(len(z), size=min(2000, len(z)), p=weights / weights.sum())
        best = (-np.inf, np.zeros(len(z), int))
        for k in range(2, int(max_clusters) + 1):
            if k >= len(np.unique(pick)):
                break
            labels_k = _kmeans(z, weights, k, km_seed)[0]
            if len(np.unique(labels_k[pick])) < 2:
                continue
            scores[k] = float(silhouette_score(z[pick], labels_k[pick]))
            if scores[k] > best[0]:
                best = (scores[k], labels_k)
        labels = best[1] if best[0] >= min_silhouette else np.zeros(len(z), int)
        logger.info("silhouette scores %s; using %d cluster(s)", scores, len(np.unique(labels)))
    labels = _merge_small(z, weights, labels, min_cluster_size)
    return np.unique(labels, return_inverse=True)[1], scores


def _train_cluster(x, weights, options, seed):
    from .training import train_maf

    return train_maf(x, weights, options=options, seed=seed)


def _train_cluster_in_child(job):
    """Train one cluster in a fresh interpreter (see :mod:`flowprior._train_worker`)."""
    from . import _train_worker

    proc = subprocess.run([sys.executable, "-m", "flowprior._train_worker"],
                          input=_train_worker.encode_job(*job), capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"expected the training process to succeed; got exit code {proc.returncode}: "
                           + " | ".join(tail))
    return _train_worker.decode_result(proc.stdout)


def _train_mixture(cls, x, data, resp, options, seed, n_jobs, backend):
    """Train one flow per column of ``resp`` on weights ``w_i r_ik``; the mixture and histories."""
    k = resp.shape[1]
    train_seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(k)]
    jobs = []
    for j in range(k):
        # Rows a cluster barely owns cost training time and teach it nothing.
        rows = resp[:, j] >= 1e-3
        jobs.append((x[rows], data.weights[rows] * resp[rows, j], options, train_seeds[j]))
    if n_jobs == 1 or k == 1:
        trained = [_train_cluster(*job) for job in jobs]
    else:
        # Fresh interpreters, not fork (a forked child of a process that
        # has started TensorFlow's thread pools can deadlock) and not
        # multiprocessing's spawn (which re-imports the user's script).
        with ThreadPoolExecutor(max_workers=min(n_jobs, k)) as pool:
            trained = list(pool.map(_train_cluster_in_child, jobs))
    flows = [MAF(**w, activation=options.activation, prior=data.prior, params=data.params,
                 history=h, backend=backend) for w, h in trained]
    share = (data.weights[:, None] * resp).sum(axis=0)
    return cls(flows, share), trained


def _default_jobs(n_clusters):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # Measured on 2 cores (eight Gaussians, K = 8): 54 s sequential, 65 s with
    # two processes.  TensorFlow already spreads one training over both cores,
    # and every child pays ~6 s to import TensorFlow and compile; so processes
    # only by default when there are cores to spare.
    if cores <= 2:
        return 1
    return max(1, min(n_clusters, cores))


@_registry.register
class PiecewiseMAF(Mixture):
    r"""A mixture of MAFs, one per cluster of the samples (see module docs).

    Answers the prior protocol: ``prior_transform`` (exact and
    deterministic), ``log_prob``, ``sample``, ``save``/:func:`flowprior.load`.
    There is no ``inverse_prior_transform``: a mixture maps several cube
    points to each :math:`\theta`.

    Parameters
    ----------
    flows : sequence of MAF
        On the same base prior and params.
    weights : array_like
        Mixture weights (normalised here).

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(-2, 0.3, (3000, 2)), rng.normal(2, 0.3, (1000, 2))]
    >>> flow = fp.PiecewiseMAF.fit(x, prior=fp.UniformPrior([-5, -5], [5, 5]), seed=0)  # doctest: +SKIP
    >>> flow.weights                                                                   # doctest: +SKIP
    array([0.75, 0.25])
    """

    def __init__(self, flows, weights):
        flows = list(flows)
        if not flows or not all(isinstance(f, MAF) for f in flows):
            raise TypeError("expected a non-empty sequence of MAF flows")
        super().__init__(flows, weights)
        self.prior = flows[0].prior

    @property
    def flows(self):
        return self.components

    @property
    def n_clusters(self):
        return len(self.components)

    @classmethod
    def fit(cls, samples, weights=None, *, prior=None, params=None, n_clusters=None, labels=None,
            max_clusters=8, min_silhouette=0.42, min_cluster_size=200, seed=None, n_jobs=None,
            refine=None, backend="auto", **options):
        """Cluster the samples, train a flow per cluster, return the mixture.

        Parameters
        ----------
        samples, weights, prior, params
            As for :meth:`flowprior.MAF.fit`.
        n_clusters : int, optional
            Fix the number of k-means clusters instead of choosing it.
        labels : array_like of int, shape ``(n,)``, optional
            Your own clustering, one label per input row (instead of k-means).
        max_clusters, min_silhouette, min_cluster_size
            See :func:`cluster`.
        seed : int, optional
            Makes clustering and training repeatable.
        n_jobs : int, optional
            Processes training clusters at once.  By default one per cluster
            up to the usable cores when there are more than two, otherwise
            one (sequential); see the module docs.  Each parallel job runs in
            a fresh Python process (no ``if __name__ == "__main__":`` guard
            needed).
        refine : int, optional
            At most this many expectation-maximisation steps after the hard
            clustering (module docs); 0 keeps the clusters hard.  Each step
            retrains every flow, unless the clusters share (almost) no
            samples.  Default 2 for k-means clusters and 0 for your
            ``labels``, which are kept as given.
        backend : {"auto", "numba", "numpy"}
            Evaluation kernel of the cluster flows.
        **options
            Training options of each cluster's flow, as for :meth:`flowprior.MAF.fit`
            (:class:`flowprior.TrainingOptions`); unknown names raise before any work.

        Returns
        -------
        PiecewiseMAF
            ``flow.labels`` holds the cluster of each training row kept (the
            largest responsibility after refinement) and ``flow.fit_info``
            the silhouette scores, the number of clusters found before tiny
            ones were merged (``n_clusters_found``), the shared weight
            fraction before each refinement step and the training wall times.
        """
        if n_clusters is not None and labels is not None:
            raise ValueError("expected n_clusters or labels; got both")
        options = training_options(options)
        check_backend(backend)
        data = prepare(samples, weights, prior=prior, params=params)
        seeds = np.random.SeedSequence(seed).generate_state(2)
        scores = {}
        user_labels = labels is not None
        if user_labels:
            labels = np.asarray(labels)
            n_rows = len(samples)
            if labels.shape != (n_rows,):
                raise TrainingDataError(f"expected labels of shape ({n_rows},); got shape {labels.shape}")
            labels = np.unique(labels[data.rows], return_inverse=True)[1]
            for j in range(labels.max() + 1):
                ess = effective_sample_size(data.weights[labels == j])
                if ess < min_cluster_size:
                    raise TrainingDataError(
                        f"expected at least min_cluster_size={min_cluster_size} effective samples in "
                        f"every labelled cluster; got {ess:.0f} in cluster {j} (merge it or lower "
                        "min_cluster_size)"
                    )
        else:
            labels, scores = cluster(data.theta, data.weights, n_clusters=n_clusters,
                                     max_clusters=max_clusters, min_silhouette=min_silhouette,
                                     min_cluster_size=min_cluster_size, seed=int(seeds[0]))
        k = int(labels.max()) + 1
        # Clusters k-means found before tiny ones were merged: more than k
        # means separated modes share one flow, which then bridges them.
        if n_clusters is not None:
            found = int(n_clusters)
        elif scores and max(scores.values()) >= min_silhouette:
            found = max(scores, key=scores.get)
        else:
            found = k
        if refine is None:
            refine = 0 if user_labels else 2
        if int(refine) < 0:
            raise ValueError(f"expected refine >= 0; got {refine}")
        n_jobs = _default_jobs(k) if n_jobs is None else int(n_jobs)
        if n_jobs < 1:
            raise ValueError(f"expected n_jobs >= 1; got {n_jobs}")
        x = ndtri_clipped(data.prior._inverse_prior_transform(data.theta))
        step_seeds = np.random.SeedSequence(int(seeds[1])).generate_state(int(refine) + 1)
        resp = np.eye(k)[labels]
        start = time.perf_counter()
        obj, trained = _train_mixture(cls, x, data, resp, options, int(step_seeds[0]), n_jobs, backend)
        wall_times = [h["wall_time"] for _, h in trained]
        shared = []
        for step in range(int(refine)):
            resp = obj.responsibilities(data.theta)
            top = resp.max(axis=1)
            shared.append(float(data.weights[(top > 0.01) & (top < 0.99)].sum() / data.weights.sum()))
            if shared[-1] < 0.01:
                break
            obj, trained = _train_mixture(cls, x, data, resp, options, int(step_seeds[step + 1]), n_jobs, backend)
            wall_times += [h["wall_time"] for _, h in trained]
        else:
            if refine:
                resp = obj.responsibilities(data.theta)
        wall = time.perf_counter() - start
        obj.labels = np.argmax(resp, axis=1)
        obj.fit_info = {"silhouette": scores, "n_clusters_found": found, "n_jobs": min(n_jobs, k), "wall_time": wall,
                        "shared_fraction": shared, "cluster_wall_times": wall_times}
        logger.info("trained %d cluster flow(s) in %.1f s with %d process(es), %d refinement step(s)",
                    k, wall, min(n_jobs, k), sum(f >= 0.01 for f in shared))
        return obj

    @property
    def n_parameters(self):
        """Trainable parameters of all the cluster flows together."""
        return sum(f.n_parameters for f in self.flows)

    def widened(self, scale):
        """The same mixture with every cluster flow's base widened by ``scale`` (:meth:`MAF.widened`)."""
        return type(self)([f.widened(scale) for f in self.flows], self.weights)

    def with_backend(self, backend):
        """The same mixture with every flow evaluated by ``backend``."""
        return type(self)([f.with_backend(backend) for f in self.flows], self.weights)

    @property
    def backend(self):
        return self.flows[0].backend

    def save(self, path):
        """Write to ``path`` atomically (see :mod:`flowprior.io`)."""
        from .io import save

        save(self, path)

    def __repr__(self):
        return (f"PiecewiseMAF(n_clusters={self.n_clusters}, weights={np.round(self.weights, 4).tolist()}, "
                f"params={list(self.params)}, prior={self.prior!r})")
