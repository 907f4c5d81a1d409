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
score is below ``min_silhouette`` (0.42, between the scores of unimodal and
multimodal targets measured in ``docs/piecewise.rst``), the samples are taken as one
cluster.

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
``docs/piecewise.rst`` gives what it gains.

References
----------
H. T. J. Bevins, W. J. Handley and T. Gessey-Jones (2023), "Piecewise normalizing flows",
arXiv:2305.02930.
"""

import logging
import time

import numpy as np

from .. import _registry
from ..errors import FlowpriorTypeError, FlowpriorValueError, TrainingDataError
from ..kernels.normal import ndtri_clipped
from ..priors.mixture import Mixture
from ..training.options import check_backend, training_options
from .data import effective_sample_size, prepare
from .maf import MAF

__all__ = ["PiecewiseMAF"]

logger = logging.getLogger(__name__)


def _rebuild(dumped, backend):
    return _registry.build(*dumped).with_backend(backend)


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
    labels : array_like of int, optional
        The cluster of each training row (what :meth:`fit` found); saved with the flow.
    fit_info : dict, optional
        What :meth:`fit` measured (silhouette scores, clusters found, wall times); saved with the flow.

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(-2, 0.3, (3000, 2)), rng.normal(2, 0.3, (1000, 2))]
    >>> flow = fp.PiecewiseMAF.fit(x, prior=fp.UniformPrior([-5, -5], [5, 5]), seed=0)  # doctest: +SKIP
    >>> flow.weights                                                                   # doctest: +SKIP
    array([0.75, 0.25])
    """

    def __init__(self, flows, weights, *, labels=None, fit_info=None):
        flows = list(flows)
        if not flows or not all(isinstance(f, MAF) for f in flows):
            raise FlowpriorTypeError("expected a non-empty sequence of MAF flows")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.fit_info = fit_info
        super().__init__(flows, weights)
        self.prior = flows[0].prior

    @property
    def flows(self):
        """The cluster flows (the mixture's components)."""
        return self.components

    @property
    def n_clusters(self):
        """Number of cluster flows."""
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
            See :func:`~flowprior.training.clustering.cluster`.
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
        from ..training.clustering import cluster
        from ..training.piecewise import default_jobs

        if n_clusters is not None and labels is not None:
            raise FlowpriorValueError("expected n_clusters or labels; got both")
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
            raise FlowpriorValueError(f"expected refine >= 0; got {refine}")
        n_jobs = default_jobs(k) if n_jobs is None else int(n_jobs)
        if n_jobs < 1:
            raise FlowpriorValueError(f"expected n_jobs >= 1; got {n_jobs}")
        x = ndtri_clipped(data.prior._inverse_prior_transform(data.theta))
        step_seeds = np.random.SeedSequence(int(seeds[1])).generate_state(int(refine) + 1)
        resp = np.eye(k)[labels]
        start = time.perf_counter()
        obj, trained = cls._trained(x, data, resp, options, int(step_seeds[0]), n_jobs, backend)
        wall_times = [h["wall_time"] for _, h in trained]
        shared = []
        for step in range(int(refine)):
            resp = obj.responsibilities(data.theta)
            top = resp.max(axis=1)
            shared.append(float(data.weights[(top > 0.01) & (top < 0.99)].sum() / data.weights.sum()))
            if shared[-1] < 0.01:
                break
            obj, trained = cls._trained(x, data, resp, options, int(step_seeds[step + 1]), n_jobs, backend)
            wall_times += [h["wall_time"] for _, h in trained]
        else:
            if refine:
                resp = obj.responsibilities(data.theta)
        wall = time.perf_counter() - start
        obj.labels = np.argmax(resp, axis=1)
        obj.fit_info = {"silhouette": scores, "n_clusters_found": int(found), "n_jobs": min(n_jobs, k),
                        "wall_time": wall, "shared_fraction": shared, "cluster_wall_times": wall_times}
        logger.info("trained %d cluster flow(s) in %.1f s with %d process(es), %d refinement step(s)",
                    k, wall, min(n_jobs, k), sum(f >= 0.01 for f in shared))
        return obj

    @classmethod
    def _trained(cls, x, data, resp, options, seed, n_jobs, backend):
        """The mixture of one flow per column of ``resp`` (weights ``w_i r_ik``), and their training results."""
        from ..training.piecewise import train_mixture

        trained = train_mixture(x, data.weights, resp, options, seed, n_jobs)
        flows = [MAF(**w, activation=options.activation, prior=data.prior, params=data.params, history=h,
                     backend=backend) for w, h in trained]
        return cls(flows, (data.weights[:, None] * resp).sum(axis=0)), trained

    @property
    def n_parameters(self):
        """Trainable parameters of all the cluster flows together."""
        return sum(f.n_parameters for f in self.flows)

    def widened(self, scale):
        """The same mixture with every cluster flow's base widened by ``scale`` (:meth:`MAF.widened`).

        Parameters
        ----------
        scale : float
        """
        return type(self)([f.widened(scale) for f in self.flows], self.weights, labels=self.labels,
                          fit_info=self.fit_info)

    def with_backend(self, backend):
        """The same mixture with every flow evaluated by ``backend``.

        Parameters
        ----------
        backend : {"auto", "numba", "numpy"}
        """
        return type(self)([f.with_backend(backend) for f in self.flows], self.weights, labels=self.labels,
                          fit_info=self.fit_info)

    def _state(self):
        config, arrays = super()._state()
        if self.labels is not None:
            arrays["labels"] = self.labels
        if self.fit_info is not None:
            # JSON keys are strings: the silhouette scores' cluster counts come back as ints in _from_state.
            config["fit_info"] = {**self.fit_info, "silhouette": {str(k): v for k, v in
                                                                  self.fit_info.get("silhouette", {}).items()}}
        return config, arrays

    @classmethod
    def _from_state(cls, config, arrays):
        mixture = Mixture._from_state(config, arrays)
        fit_info = config.get("fit_info")
        if fit_info is not None:
            fit_info = {**fit_info, "silhouette": {int(k): v for k, v in fit_info.get("silhouette", {}).items()}}
        return cls(mixture.components, mixture.weights, labels=arrays.get("labels"), fit_info=fit_info)

    def __reduce__(self):
        # Pickle as the file holds it, and keep the evaluation backend chosen (a process pool gets the same).
        return (_rebuild, (_registry.dump(self), self.backend))

    @property
    def backend(self):
        """The cluster flows' evaluation kernel."""
        return self.flows[0].backend

    def __repr__(self):
        return (f"PiecewiseMAF(n_clusters={self.n_clusters}, weights={np.round(self.weights, 4).tolist()}, "
                f"params={list(self.params)}, prior={self.prior!r})")
