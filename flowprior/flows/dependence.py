r"""Which parameters depend on which: the groups a :class:`~flowprior.BlockFlow` trains apart.

Each parameter is Gaussianised by its weighted ranks, :math:`z_i = \Phi^{-1}(\hat F_i(\theta_i))`,
so that only the dependence between parameters is left (their copula).  For a pair
:math:`(i, j)` the features :math:`(z, (z^2 - 1)/\sqrt2)` of each, which see linear and
quadratic dependence (a banana's :math:`\theta_j \approx \theta_i^2` has no linear correlation
at all), have weighted canonical correlations :math:`\rho_1, \rho_2`, and

.. math::

    \hat I_{ij} = -\tfrac12 \sum_k \log(1 - \rho_k^2)

is the mutual information of the Gaussian with those correlations, a lower bound on the
pair's mutual information for the dependence the features see.  Under independence,
:math:`2 n_\mathrm{eff} \hat I_{ij}` is :math:`\chi^2` with 4 degrees of freedom (Bartlett 1938).

Two parameters are linked when :math:`\hat I_{ij}` exceeds ``threshold`` (0.01 nats by
default) *and* the :math:`\chi^2_4` quantile at :math:`10^{-3}` over the number of pairs
divided by :math:`2 n_\mathrm{eff}` (so that noise alone links no pair, whatever the sample
size); the groups are the connected components of the links.  Treating two groups as
independent costs exactly their mutual information in :math:`\mathcal{D}_\mathrm{KL}` from the
target, so the threshold bounds what a missed weak link can cost, per pair.  Dependence that
neither feature sees (a ring, say) is missed: give such groups by hand.
"""

import numpy as np
from scipy.special import ndtri
from scipy.stats import chi2

__all__ = ["pairwise_dependence", "find_blocks", "DEPENDENCE_THRESHOLD", "FALSE_LINK_PROBABILITY"]

#: Mutual information (nats) above which two parameters are trained together.
DEPENDENCE_THRESHOLD = 0.01
#: Probability that independent parameters get linked by chance, over all pairs.
FALSE_LINK_PROBABILITY = 1e-3


def _normal_scores(x, w):
    """Each column mapped through its weighted empirical CDF (mid-ranks) and Phi^-1."""
    z = np.empty_like(x)
    p = w / w.sum()
    for i in range(x.shape[1]):
        order = np.argsort(x[:, i], kind="stable")
        cdf = np.cumsum(p[order]) - 0.5 * p[order]
        z[order, i] = ndtri(np.clip(cdf, 1e-12, 1 - 1e-12))
    return z


def pairwise_dependence(x, weights):
    r"""Estimated mutual information :math:`\hat I_{ij}` of every pair of columns (see module docs).

    Parameters
    ----------
    x : ndarray, shape ``(n, d)``
    weights : ndarray, shape ``(n,)``

    Returns
    -------
    ndarray, shape ``(d, d)``
        Symmetric, zero on the diagonal.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    z = _normal_scores(x, w)
    p = w / w.sum()
    feats = np.stack([z, (z * z - 1.0) / np.sqrt(2.0)], axis=2)  # (n, d, 2)
    feats = feats - np.einsum("n,ndk->dk", p, feats)[None]
    cov = np.einsum("n,nik,njl->ijkl", p, feats, feats)  # (d, d, 2, 2)
    d = x.shape[1]
    out = np.zeros((d, d))
    for i in range(d):
        for j in range(i + 1, d):
            a, b, c = cov[i, i], cov[j, j], cov[i, j]
            # Squared canonical correlations: eigenvalues of A^-1 C B^-1 C^T.
            m = np.linalg.solve(a, c) @ np.linalg.solve(b, c.T)
            rho2 = np.clip(np.real(np.linalg.eigvals(m)), 0.0, 1.0 - 1e-12)
            out[i, j] = out[j, i] = -0.5 * float(np.sum(np.log1p(-rho2)))
    return out


def link_threshold(n_eff, ndims, threshold=DEPENDENCE_THRESHOLD):
    """The mutual information above which a pair is linked: ``threshold`` or the noise level, the larger."""
    pairs = max(ndims * (ndims - 1) // 2, 1)
    noise = chi2.isf(FALSE_LINK_PROBABILITY / pairs, df=4) / (2.0 * n_eff)
    return max(float(threshold), float(noise))


def find_blocks(x, weights, *, threshold=DEPENDENCE_THRESHOLD, n_eff=None, must_link=None):
    """Groups of columns of ``x`` that depend on one another (connected components of the links).

    Parameters
    ----------
    x : ndarray, shape ``(n, d)``
    weights : ndarray, shape ``(n,)``
    threshold : float
        Mutual information in nats (see module docs).
    n_eff : float, optional
        Effective sample size; Kish's from the weights by default.
    must_link : ndarray of bool, shape ``(d, d)``, optional
        Pairs to keep together whatever the samples say (a base prior that couples them).

    Returns
    -------
    blocks : list of list of int
        Sorted by their first column; each sorted.
    mi : ndarray, shape ``(d, d)``
        The estimates :math:`\\hat I_{ij}`.
    limit : float
        The mutual information above which pairs were linked.
    """
    w = np.asarray(weights, dtype=np.float64)
    if n_eff is None:
        n_eff = w.sum() ** 2 / np.sum(w**2)
    d = x.shape[1]
    mi = pairwise_dependence(x, w)
    limit = link_threshold(n_eff, d, threshold)
    linked = mi > limit
    if must_link is not None:
        linked |= np.asarray(must_link, dtype=bool)
    parent = list(range(d))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(d):
        for j in range(i + 1, d):
            if linked[i, j]:
                parent[root(i)] = root(j)
    groups = {}
    for i in range(d):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values()), mi, limit
