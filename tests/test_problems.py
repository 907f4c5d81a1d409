"""The published test problems (flowprior.problems.published), checked against their papers, not against themselves.

Each likelihood is re-written here from its published definition with scipy.stats and compared at
points drawn from the prior and near the modes.  Each ``logZ`` is recomputed by a route the module
does not take (a trapezoid grid, adaptive 2-D quadrature, a product of 1-D quadratures, a value
tabulated in the paper, or a bound on the mass outside the box); every tolerance is the known
error of that route.  Then the box of each prior, and :func:`flowprior.problems.named`.
"""

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

import flowprior as fp
from flowprior.problems import PUBLISHED, EggBox, PlanckLike, PublishedProblem, named

# Quadrature settings: relative tolerance far below every tolerance asserted on logZ.
QUAD = dict(epsabs=0.0, epsrel=1e-11, limit=200)


# --- the published definitions, written independently of the module ---------------------------
def funnel_ref(d, gamma=0.95):
    """Buchner's corrfunnel: v ~ N(0, 1), x | v ~ N(0, e^v M), M = gamma + (1 - gamma) I."""
    m = np.full((d - 1, d - 1), gamma)
    np.fill_diagonal(m, 1.0)
    return lambda t: stats.norm.logpdf(t[0]) + stats.multivariate_normal(np.zeros(d - 1), np.exp(t[0]) * m).logpdf(t[1:])


def loggamma_ref(d):
    """Buchner's loggamma (space-of-inference-spaces, image/problems.py).

    Parameter i >= 2 (0-based) is log-gamma while i <= (d + 2) / 2.  Beaujean & Caldwell's and
    nautilus's definition stops one earlier (i <= d / 2); the module follows Buchner, as it says.
    """
    g = lambda loc: stats.loggamma(1, loc=loc, scale=1 / 30)
    n = lambda loc: stats.norm(loc, 1 / 30)
    rest = [g(2 / 3) if i <= (d + 2) / 2 else n(2 / 3) for i in range(2, d)]

    def loglike(t):
        first = special.logsumexp([g(1 / 3).logpdf(t[..., 0]), g(2 / 3).logpdf(t[..., 0])], b=0.5, axis=0)
        second = special.logsumexp([n(1 / 3).logpdf(t[..., 1]), n(2 / 3).logpdf(t[..., 1])], b=0.5, axis=0)
        return first + second + sum(rv.logpdf(t[..., i + 2]) for i, rv in enumerate(rest))
    return loglike


def spikeslab_ref(d, factor=100.0, offset=2.0):
    """Equal-weight mixture of N(offset, I) (the slab) and N(0, sigma^2 I), sigma^d = 1 / factor (the spike)."""
    sigma = factor ** (-1.0 / d)
    slab = stats.multivariate_normal(np.full(d, offset), np.eye(d))
    spike = stats.multivariate_normal(np.zeros(d), sigma**2 * np.eye(d))
    return lambda t: np.logaddexp(slab.logpdf(t), spike.logpdf(t)) + np.log(0.5)


def eggbox_ref(t):
    """Feroz, Hobson & Bridges (2009), the egg box: (2 + cos(x/2) cos(y/2))^5."""
    return (2.0 + np.cos(t[0] / 2.0) * np.cos(t[1] / 2.0)) ** 5


def shells_ref(d, radius=2.0, width=0.1):
    """Feroz & Hobson (2008): the sum of two normalised circ() shells at (+-3.5, 0, ...)."""
    centres = np.zeros((2, d))
    centres[:, 0] = [-3.5, 3.5]
    return lambda t: special.logsumexp(stats.norm.logpdf(np.linalg.norm(t - centres, axis=1), radius, width))


def rosenbrock_ref(t):
    """Buchner's rosenbrock, -2 times Rosenbrock's function (scipy's, in any dimension)."""
    return -2.0 * optimize.rosen(t)


def asymgauss_params(d):
    """Buchner's asymgauss: sigma log-spaced from 0.1 to 10^(-10 + sqrt(d)/2), centres (1 + (1 - 5 sigma) sin(i/2)) / 2."""
    sigma = np.logspace(-1.0, -10.0 + np.sqrt(d) / 2.0, d)
    return (1.0 + (1.0 - 5.0 * sigma) * np.sin(np.arange(d) / 2.0)) / 2.0, sigma


def beta_params(d):
    """Buchner's beta: a then b, each 10^U(-1, 1), from RandomState(d)."""
    rng = np.random.RandomState(d)
    a = 10 ** rng.uniform(-1, 1, size=d)
    return a, 10 ** rng.uniform(-1, 1, size=d)


# Planck 2018 VI (A&A 641, A6), Table 2, column TT,TE,EE+lowE+lensing; the box is cobaya's default prior.
PLANCK_MEAN = np.array([0.02237, 0.1200, 1.04092, 0.0544, 3.044, 0.9649])
PLANCK_SD = np.array([0.00015, 0.0012, 0.00031, 0.0073, 0.014, 0.0042])
PLANCK_LOWER = np.array([0.005, 0.001, 0.5, 0.01, 1.61, 0.8])
PLANCK_UPPER = np.array([0.1, 0.99, 10.0, 0.8, 3.91, 1.2])


def planck_ref():
    # The correlations are not published (the module says so): they are the one input taken from it.
    cov = PlanckLike.CORR * np.outer(PLANCK_SD, PLANCK_SD)
    return stats.multivariate_normal(PLANCK_MEAN, cov).logpdf


def _gauss(d, centre, sigma):
    return lambda t: stats.norm(centre, sigma).logpdf(t).sum()


def _beta(d):
    a, b = beta_params(d)
    return lambda t: stats.beta(a, b).logpdf(t).sum()


def _around(centres, scale, d=None):
    # [(centre, scale)], a scalar centre broadcast to d dimensions.
    return [(np.broadcast_to(np.asarray(c, dtype=float), (d,) if d else np.shape(c)), scale) for c in centres]


# name: (reference log-likelihood, [(centre, scale)] of points near the modes, where the prior draws rarely go)
CASES = {
    "funnel-2": (funnel_ref(2), _around([[0.0, 0.0], [-4.0, 0.0], [3.0, 0.0]], [0.5, 1.0])),
    "funnel-10": (funnel_ref(10), _around([np.zeros(10), np.r_[-4.0, np.zeros(9)]], np.r_[0.5, np.full(9, 0.2)])),
    "loggamma-2": (loggamma_ref(2), _around([[1 / 3, 1 / 3], [2 / 3, 2 / 3]], 0.03)),
    "loggamma-10": (loggamma_ref(10), _around([np.r_[1 / 3, 1 / 3, np.full(8, 2 / 3)], np.full(10, 2 / 3)], 0.03)),
    "spikeslab-6": (spikeslab_ref(6), _around([0.0, 2.0], 0.25, d=6)),
    "eggbox-2": (eggbox_ref, _around([[2 * np.pi, 2 * np.pi], [3 * np.pi, 5 * np.pi]], 0.2)),
    "shells-2": (shells_ref(2), _around([[5.5, 0.0], [-3.5, 2.0]], 0.05)),
    "shells-5": (shells_ref(5), _around([[5.5, 0, 0, 0, 0], [-3.5, 0, 2, 0, 0]], 0.05)),
    "shells-10": (shells_ref(10), _around([np.r_[1.5, np.zeros(9)]], 0.05)),
    "rosenbrock-2": (rosenbrock_ref, _around([[1.0, 1.0], [-1.0, 1.0]], 0.05)),
    "asymgauss-4": (_gauss(4, *asymgauss_params(4)), [asymgauss_params(4)]),
    "asymgauss-16": (_gauss(16, *asymgauss_params(16)), [asymgauss_params(16)]),
    "beta-2": (_beta(2), _around([[0.01, 0.99], [0.5, 0.5]], 0.005)),
    "beta-10": (_beta(10), _around([0.01, 0.99], 0.005, d=10)),
    "planck-6": (planck_ref(), [(PLANCK_MEAN, PLANCK_SD)]),
}


def _points(problem, near, seed):
    """Five prior draws, then three points around each centre, kept inside the box (strictly, for the Beta)."""
    rng = np.random.default_rng(seed)
    prior = problem.prior
    out = list(prior.prior_transform(rng.uniform(size=(5, problem.ndims))))
    margin = 1e-9 * (prior.upper - prior.lower)
    for centre, scale in near:
        out += list(np.clip(centre + scale * rng.standard_normal((3, problem.ndims)), prior.lower + margin,
                            prior.upper - margin))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_loglikelihood_is_the_published_definition(name):
    reference, near = CASES[name]
    problem = named(name)
    for theta in _points(problem, near, seed=sum(map(ord, name))):
        got = problem.loglikelihood(theta)
        assert isinstance(got, float)
        # Two double-precision evaluations of one formula by different routes differ by rounding:
        # 2e-13 relative at most here (the correlated Planck Gaussian; the others 1e-14 or less).
        np.testing.assert_allclose(got, reference(theta), rtol=1e-10, atol=1e-10, err_msg=f"{name} at {theta.tolist()}")


def test_every_published_family_is_compared_with_its_definition():
    assert {name.split("-")[0] for name in CASES} == set(PUBLISHED)


def test_planck_means_and_errors_are_table_2_and_the_correlations_a_correlation_matrix():
    p = PlanckLike
    np.testing.assert_array_equal(p.MEAN, PLANCK_MEAN)
    np.testing.assert_array_equal(p.SD, PLANCK_SD)
    corr = p.CORR
    # A correlation matrix: symmetric, unit diagonal, positive definite.
    np.testing.assert_array_equal(corr, corr.T)
    np.testing.assert_array_equal(np.diag(corr), 1.0)
    assert np.linalg.eigvalsh(corr).min() > 0


# --- the boxes: logZ is an integral over them -----------------------------------------------
BOXES = {
    "funnel-10": (np.r_[-6.0, np.full(9, -100.0)], np.r_[6.0, np.full(9, 100.0)]),
    "loggamma-10": (np.zeros(10), np.ones(10)),
    "spikeslab-6": (np.full(6, -10.0), np.full(6, 10.0)),
    "eggbox-2": (np.zeros(2), np.full(2, 10 * np.pi)),
    "shells-5": (np.full(5, -6.0), np.full(5, 6.0)),
    "rosenbrock-2": (np.full(2, -10.0), np.full(2, 10.0)),
    "asymgauss-16": (np.zeros(16), np.ones(16)),
    "beta-10": (np.zeros(10), np.ones(10)),
    "planck-6": (PLANCK_LOWER, PLANCK_UPPER),
}


@pytest.mark.parametrize("name", sorted(BOXES))
def test_prior_is_the_published_uniform_box(name):
    lower, upper = BOXES[name]
    prior = named(name).prior
    np.testing.assert_array_equal(prior.lower, lower)
    np.testing.assert_array_equal(prior.upper, upper)
    assert prior.log_prob(0.5 * (lower + upper)) == pytest.approx(-np.sum(np.log(upper - lower)), abs=1e-12)


# --- logZ, two dimensions: quadrature of the whole integral ------------------------------------
def _trapezoid(a, b, n):
    x = np.linspace(a, b, n)
    w = np.full(n, x[1] - x[0])
    w[[0, -1]] /= 2
    return x, w


def test_eggbox_logZ_by_a_trapezoid_grid():
    # The integrand is even about both faces of [0, 10 pi] (cos(x/2) is extremal there), so every
    # Euler-Maclaurin term vanishes and the trapezoid rule converges spectrally: the peaks are 0.1
    # wide and the spacing 0.04; 401 and 801 nodes agree to 3e-13.
    x, w = _trapezoid(0.0, 10 * np.pi, 801)
    log_f = eggbox_ref(np.meshgrid(x, x, indexing="ij")) + np.log(w)[:, None] + np.log(w)[None, :]
    log_z = special.logsumexp(log_f) - 2 * np.log(10 * np.pi)
    assert named("eggbox-2").logZ == pytest.approx(log_z, abs=1e-9)


def test_eggbox_quadrature_reproduces_the_stored_logZ():
    # The docstring: 40 and 80 Gauss-Legendre nodes per panel agree to 1e-13.
    assert EggBox.quadrature_logZ(40) == pytest.approx(named("eggbox-2").logZ, abs=1e-10)


def test_rosenbrock_logZ_by_2d_quadrature():
    # Adaptive quadrature in b (breaking at the valley floor b = a^2, 0.05 wide) inside adaptive
    # quadrature in a; the error estimate is ~1e-12 relative.  Not the module's closed-form inner
    # integral.  The likelihood is written out (scipy.optimize.rosen per node takes 25 times longer).
    f = lambda b, a: np.exp(-2.0 * (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2))
    val, err = integrate.nquad(f, [[-10, 10], [-10, 10]], opts=[lambda a: dict(points=[a * a], **QUAD),
                                                                  dict(points=[1.0], **QUAD)])
    assert err < 1e-10 * val
    assert named("rosenbrock-2").logZ == pytest.approx(np.log(val / 400.0), abs=1e-9)


def test_shells_2_logZ_by_a_trapezoid_grid():
    # Spacing 0.02 across shells 0.1 wide: the grid's error is below 1e-9 (halving it moves the
    # answer by 8e-10).  The stored value integrates over the whole plane, so it leaves out the
    # shell mass beyond the faces at +-6 (0.5 = 5 widths from the shells): 1.4e-8 nats, within the
    # 1e-6 the module documents.
    x, w = _trapezoid(-6.0, 6.0, 601)
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1)
    like = sum(stats.norm.pdf(np.linalg.norm(grid - [c, 0.0], axis=-1), 2.0, 0.1) for c in (-3.5, 3.5))
    assert named("shells-2").logZ == pytest.approx(np.log(w @ like @ w / 144.0), abs=1e-7)


def test_funnel_2_logZ_by_2d_quadrature():
    # The density is written out (no scipy.stats call per node, for speed).  x's width is e^(v/2),
    # 0.05 to 20: the inner range stops at 40 widths where that is inside [-100, 100] (dropping
    # e^-800), so adaptive quadrature sees the peak at every v.  Error estimate ~1e-13 relative.
    def like(x, v):
        return np.exp(-0.5 * v * v - 0.5 * x * x * np.exp(-v)) / (2 * np.pi * np.exp(0.5 * v))

    def x_range(v):
        half = min(100.0, 40.0 * np.exp(0.5 * v))
        return [-half, half]

    val, err = integrate.nquad(like, [x_range, [-6.0, 6.0]], opts=[QUAD, QUAD])
    assert err < 1e-10 * val
    assert named("funnel-2").logZ == pytest.approx(np.log(val / (12.0 * 200.0)), abs=1e-9)


def test_loggamma_2_logZ_by_a_2d_product_rule():
    # 20-node Gauss-Legendre on each of 30 panels per axis (a panel is as wide as a mode, 1/30):
    # 30, 60 and 120 panels agree to 1e-15.
    x, w = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(0.0, 1.0, 31)
    nodes = np.concatenate([(b - a) / 2 * x + (a + b) / 2 for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) / 2 * w for a, b in zip(edges[:-1], edges[1:])])
    grid = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1)
    log_z = special.logsumexp(loggamma_ref(2)(grid) + np.log(weights)[:, None] + np.log(weights)[None, :])
    assert named("loggamma-2").logZ == pytest.approx(log_z, abs=1e-10)


# --- logZ, more dimensions: factorised into 1-D quadratures, tabulated, or bounded --------------
def _mass(pdf, a, b, points=None):
    """The integral of a 1-D density over [a, b], by adaptive quadrature (error ~1e-14)."""
    return integrate.quad(pdf, a, b, points=points, **QUAD)[0]


@pytest.mark.parametrize("d", [2, 10, 30])
def test_loggamma_logZ_factorises_into_1d_masses(d):
    s = 1 / 30
    lg = {loc: _mass(stats.loggamma(1, loc=loc, scale=s).pdf, 0, 1, [loc]) for loc in (1 / 3, 2 / 3)}
    nm = {loc: _mass(stats.norm(loc, s).pdf, 0, 1, [loc]) for loc in (1 / 3, 2 / 3)}
    n_lg = sum(i <= (d + 2) / 2 for i in range(2, d))
    log_z = (np.log((lg[1 / 3] + lg[2 / 3]) / 2) + np.log((nm[1 / 3] + nm[2 / 3]) / 2)
             + n_lg * np.log(lg[2 / 3]) + (d - 2 - n_lg) * np.log(nm[2 / 3]))
    # The log-gamma mode at 1/3 puts 4.5e-5 of its mass below 0, so logZ = -2.27e-5, not 0.
    assert named(f"loggamma-{d}").logZ == pytest.approx(log_z, abs=1e-10)


@pytest.mark.parametrize("d", [4, 16])
def test_asymgauss_logZ_factorises_into_1d_masses(d):
    centres, sigma = asymgauss_params(d)
    # Each factor in standard units, from the faces or 40 sigma (e^-800 beyond), whichever is nearer.
    log_z = sum(np.log(_mass(stats.norm.pdf, max(-c / s, -40.0), min((1 - c) / s, 40.0), [0.0]))
                for c, s in zip(centres, sigma))
    assert named(f"asymgauss-{d}").logZ == pytest.approx(log_z, abs=1e-10)


def _beta_mass(a, b):
    """The integral of the Beta(a, b) density over [0, 1]: the halves [0, 1/2] and (by symmetry,
    Beta(a, b) at 1 - y = Beta(b, a) at y) [1/2, 1], with y = t^(1/p) taking out the y^(p-1) singularity."""
    def half(p, q):
        return integrate.quad(lambda t: stats.beta.pdf(t ** (1 / p), p, q) * t ** (1 / p - 1) / p, 0, 0.5**p, **QUAD)[0]
    return half(a, b) + half(b, a)


@pytest.mark.parametrize("d", [2, 10, 30])
def test_beta_logZ_is_zero_because_each_factor_is_a_density_on_the_unit_interval(d):
    # After the substitution the integrands are smooth: quadrature error ~1e-14 (a and b down to 0.1).
    np.testing.assert_allclose([_beta_mass(a, b) for a, b in zip(*beta_params(d))], 1.0, rtol=0, atol=1e-12)
    assert named(f"beta-{d}").logZ == 0.0


@pytest.mark.parametrize("d, tabulated", [(2, -1.75), (5, -5.67), (10, -14.59)])
def test_shells_logZ_matches_feroz_hobson_2008(d, tabulated):
    # Feroz & Hobson (2008) tabulate the analytic logZ to two decimals: 0.005 of rounding.
    assert abs(named(f"shells-{d}").logZ - tabulated) < 0.01


@pytest.mark.parametrize("d", [2, 6])
def test_spikeslab_logZ_from_the_mass_of_each_gaussian_in_the_box(d):
    # Both components are normalised and isotropic, so each one's mass in the box is a product of
    # 1-D masses: exact up to quadrature error (~1e-14).  The slab is 8 sigma, the spike 20+ inside.
    sigma = 100.0 ** (-1.0 / d)
    slab = _mass(stats.norm(2.0, 1.0).pdf, -10, 10, [2.0]) ** d
    spike = _mass(stats.norm(0.0, sigma).pdf, -10, 10, [0.0]) ** d
    assert named(f"spikeslab-{d}").logZ == pytest.approx(np.log((slab + spike) / 2) - d * np.log(20.0), abs=1e-12)


@pytest.mark.parametrize("d", [10, 50])
def test_funnel_logZ_within_a_bound_on_the_mass_outside_the_box(d):
    # Z V = int_{-6}^{6} phi(v) P(x in [-100, 100]^(d-1) | v) dv.  Each x_i has variance e^v
    # (M_ii = 1), so by the union bound 1 - P(x in box | v) <= 2 (d - 1) Phi(-100 e^(-v/2)):
    # Z V lies in [m - eps, m] with m the mass of v in [-6, 6] and eps that bound integrated.
    m = _mass(stats.norm.pdf, -6, 6, [0.0])
    eps = _mass(lambda v: stats.norm.pdf(v) * 2 * (d - 1) * stats.norm.cdf(-100 * np.exp(-v / 2)), -6, 6)
    assert eps < 1e-12
    log_volume = np.log(12.0) + (d - 1) * np.log(200.0)
    assert named(f"funnel-{d}").logZ == pytest.approx(np.log(m) - log_volume, abs=eps / m + 1e-12)


def test_planck_logZ_within_a_bound_on_the_mass_outside_the_box():
    # Z V = P(theta in box) for the normalised Gaussian; by the union bound over the 12 faces,
    # 1 - P <= sum of the marginal tails beyond them.  tau is nearest, 6.1 sigma above its face.
    z_lo = (PLANCK_LOWER - PLANCK_MEAN) / PLANCK_SD
    z_hi = (PLANCK_UPPER - PLANCK_MEAN) / PLANCK_SD
    outside = np.sum(stats.norm.cdf(z_lo) + stats.norm.sf(z_hi))
    assert min(-z_lo.max(), z_hi.min()) > 5 and outside < 1e-8
    log_z = -np.sum(np.log(PLANCK_UPPER - PLANCK_LOWER))
    assert named("planck-6").logZ == pytest.approx(log_z, abs=-np.log1p(-outside) + 1e-12)


# --- named ---------------------------------------------------------------------------------
VALID = {"funnel": 10, "loggamma": 10, "spikeslab": 6, "eggbox": 2, "shells": 5, "rosenbrock": 2,
         "asymgauss": 4, "beta": 10, "planck": 6}


def test_every_published_family_has_a_valid_dimension_below():
    assert set(VALID) == set(PUBLISHED)


@pytest.mark.parametrize("family", sorted(VALID))
def test_named_builds_every_published_family(family):
    d = VALID[family]
    problem = named(f"{family}-{d}")
    assert isinstance(problem, PublishedProblem)
    assert problem.name == f"{family}-{d}"
    assert problem.ndims == problem.prior.ndims == len(problem.prior.params) == d
    assert np.isfinite(problem.logZ)
    centre = problem.prior.prior_transform(np.full(d, 0.5))
    assert np.isfinite(problem(centre))


@pytest.mark.parametrize("spec", ["eggbox-3", "planck-5", "rosenbrock-4"])
def test_named_refuses_a_dimension_the_problem_is_not_defined_in(spec):
    with pytest.raises(fp.FlowpriorValueError, match="^expected") as info:
        named(spec)
    assert spec in str(info.value)
