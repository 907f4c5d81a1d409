r"""The project's own test problems with analytic evidence, for the demo, the tests and the benchmarks.

Each problem's likelihood is a normalised density :math:`f` lying well
inside the uniform box :math:`[-h, h]^d`, so

.. math::

    Z = \int f(\theta)\,\pi(\theta)\,d\theta = (2h)^{-d}, \qquad
    \log Z = -d \log(2h),

up to the mass of :math:`f` outside the box (below :math:`10^{-30}` here),
and the posterior is :math:`f` itself, which can be sampled directly.

* :class:`GaussianProblem`: a correlated Gaussian (correlations drawn from a
  seed, standard deviations 0.1).
* :class:`BananaProblem`: a volume-preserving twist of a Gaussian,
  :math:`y_1 = x_1,\ y_k = x_k - b(x_1^2 - 0.01)`: unit Jacobian, so the
  twisted density still integrates to one.
* :class:`MixtureProblem`: Gaussians with given means, covariances and
  weights; :class:`BimodalProblem` is two of them with unequal weights,
  centred at :math:`\mp 1` in every coordinate.
* :class:`BlockProblem`: independent groups of parameters, a curved core and nuisance
  pairs, triples and singles (some unconstrained).
* :class:`MoreDataPair`: a fast likelihood A and a slow B that adds data to it, for
  reweighting; both evidences and B's posterior are analytic.
* :class:`LinearGaussianPair`: two experiments sharing core parameters, each
  with correlated nuisance parameters; the evidences of each and of the
  joint analysis, and the joint posterior, are analytic.
"""

import numpy as np
from scipy.stats import multivariate_normal

from ..errors import FlowpriorValueError
from ..priors.simple import UniformPrior

__all__ = ["GaussianProblem", "BananaProblem", "MixtureProblem", "BimodalProblem", "BlockProblem", "LinearGaussianPair",
           "MoreDataPair", "NAMES"]


def _correlation_cov(ndims, seed, sd=0.1):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(ndims, ndims))
    c = a @ a.T + ndims * np.eye(ndims)
    s = np.sqrt(np.diag(c))
    return sd**2 * c / np.outer(s, s)


class _Problem:
    def __init__(self, ndims, half_width):
        self.ndims = int(ndims)
        self.half_width = float(half_width)
        self.prior = UniformPrior(np.full(self.ndims, -self.half_width), np.full(self.ndims, self.half_width))
        self.logZ = -self.ndims * np.log(2 * self.half_width)

    def __call__(self, theta):
        return self.loglikelihood(theta)

    def __repr__(self):
        return f"{type(self).__name__}(ndims={self.ndims}, logZ={self.logZ:.4f})"


class GaussianProblem(_Problem):
    """Correlated Gaussian likelihood in a uniform box (see module docs)."""

    def __init__(self, ndims, *, half_width=10.0):
        super().__init__(ndims, half_width)
        self.mean = np.linspace(-0.5, 0.5, self.ndims)
        self.cov = _correlation_cov(self.ndims, self.ndims)
        self._mvn = multivariate_normal(self.mean, self.cov)

    def loglikelihood(self, theta):
        return float(self._mvn.logpdf(theta))

    def posterior_sample(self, n, seed=None):
        return np.random.default_rng(seed).multivariate_normal(self.mean, self.cov, size=int(n))


class BananaProblem(_Problem):
    """Twisted ("banana") Gaussian with unit Jacobian (see module docs)."""

    def __init__(self, ndims, *, b=3.0, half_width=10.0):
        super().__init__(ndims, half_width)
        self.b = float(b)
        self._cov = _correlation_cov(self.ndims, 100 + self.ndims)
        self._mvn = multivariate_normal(np.zeros(self.ndims), self._cov)

    def loglikelihood(self, theta):
        y = np.array(theta, dtype=np.float64)
        y[1:] -= self.b * (y[0] ** 2 - 0.01)
        return float(self._mvn.logpdf(y))

    def posterior_sample(self, n, seed=None):
        x = np.random.default_rng(seed).multivariate_normal(np.zeros(self.ndims), self._cov, size=int(n))
        x[:, 1:] += self.b * (x[:, :1] ** 2 - 0.01)
        return x


class MixtureProblem(_Problem):
    r"""A mixture of correlated Gaussians with weights :math:`w_k` (see module docs).

    .. math::

        \mathcal{L}(\theta) = \sum_k w_k\, \mathcal{N}(\theta;\, \mu_k, \Sigma_k),

    normalised, so :math:`Z = (2h)^{-d}` as for every problem here; the
    posterior mass of mode :math:`k` is :math:`w_k`.

    Parameters
    ----------
    means : array_like, shape ``(K, ndims)``
    covs : array_like, shape ``(K, ndims, ndims)``
    weights : array_like, shape ``(K,)``
        Normalised here.
    half_width : float
    """

    def __init__(self, means, covs, weights, *, half_width=10.0):
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        super().__init__(means.shape[1], half_width)
        w = np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.means = list(means)
        self.covs = [np.asarray(c, dtype=np.float64) for c in covs]
        if not len(self.means) == len(self.covs) == len(self.weights):
            raise FlowpriorValueError(f"expected as many means, covs and weights; got {len(self.means)}, "
                             f"{len(self.covs)} and {len(self.weights)}")
        self._mvns = [multivariate_normal(m, c) for m, c in zip(self.means, self.covs)]
        self._log_w = np.log(self.weights)

    def mode_log_densities(self, theta):
        """``log w_k + log N_k(theta)``, shape ``(n, K)``: which mode a point belongs to."""
        t = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        return np.column_stack([lw + m.logpdf(t) for lw, m in zip(self._log_w, self._mvns)])

    def loglikelihood(self, theta):
        return float(np.logaddexp.reduce(self.mode_log_densities(theta)[0]))

    def posterior_sample(self, n, seed=None):
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.weights), size=int(n), p=self.weights)
        out = np.empty((int(n), self.ndims))
        for j, (m, c) in enumerate(zip(self.means, self.covs)):
            rows = k == j
            out[rows] = rng.multivariate_normal(m, c, size=int(rows.sum()))
        return out


class BimodalProblem(MixtureProblem):
    """Two Gaussians centred at -1 and +1 in every coordinate, with weights ``weights``."""

    def __init__(self, ndims, *, weights=(0.7, 0.3), half_width=10.0):
        ndims = int(ndims)
        super().__init__([np.full(ndims, -1.0), np.full(ndims, 1.0)],
                         [_correlation_cov(ndims, 200 + ndims), _correlation_cov(ndims, 300 + ndims)],
                         weights, half_width=half_width)


def _unequal(ndims):
    # The 25 % mode is 0.7 times as wide: 17 % of the prior volume where the modes part, so stage 1 at
    # nlive 50 holds only a few live points in it and loses it on some seeds.
    return MixtureProblem([np.full(ndims, -1.0), np.full(ndims, 1.0)],
                          [_correlation_cov(ndims, 205), 0.49 * _correlation_cov(ndims, 305)], [0.75, 0.25])


def _trimodal(ndims):
    third = np.where(np.arange(ndims) % 2 == 0, 1.0, -1.0)
    return MixtureProblem([np.full(ndims, -1.0), np.full(ndims, 1.0), third],
                          [_correlation_cov(ndims, 400 + k) for k in range(3)], [0.6, 0.3, 0.1])


#: The project's own families for :func:`flowprior.problems.named`, ``name-d`` with ``d`` the dimension.
NAMES = {
    "gauss": GaussianProblem,
    "banana": BananaProblem,
    "bimodal": BimodalProblem,
    "unequal": _unequal,
    "trimodal": _trimodal,
    "pair": lambda d: BimodalProblem(d, weights=(0.75, 0.25)),
}


class BlockProblem(_Problem):
    r"""Independent groups of parameters: a curved core and nuisance parameters, as in a joint analysis.

    The likelihood is a normalised density that is a product over groups, in the box
    :math:`[-h, h]^d` (so :math:`Z = (2h)^{-d}` and the posterior is the density itself):

    * a ``core`` of 6 parameters, a banana: :math:`x \sim \mathcal{N}(0, \mathrm{diag}(s^2))` with
      :math:`s` from 0.3 to 0.06, and :math:`	heta_1 = x_1`,
      :math:`	heta_k = x_k + (x_1^2 - s_1^2)/s_1` (the shape of a unit-curvature banana of widths 1
      to 0.2, scaled by 0.3);
    * nuisance pairs and triples, correlated Gaussians (equal correlation ``rho`` within a group);
    * single nuisance parameters, Gaussian or unconstrained (uniform over the box, as in the prior).

    Parameters
    ----------
    pairs, triples : sequence of float
        The correlation within each nuisance pair and triple.
    gaussian_singles, flat_singles : int
        How many single nuisance parameters are Gaussian (widths from 0.2 to 1) and how many are
        left unconstrained.
    half_width : float

    Attributes
    ----------
    blocks : list of list of int
        The true groups, by column.
    """

    def __init__(self, *, pairs=(0.8, 0.5), triples=(0.6, 0.3), gaussian_singles=4, flat_singles=4,
                 core=6, half_width=10.0):
        self.core_scales = np.linspace(1.0, 0.2, int(core)) * 0.3
        sizes = [int(core)] + [2] * len(pairs) + [3] * len(triples) + [1] * (int(gaussian_singles) + int(flat_singles))
        super().__init__(sum(sizes), half_width)
        edges = np.cumsum([0] + sizes)
        self.blocks = [list(range(a, b)) for a, b in zip(edges[:-1], edges[1:])]
        rng = np.random.default_rng(7)
        self._gaussians = []  # (columns, mean, cov) of every Gaussian group
        for group, rho in zip(self.blocks[1:], list(pairs) + list(triples)):
            k = len(group)
            sd = rng.uniform(0.1, 0.5, k)
            corr = np.full((k, k), float(rho)) + (1.0 - float(rho)) * np.eye(k)
            self._gaussians.append((group, rng.uniform(-1, 1, k), corr * np.outer(sd, sd)))
        singles = self.blocks[1 + len(pairs) + len(triples):]
        for group, sd in zip(singles[:int(gaussian_singles)], np.linspace(0.2, 1.0, int(gaussian_singles))):
            self._gaussians.append((group, rng.uniform(-1, 1, 1), np.array([[sd**2]])))
        self.flat = [g[0] for g in singles[int(gaussian_singles):]]
        self._mvns = [(g, multivariate_normal(m, c)) for g, m, c in self._gaussians]

    def log_density(self, theta):
        """The posterior's log-density (= log-likelihood) of every row of ``theta``, shape ``(n,)``."""
        t = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        s = self.core_scales
        x = t[:, :len(s)].copy()
        x[:, 1:] -= (x[:, :1] ** 2 - s[0] ** 2) / s[0]
        out = np.sum(-0.5 * (x / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi), axis=1)
        for g, mvn in self._mvns:
            out = out + np.atleast_1d(mvn.logpdf(t[:, g]))
        return out - len(self.flat) * np.log(2 * self.half_width)

    def loglikelihood(self, theta):
        return float(self.log_density(theta)[0])

    def posterior_sample(self, n, seed=None):
        rng = np.random.default_rng(seed)
        n = int(n)
        s = self.core_scales
        out = np.empty((n, self.ndims))
        x = rng.normal(size=(n, len(s))) * s
        x[:, 1:] += (x[:, :1] ** 2 - s[0] ** 2) / s[0]
        out[:, :len(s)] = x
        for g, m, c in self._gaussians:
            out[:, g] = rng.multivariate_normal(m, c, size=n)
        out[:, self.flat] = rng.uniform(-self.half_width, self.half_width, size=(n, len(self.flat)))
        return out


class MoreDataPair(_Problem):
    r"""A fast likelihood A and a slow likelihood B = A times more data, both Gaussian in a box.

    :math:`\mathcal{L}_A = \mathcal{N}(\theta; \mu_A, \Sigma_A)` and
    :math:`\mathcal{L}_B = \mathcal{L}_A\, \mathcal{N}(\theta; \mu_D, \Sigma_D)`, with
    :math:`\Sigma_D = \Sigma_A / (r^{-2} - 1)` so that B's posterior is :math:`r` times narrower
    than A's, and :math:`\mu_D` chosen to put B's mean ``shift`` of A's standard deviations from A's.
    The product of Gaussians gives

    .. math::

        \mathcal{L}_B = \mathcal{N}(\mu_A; \mu_D, \Sigma_A + \Sigma_D)\,
        \mathcal{N}(\theta; \mu_B, \Sigma_B), \qquad
        \Sigma_B = (\Sigma_A^{-1} + \Sigma_D^{-1})^{-1} = r^2 \Sigma_A,

    so :math:`Z_A = (2h)^{-d}` and :math:`\log Z_B = \log Z_A + \log\mathcal{N}(\mu_A; \mu_D,
    \Sigma_A + \Sigma_D)` (Gaussians well inside the box).
    """

    def __init__(self, ndims, *, ratio=0.7, shift=0.5, half_width=10.0):
        super().__init__(ndims, half_width)
        if not 0.0 < ratio < 1.0:
            raise FlowpriorValueError(f"expected 0 < ratio < 1; got {ratio}")
        self.mean_A = np.linspace(-0.5, 0.5, self.ndims)
        self.cov_A = _correlation_cov(self.ndims, 50 + self.ndims, sd=0.2)
        self.cov_D = self.cov_A / (ratio**-2 - 1.0)
        self.cov_B = ratio**2 * self.cov_A
        # mu_B = Sigma_B (Sigma_A^-1 mu_A + Sigma_D^-1 mu_D): put mu_B at mu_A + shift * sd_A along every axis.
        self.mean_B = self.mean_A + shift * np.sqrt(np.diag(self.cov_A))
        self.mean_D = self.cov_D @ (np.linalg.solve(self.cov_B, self.mean_B) - np.linalg.solve(self.cov_A, self.mean_A))
        self._A = multivariate_normal(self.mean_A, self.cov_A)
        self._D = multivariate_normal(self.mean_D, self.cov_D)
        self.logZ_A = self.logZ
        self.logZ_B = self.logZ + float(multivariate_normal(self.mean_D, self.cov_A + self.cov_D).logpdf(self.mean_A))

    def loglikelihood_A(self, theta):
        return float(self._A.logpdf(theta))

    def loglikelihood_B(self, theta):
        return float(self._A.logpdf(theta) + self._D.logpdf(theta))

    def posterior_sample_A(self, n, seed=None):
        return np.random.default_rng(seed).multivariate_normal(self.mean_A, self.cov_A, size=int(n))


class LinearGaussianPair:
    r"""Two experiments sharing core parameters, each with its own nuisance parameters.

    Experiment :math:`X \in \{A, B\}` has the likelihood
    :math:`\mathcal{L}_X(\theta, \alpha_X) = \mathcal{N}([\theta, \alpha_X];\, \mu_X, \Sigma_X)`,
    a normalised Gaussian whose nuisance parameters correlate with
    :math:`\theta`, under uniform priors on :math:`[-h, h]` for every
    parameter (volumes :math:`V_\theta`, :math:`V_\alpha`).  Then

    .. math::

        Z_X = \frac{1}{V_\theta V_\alpha}, \qquad
        Z_{AB} = \frac{\mathcal{N}(a;\, b,\, S_A + S_B)}{V_\theta V_\alpha^2},

    with :math:`a, S_A` (:math:`b, S_B`) the :math:`\theta` block of
    :math:`\mu_A, \Sigma_A` (:math:`\mu_B, \Sigma_B`); the joint posterior of
    :math:`\theta` is :math:`\mathcal{N}(C(S_A^{-1}a + S_B^{-1}b),\, C)`,
    :math:`C = (S_A^{-1} + S_B^{-1})^{-1}`.
    """

    def __init__(self, *, n_core=2, n_nuisance=3, half_width=5.0):
        self.n_core, self.n_nuisance = int(n_core), int(n_nuisance)
        self.half_width = float(half_width)
        d = self.n_core + self.n_nuisance
        self.core = [f"theta{i}" for i in range(self.n_core)]
        self.nuisance = {X: [f"alpha{X}{i}" for i in range(self.n_nuisance)] for X in "AB"}
        self.mean = {"A": np.r_[np.linspace(0.3, -0.3, self.n_core), np.zeros(self.n_nuisance)],
                     "B": np.r_[np.linspace(-0.1, 0.4, self.n_core), np.full(self.n_nuisance, 0.2)]}
        self.cov = {"A": _correlation_cov(d, 500 + d, sd=0.3), "B": _correlation_cov(d, 600 + d, sd=0.4)}
        self._mvn = {X: multivariate_normal(self.mean[X], self.cov[X]) for X in "AB"}
        h = self.half_width
        self.prior_core = UniformPrior(np.full(self.n_core, -h), np.full(self.n_core, h), params=self.core)
        self.prior = {X: UniformPrior(np.full(d, -h), np.full(d, h), params=self.core + self.nuisance[X])
                      for X in "AB"}
        self.prior_full = UniformPrior(np.full(self.n_core + 2 * self.n_nuisance, -h),
                                       np.full(self.n_core + 2 * self.n_nuisance, h),
                                       params=self.core + self.nuisance["A"] + self.nuisance["B"])
        log_v_core = self.n_core * np.log(2 * h)
        log_v_nuis = self.n_nuisance * np.log(2 * h)
        self.logZ = {X: -log_v_core - log_v_nuis for X in "AB"}
        c = slice(0, self.n_core)
        a, b = self.mean["A"][c], self.mean["B"][c]
        sa, sb = self.cov["A"][c, c], self.cov["B"][c, c]
        self.logZ["AB"] = float(multivariate_normal(b, sa + sb).logpdf(a)) - log_v_core - 2 * log_v_nuis
        ia, ib = np.linalg.inv(sa), np.linalg.inv(sb)
        self.joint_cov = np.linalg.inv(ia + ib)
        self.joint_mean = self.joint_cov @ (ia @ a + ib @ b)

    def loglikelihood(self, experiment):
        """``log L_X(theta, alpha_X)`` for ``experiment`` "A" or "B"."""
        mvn = self._mvn[experiment]
        return lambda t: float(mvn.logpdf(t))

    def loglikelihood_full(self, theta):
        """``log L_A + log L_B`` over ``(theta, alpha_A, alpha_B)``: the full joint analysis."""
        t = np.asarray(theta, dtype=np.float64)
        c, n = self.n_core, self.n_nuisance
        return float(self._mvn["A"].logpdf(np.r_[t[:c], t[c:c + n]]) + self._mvn["B"].logpdf(np.r_[t[:c], t[c + n:]]))
