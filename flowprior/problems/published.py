r"""Published test problems of the nested-sampling literature, each with its evidence.

Every problem is re-implemented from its paper's definition; ``logZ`` is exact (closed form or
one- and two-dimensional quadrature, error below 1e-6 nats unless ``logZ_error`` says more).
They are the *outside* suite: problems this project did not design, on which ``two_stage`` and
:func:`flowprior.run` are measured (``benchmarks/bench_suite.py``, ``docs/suite.rst``).

* :class:`Funnel`: Neal's funnel with correlated arms, Buchner's ``corrfunnel`` (Buchner 2023,
  "The space of inference spaces", problem set ``image/problems.py``: the log-variance
  :math:`v \sim \mathcal{N}(0, 1)`, the others :math:`x \sim \mathcal{N}(0, e^v M)` with
  :math:`M_{ij} = \gamma + (1 - \gamma)\delta_{ij}`, uniform in :math:`[-100, 100]`).
* :class:`LogGamma`: four modes with one-sided log-gamma tails (Beaujean & Caldwell 2013;
  Feroz et al. 2019; Buchner 2021; Lange 2023, the nautilus paper), in the unit cube.
* :class:`SpikeSlab`: a narrow Gaussian and a wide one at another centre (Buchner 2023).
* :class:`EggBox`: :math:`\log\mathcal{L} = (2 + \cos(x/2)\cos(y/2))^5` on :math:`[0, 10\pi]^2`,
  18 modes (Feroz, Hobson & Bridges 2009, the MultiNest paper).
* :class:`GaussianShells`: two thin shells (Feroz & Hobson 2008; dynesty's tests).
* :class:`Rosenbrock`: :math:`\log\mathcal{L} = -2[100(b - a^2)^2 + (1 - a)^2]` on
  :math:`[-10, 10]^2` (Buchner 2023).
* :class:`AsymmetricGaussian`: standard deviations from 0.1 down to :math:`10^{-10 + \sqrt d/2}`
  (``1e-9`` at :math:`d = 4`) in the unit cube (Buchner 2023).
* :class:`BetaProblem`: a product of Beta densities with parameters :math:`10^{U(-1, 1)}`, some
  U-shaped, in the unit cube (Buchner 2023).
* :class:`PlanckLike`: a Gaussian with Planck 2018's six-parameter means and errors (Planck
  Collaboration 2020, A&A 641, A6, Table 2, TT,TE,EE+lowE+lensing) and their typical correlations,
  in the Planck prior box.

References
----------
J. Buchner (2023), "Nested sampling methods", Statist. Surv. 17, 169; the problem set of
github.com/JohannesBuchner/space-of-inference-spaces.
F. Feroz, M. P. Hobson and M. Bridges (2009), MNRAS 398, 1601 (MultiNest).
F. Feroz and M. P. Hobson (2008), MNRAS 384, 449.
F. Beaujean and A. Caldwell (2013), arXiv:1304.7808.
J. U. Lange (2023), MNRAS 525, 3181 (nautilus).
"""

import numpy as np
from scipy import integrate, special

from ..errors import FlowpriorValueError
from ..priors.simple import UniformPrior

__all__ = ["PublishedProblem", "Funnel", "LogGamma", "SpikeSlab", "EggBox", "GaussianShells", "Rosenbrock",
           "AsymmetricGaussian", "BetaProblem", "PlanckLike", "PUBLISHED"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class PublishedProblem:
    """A likelihood, its prior (a flowprior prior) and its exact ``logZ``; ``reference`` cites the definition."""

    reference = ""

    def __init__(self, prior, logZ, name):
        self.prior = prior
        self.ndims = prior.ndims
        self.logZ = float(logZ)
        self.name = name

    def __call__(self, theta):
        return self.loglikelihood(theta)

    def __repr__(self):
        return f"{type(self).__name__}({self.name}, logZ={self.logZ:.4f})"


class Funnel(PublishedProblem):
    r"""Neal's funnel with correlated arms (Buchner's ``corrfunnel``).

    .. math::

        v \sim \mathcal{N}(0, 1), \qquad x \mid v \sim \mathcal{N}(0,\, e^{v} M), \quad
        M_{ij} = \gamma + (1 - \gamma)\,\delta_{ij},

    with :math:`x` uniform in :math:`[-100, 100]^{d-1}` a priori.  The scale of :math:`x` varies by
    :math:`e^{\pm 3}` along :math:`v`, so the posterior spreads over tens of nats of prior volume.
    The Gaussian prior of :math:`v` is folded into the likelihood over :math:`v \in [-6, 6]` (its
    mass outside, :math:`2\times10^{-9}`, is in ``logZ``), so
    :math:`\log Z = -(d-1)\log 200 - \log 12 + \log(\Phi(6) - \Phi(-6))`.
    """

    reference = "Buchner (2023), corrfunnel; Neal (2003), Ann. Stat. 31, 705"

    def __init__(self, ndims=10, *, gamma=0.95):
        d = int(ndims)
        if d < 2:
            raise FlowpriorValueError(f"expected ndims >= 2 for a funnel; got {ndims}")
        m = np.full((d - 1, d - 1), float(gamma))
        np.fill_diagonal(m, 1.0)
        self._minv = np.linalg.inv(m)
        self._const = -0.5 * ((d - 1) * _LOG_2PI + np.linalg.slogdet(m)[1]) - 0.5 * _LOG_2PI
        lower = np.r_[-6.0, np.full(d - 1, -100.0)]
        prior = UniformPrior(lower, -lower, params=["v"] + [f"x{i}" for i in range(1, d)])
        mass = special.ndtr(6.0) - special.ndtr(-6.0)
        super().__init__(prior, -(d - 1) * np.log(200.0) - np.log(12.0) + np.log(mass), f"funnel-{d}")

    def loglikelihood(self, theta):
        t = np.asarray(theta, dtype=np.float64)
        v, x = t[0], t[1:]
        return float(self._const - 0.5 * v * v - 0.5 * v * x.size - 0.5 * (x @ self._minv @ x) * np.exp(-v))


def _loggamma_logpdf(t, loc, scale):
    # scipy.stats.loggamma with c = 1: f(z) = exp(z - e^z), z = (t - loc) / scale.
    z = (t - loc) / scale
    return z - np.exp(z) - np.log(scale)


def _loggamma_log_mass(loc, scale):
    # CDF(z) = 1 - exp(-e^z) for c = 1: the mass in [0, 1].
    a, b = -np.expm1(-np.exp(np.array([(0.0 - loc) / scale, (1.0 - loc) / scale])))
    return np.log(b - a)


def _normal_log_mass(loc, scale):
    return np.log(special.ndtr((1.0 - loc) / scale) - special.ndtr((0.0 - loc) / scale))


class LogGamma(PublishedProblem):
    r"""Four modes with one-sided log-gamma tails, in the unit cube (the LogGamma problem).

    .. math::

        \mathcal{L} = \left[\tfrac12 g(\theta_1; \tfrac13) + \tfrac12 g(\theta_1; \tfrac23)\right]
        \left[\tfrac12 n(\theta_2; \tfrac13) + \tfrac12 n(\theta_2; \tfrac23)\right]
        \prod_{3 \le i \le (d+2)/2 + 1} g(\theta_i; \tfrac23) \prod_{i > (d+2)/2 + 1} n(\theta_i; \tfrac23),

    :math:`g` the log-gamma density of shape 1 and scale 1/30 (a long tail to the left),
    :math:`n` the normal density of width 1/30.  ``logZ`` is the mass in the cube, :math:`-2.27\times10^{-5}`
    (the mode at 1/3 has :math:`e^{-10}` of its log-gamma mass below 0).  The split between log-gamma
    and normal coordinates follows Buchner's code (0-based index :math:`i \le (d+2)/2` is log-gamma);
    Beaujean & Caldwell's and nautilus's benchmark code put the boundary one coordinate earlier
    (loggamma-10: 5 log-gamma and 3 normal coordinates here, 4 and 4 there), which changes ``logZ`` by
    :math:`2\times10^{-9}` but is another likelihood.
    """

    reference = "Beaujean & Caldwell (2013); Buchner (2023), loggamma; Lange (2023), nautilus"

    def __init__(self, ndims=10):
        d = int(ndims)
        if d < 2:
            raise FlowpriorValueError(f"expected ndims >= 2 for LogGamma; got {ndims}")
        self._scale = 1.0 / 30.0
        # Buchner's indexing: parameter i (0-based, i >= 2) is log-gamma while i <= (d + 2) / 2.
        self._is_lg = np.array([i <= (d + 2) / 2 for i in range(2, d)], dtype=bool)
        s = self._scale
        log_mass = (np.logaddexp(_loggamma_log_mass(1 / 3, s), _loggamma_log_mass(2 / 3, s)) - np.log(2)
                    + np.logaddexp(_normal_log_mass(1 / 3, s), _normal_log_mass(2 / 3, s)) - np.log(2)
                    + self._is_lg.sum() * _loggamma_log_mass(2 / 3, s)
                    + (~self._is_lg).sum() * _normal_log_mass(2 / 3, s))
        super().__init__(UniformPrior(np.zeros(d), np.ones(d)), log_mass, f"loggamma-{d}")

    def loglikelihood(self, theta):
        t = np.asarray(theta, dtype=np.float64)
        s = self._scale
        l1 = np.logaddexp(_loggamma_logpdf(t[0], 1 / 3, s), _loggamma_logpdf(t[0], 2 / 3, s)) - np.log(2)
        n2 = -0.5 * ((t[1] - np.array([1 / 3, 2 / 3])) / s) ** 2 - np.log(s) - 0.5 * _LOG_2PI
        l2 = np.logaddexp(n2[0], n2[1]) - np.log(2)
        rest = t[2:]
        lg = _loggamma_logpdf(rest[self._is_lg], 2 / 3, s).sum()
        nn = (-0.5 * ((rest[~self._is_lg] - 2 / 3) / s) ** 2 - np.log(s) - 0.5 * _LOG_2PI).sum()
        return float(l1 + l2 + lg + nn)


class SpikeSlab(PublishedProblem):
    r"""A narrow Gaussian (the spike) and a wide one (the slab) at another centre, equal weights.

    .. math::

        \mathcal{L} = \tfrac12\,\mathcal{N}(\theta;\, o\,\mathbf{1},\, I)
            + \tfrac12\,\mathcal{N}(\theta;\, 0,\, \sigma^2 I), \qquad \sigma = f^{-1/d},

    in :math:`[-10, 10]^d`: the spike holds half the evidence in :math:`1/f` of the slab's volume.
    Buchner's definition (weight 1) with the mixture normalised, so :math:`\log Z = -d\log 20`.
    The default, :math:`f = 100` and :math:`o = 2` (the spike 4.9 slab widths from the slab's centre),
    is found by a run at a few hundred live points; at :math:`f = 4000` every sampler measured here,
    nautilus included, lost the spike and half the evidence with nothing to show it (``docs/suite.rst``).
    """

    reference = "Buchner (2023), spikeslab"

    def __init__(self, ndims=6, *, factor=100.0, offset=2.0):
        d = int(ndims)
        self._sigma = float(factor) ** (-1.0 / d)
        self._offset = float(offset)
        self._c_slab = np.log(0.5) - 0.5 * d * _LOG_2PI
        self._c_spike = np.log(0.5) - 0.5 * d * _LOG_2PI - d * np.log(self._sigma)
        super().__init__(UniformPrior(np.full(d, -10.0), np.full(d, 10.0)), -d * np.log(20.0), f"spikeslab-{d}")

    def loglikelihood(self, theta):
        t = np.asarray(theta, dtype=np.float64)
        slab = self._c_slab - 0.5 * np.sum((t - self._offset) ** 2)
        spike = self._c_spike - 0.5 * np.sum(t * t) / self._sigma**2
        return float(np.logaddexp(slab, spike))


class EggBox(PublishedProblem):
    r"""The egg box, :math:`\log\mathcal{L} = (2 + \cos(x/2)\cos(y/2))^5` on :math:`[0, 10\pi]^2`.

    18 modes of equal height.  ``logZ`` = 235.855940 by Gauss-Legendre quadrature (80 nodes on
    each of 40 panels per axis; 40 nodes agree to 1e-13).
    """

    reference = "Feroz, Hobson & Bridges (2009), MultiNest, section 6.2"

    def __init__(self):
        super().__init__(UniformPrior([0.0, 0.0], [10 * np.pi, 10 * np.pi]), 235.85594033225416, "eggbox-2")

    @staticmethod
    def quadrature_logZ(nodes=40):
        """``logZ`` by Gauss-Legendre quadrature, ``nodes`` per panel of :math:`\\pi/4`."""
        x, w = np.polynomial.legendre.leggauss(int(nodes))
        edges = np.linspace(0.0, 10 * np.pi, 41)
        xs = np.concatenate([0.5 * (b - a) * x + 0.5 * (a + b) for a, b in zip(edges[:-1], edges[1:])])
        ws = np.concatenate([0.5 * (b - a) * w for a, b in zip(edges[:-1], edges[1:])])
        c = np.cos(xs / 2)
        log_f = (2.0 + np.outer(c, c)) ** 5 + np.log(ws)[:, None] + np.log(ws)[None, :]
        return float(special.logsumexp(log_f) - 2 * np.log(10 * np.pi))

    def loglikelihood(self, theta):
        t = np.asarray(theta, dtype=np.float64)
        return float((2.0 + np.cos(t[0] / 2) * np.cos(t[1] / 2)) ** 5)


class GaussianShells(PublishedProblem):
    r"""Two Gaussian shells of radius 2 and width 0.1 centred at :math:`\pm 3.5` on the first axis.

    .. math::

        \mathcal{L} = \sum_{c = \pm 3.5 e_1} \frac{1}{\sqrt{2\pi w^2}}
            \exp\left[-\frac{(|\theta - c| - r)^2}{2 w^2}\right]

    in :math:`[-6, 6]^d`.  ``logZ`` by radial quadrature: -1.75, -5.67, -14.59 for
    :math:`d = 2, 5, 10`, as Feroz & Hobson (2008) tabulate.
    """

    reference = "Feroz & Hobson (2008), section 6.2; MultiNest (2009), section 6.3"

    def __init__(self, ndims=2, *, radius=2.0, width=0.1):
        d = int(ndims)
        self._r, self._w = float(radius), float(width)
        self._centres = np.zeros((2, d))
        self._centres[:, 0] = [-3.5, 3.5]
        log_area = np.log(2.0) + 0.5 * d * np.log(np.pi) - special.gammaln(0.5 * d)
        r, w = self._r, self._w

        def radial(rho):
            return np.exp((d - 1) * np.log(rho / r) - 0.5 * ((rho - r) / w) ** 2) / np.sqrt(2 * np.pi * w**2)

        val, _ = integrate.quad(radial, max(r - 12 * w, 0.0), r + 12 * w, epsabs=0, epsrel=1e-13, limit=200)
        log_z = np.log(2.0) + log_area + (d - 1) * np.log(r) + np.log(val) - d * np.log(12.0)
        super().__init__(UniformPrior(np.full(d, -6.0), np.full(d, 6.0)), log_z, f"shells-{d}")

    def loglikelihood(self, theta):
        t = np.asarray(theta, dtype=np.float64)
        dist = np.sqrt(np.sum((t[None, :] - self._centres) ** 2, axis=1))
        logs = -0.5 * ((dist - self._r) / self._w) ** 2 - np.log(self._w) - 0.5 * _LOG_2PI
        return float(np.logaddexp(logs[0], logs[1]))


class Rosenbrock(PublishedProblem):
    r"""Rosenbrock's valley, :math:`\log\mathcal{L} = -2[100(b - a^2)^2 + (1 - a)^2]` on :math:`[-10, 10]^2`.

    :math:`Z = 400^{-1}\int e^{-2(1-a)^2}\int_{-10}^{10} e^{-200(b-a^2)^2}\,db\,da`, the inner
    integral in closed form (error functions), the outer by quadrature; :math:`\approx\pi/8000`.
    """

    reference = "Buchner (2023), rosenbrock-2d"

    def __init__(self):
        k = np.sqrt(200.0)

        def outer(a):
            inner = np.sqrt(np.pi) / (2 * k) * (special.erf(k * (10 - a * a)) - special.erf(k * (-10 - a * a)))
            return np.exp(-2 * (1 - a) ** 2) * inner

        val, _ = integrate.quad(outer, -10, 10, points=[1.0], epsabs=0, epsrel=1e-12, limit=400)
        super().__init__(UniformPrior([-10.0, -10.0], [10.0, 10.0]), np.log(val) - np.log(400.0), "rosenbrock-2")

    def loglikelihood(self, theta):
        a, b = float(theta[0]), float(theta[1])
        return -2.0 * (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


class AsymmetricGaussian(PublishedProblem):
    r"""A Gaussian whose standard deviations fall from 0.1 to :math:`10^{-10 + \sqrt d / 2}`, in the unit cube.

    Buchner's ``asymgauss``: :math:`\sigma` log-spaced, centres
    :math:`(1 + (1 - 5\sigma_i)\sin(i/2))/2`; ``logZ`` is the mass in the cube (a centre may lie
    2.5 :math:`\sigma` from a face).
    """

    reference = "Buchner (2023), asymgauss"

    def __init__(self, ndims=4):
        d = int(ndims)
        sigma_min = 10 ** (-10 + d**0.5 / 2)
        self._sigma = np.logspace(-1, np.log10(sigma_min), d)
        width = np.maximum(1 - 5 * self._sigma, 1e-20)
        self._centres = (np.sin(np.arange(d) / 2.0) * width + 1.0) / 2.0
        self._const = -np.sum(np.log(self._sigma)) - 0.5 * d * _LOG_2PI
        inside = special.ndtr((1 - self._centres) / self._sigma) - special.ndtr(-self._centres / self._sigma)
        log_z = np.sum(np.log(inside))
        super().__init__(UniformPrior(np.zeros(d), np.ones(d)), log_z, f"asymgauss-{d}")

    def loglikelihood(self, theta):
        z = (np.asarray(theta, dtype=np.float64) - self._centres) / self._sigma
        return float(self._const - 0.5 * np.sum(z * z))


class BetaProblem(PublishedProblem):
    r"""A product of Beta densities in the unit cube, :math:`a_i, b_i = 10^{U(-1, 1)}` (Buchner's ``beta``).

    The parameters come from NumPy's ``RandomState(d)`` as in the definition; those below 1 make the
    density infinite at a face (a point exactly on it is moved 1e-300 inside).  :math:`\log Z = 0`.
    """

    reference = "Buchner (2023), beta"

    def __init__(self, ndims=10):
        d = int(ndims)
        rng = np.random.RandomState(d)
        self.a = 10 ** rng.uniform(-1, 1, size=d)
        self.b = 10 ** rng.uniform(-1, 1, size=d)
        self._log_beta = special.betaln(self.a, self.b)
        super().__init__(UniformPrior(np.zeros(d), np.ones(d)), 0.0, f"beta-{d}")

    def loglikelihood(self, theta):
        t = np.clip(np.asarray(theta, dtype=np.float64), 1e-300, 1.0 - 1e-16)
        return float(np.sum((self.a - 1) * np.log(t) + (self.b - 1) * np.log1p(-t) - self._log_beta))


class PlanckLike(PublishedProblem):
    r"""A six-parameter Gaussian with Planck 2018's means and errors in the Planck prior box.

    Means and standard deviations of :math:`\Omega_b h^2, \Omega_c h^2, 100\theta_{MC}, \tau,
    \ln(10^{10} A_s), n_s` from Planck 2018 VI, Table 2 (TT,TE,EE+lowE+lensing); the correlations
    are the typical ones of that fit (strongest: :math:`\tau` with :math:`\ln A_s`, 0.96), not its
    published covariance; the box is cobaya's default prior for these parameters.
    :math:`\log Z = -\sum_i \log(b_i - a_i)` (the Gaussian lies 6 sigma or more inside).
    """

    reference = "Planck Collaboration (2020), A&A 641, A6, Table 2; cobaya's Planck priors"
    PARAMS = ("omegabh2", "omegach2", "theta_MC_100", "tau", "logA", "ns")
    MEAN = np.array([0.02237, 0.1200, 1.04092, 0.0544, 3.044, 0.9649])
    SD = np.array([0.00015, 0.0012, 0.00031, 0.0073, 0.014, 0.0042])
    CORR = np.array([[1.00, -0.54, 0.46, 0.04, 0.03, 0.48],
                     [-0.54, 1.00, -0.52, 0.05, 0.10, -0.64],
                     [0.46, -0.52, 1.00, 0.03, -0.01, 0.35],
                     [0.04, 0.05, 0.03, 1.00, 0.96, 0.05],
                     [0.03, 0.10, -0.01, 0.96, 1.00, 0.02],
                     [0.48, -0.64, 0.35, 0.05, 0.02, 1.00]])
    LOWER = np.array([0.005, 0.001, 0.5, 0.01, 1.61, 0.8])
    UPPER = np.array([0.1, 0.99, 10.0, 0.8, 3.91, 1.2])

    def __init__(self):
        cov = self.CORR * np.outer(self.SD, self.SD)
        self._prec = np.linalg.inv(cov)
        self._const = -0.5 * (6 * _LOG_2PI + np.linalg.slogdet(cov)[1])
        prior = UniformPrior(self.LOWER, self.UPPER, params=list(self.PARAMS))
        super().__init__(prior, -np.sum(np.log(self.UPPER - self.LOWER)), "planck-6")

    def loglikelihood(self, theta):
        r = np.asarray(theta, dtype=np.float64) - self.MEAN
        return float(self._const - 0.5 * (r @ self._prec @ r))


#: The published families by name, ``family-d`` as in :func:`flowprior.problems.named`.
PUBLISHED = {
    "funnel": Funnel,
    "loggamma": LogGamma,
    "spikeslab": SpikeSlab,
    "eggbox": lambda d: EggBox() if d == 2 else _fixed("eggbox", 2, d),
    "shells": GaussianShells,
    "rosenbrock": lambda d: Rosenbrock() if d == 2 else _fixed("rosenbrock", 2, d),
    "asymgauss": AsymmetricGaussian,
    "beta": BetaProblem,
    "planck": lambda d: PlanckLike() if d == 6 else _fixed("planck", 6, d),
}


def _fixed(name, want, got):
    raise FlowpriorValueError(f"expected {name}-{want} ({name} is defined in {want} dimensions only); got {name}-{got}")
