r"""A weighted Gaussian kernel density estimate as an exact hypercube prior, :class:`KDE`.

Like :class:`~flowprior.MAF`, the KDE lives in the Gaussianised cube of a
base prior :math:`\pi`, :math:`x = \Phi^{-1}(v)` with :math:`v` the
prior's cube coordinates, where it is

.. math::

    q_x(x) = \sum_i w_i\, \mathcal{N}(x;\, \mu_i,\, H), \qquad H = LL^\top,

with one kernel per sample :math:`\mu_i`, normalised weights :math:`w_i`
and bandwidth matrix :math:`H = h^2\,\mathrm{Cov}_w(x)` (Scott's factor
:math:`h = n_\text{eff}^{-1/(d+4)}` with Kish's :math:`n_\text{eff}`, or
Silverman's).  Then :math:`\log p(\theta) = \log q_x(x) - \log\mathcal{N}(x)
+ \log\pi(\theta)`, exactly normalised on the prior's support.

The hypercube transform is the Rosenblatt transform of :math:`q_x`: with
:math:`\varepsilon_i = L^{-1}(x - \mu_i)`, coordinate :math:`k` given the
earlier ones has the conditional CDF

.. math::

    F_k(x_k \mid x_{<k}) = \sum_i r_{ik}\, \Phi(\varepsilon_{ik}), \qquad
    r_{ik} \propto w_i \exp\Big(-\tfrac12 \sum_{j<k} \varepsilon_{ij}^2\Big),

each kernel weighted by its *responsibility* given the earlier coordinates
(margarine's KDE uses the unconditional weights :math:`w_i`, which samples a
different distribution).  The inverse prior transform evaluates
:math:`u_k = F_k` in closed form; the prior transform solves
:math:`F_k = u_k` by bisection to full float64 precision (64 halvings of
:math:`[-38.5, 38.5]`, working with :math:`1 - F_k` in the upper half so the
upper tail keeps its precision).  Cost: :math:`O(64\, n\, d)` per point for
:math:`n` kernels, far more than a MAF; a KDE suits small sample sets.
"""

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import log_ndtr

from .. import _registry
from ..errors import FlowpriorValueError
from ..kernels.logsumexp import logsumexp
from ..kernels.normal import LOG_SQRT_2PI, Z_MAX, ndtr, ndtri_clipped
from ..priors.base import Prior, _check_params, check_prior
from .data import effective_sample_size, prepare

__all__ = ["KDE"]

_BANDWIDTHS = ("scott", "silverman")
_DEEP_TAIL = 1e-8  # below this tail probability Newton steps are taken on log-probabilities
_MAX_NEWTON = 200  # bisection alone needs ~64 steps from [-Z_MAX, Z_MAX]; the cap is never reached
_CHUNK = 2_000_000  # kernel-point pairs evaluated at once (memory ~ 16 bytes x d each)


@_registry.register
class KDE(Prior):
    """Weighted Gaussian KDE with an exact Rosenblatt hypercube transform (see module docs).

    Parameters
    ----------
    points : array_like ``(n, ndims)``
        Kernel centres in the Gaussianised cube of ``prior``.
    weights : array_like ``(n,)``
        Non-negative kernel weights (normalised here).
    chol : array_like ``(ndims, ndims)``
        Lower-triangular Cholesky factor of the bandwidth matrix.
    prior : Prior
        The base prior.
    params : sequence of str, optional

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> x = np.random.default_rng(0).normal([0.3, 0.6], 0.05, size=(500, 2))
    >>> kde = fp.KDE.fit(x, prior=fp.UniformPrior([0, 0], [1, 1]))
    >>> u = np.array([0.3, 0.8])
    >>> bool(np.allclose(kde.inverse_prior_transform(kde.prior_transform(u)), u, atol=1e-12))
    True
    """

    def __init__(self, points, weights, chol, *, prior, params=None):
        check_prior(prior)
        points = np.asarray(points, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        chol = np.asarray(chol, dtype=np.float64)
        d = prior.ndims
        if points.ndim != 2 or points.shape[1] != d or points.shape[0] < 1:
            raise FlowpriorValueError(f"expected kernel points of shape (n, {d}); got {points.shape}")
        if weights.shape != (points.shape[0],) or np.any(weights < 0) or not weights.sum() > 0:
            raise FlowpriorValueError(f"expected {points.shape[0]} non-negative weights with a positive sum")
        if chol.shape != (d, d) or np.any(np.triu(chol, 1) != 0) or np.any(np.diag(chol) <= 0):
            raise FlowpriorValueError(f"expected a lower-triangular ({d}, {d}) Cholesky factor with a positive "
                                      "diagonal")
        self.points, self.chol, self.prior = points, chol, prior
        # Saved and pickled as given, so a reload repeats this division bit for bit (normalising
        # normalised weights again moves them by an ulp, and the transform with them).
        self._weights_given = weights
        self.weights = weights / weights.sum()
        self._log_w = np.log(self.weights, where=self.weights > 0, out=np.full(len(weights), -np.inf))
        self.ndims = d
        self.params = _check_params(prior.params if params is None else params, d)
        self._log_norm = np.sum(np.log(np.diag(chol))) + d * LOG_SQRT_2PI

    @classmethod
    def fit(cls, samples, weights=None, *, prior=None, params=None, bandwidth="scott"):
        """Build the KDE from weighted samples (arrays or anesthetic samples).

        Parameters
        ----------
        samples, weights, prior, params
            As for :meth:`flowprior.MAF.fit`.
        bandwidth : {"scott", "silverman"} or float
            Rule for the factor :math:`h`, or :math:`h` itself.
        """

        data = prepare(samples, weights, prior=prior, params=params)
        x = ndtri_clipped(data.prior._inverse_prior_transform(data.theta))
        d = x.shape[1]
        n_eff = effective_sample_size(data.weights)
        if isinstance(bandwidth, str):
            if bandwidth not in _BANDWIDTHS:
                raise FlowpriorValueError(f"expected bandwidth in {_BANDWIDTHS} or a positive number; got "
                                          f"{bandwidth!r}")
            h = n_eff ** (-1 / (d + 4)) if bandwidth == "scott" else (n_eff * (d + 2) / 4) ** (-1 / (d + 4))
        else:
            h = float(bandwidth)
            if not h > 0:
                raise FlowpriorValueError(f"expected bandwidth in {_BANDWIDTHS} or a positive number; got "
                                          f"{bandwidth!r}")
        cov = np.atleast_2d(np.cov(x.T, aweights=data.weights))
        try:
            chol = np.linalg.cholesky(h**2 * cov)
        except np.linalg.LinAlgError:
            raise FlowpriorValueError("expected samples spanning every dimension; got a singular covariance") from None
        return cls(x, data.weights, chol, prior=data.prior, params=data.params)

    # --- evaluation ---------------------------------------------------------------
    def _eps(self, x):
        """:math:`L^{-1}(x - \\mu_i)` for every point and kernel, shape (m, n, d)."""
        diff = x[:, None, :] - self.points[None, :, :]
        flat = solve_triangular(self.chol, diff.reshape(-1, self.ndims).T, lower=True).T
        return flat.reshape(diff.shape)

    def _log_q_x(self, x):
        out = np.empty(len(x))
        step = max(1, _CHUNK // len(self.points))
        for s in range(0, len(x), step):
            eps = self._eps(x[s:s + step])
            out[s:s + step] = logsumexp(self._log_w - 0.5 * np.sum(eps * eps, axis=2), axis=1)
        return out - self._log_norm

    def _log_q_cube(self, v):
        x = ndtri_clipped(v)
        return self._log_q_x(x) + 0.5 * np.sum(x * x, axis=1) + self.ndims * LOG_SQRT_2PI

    def _log_prob(self, theta):
        return self._log_q_cube(self.prior._inverse_prior_transform(theta)) + self.prior._log_prob(theta)

    def _in_support(self, theta):
        return self.prior._in_support(theta)

    def _inverse_prior_transform(self, theta):
        x = ndtri_clipped(self.prior._inverse_prior_transform(theta))
        u = np.empty_like(x)
        step = max(1, _CHUNK // len(self.points))
        for s in range(0, len(x), step):
            xs = x[s:s + step]
            log_r = np.broadcast_to(self._log_w, (len(xs), len(self.points))).copy()
            eps = np.empty((len(xs), len(self.points), self.ndims))
            for k in range(self.ndims):
                mean = self.points[None, :, k] + eps[:, :, :k] @ self.chol[k, :k]
                eps[:, :, k] = (xs[:, k:k + 1] - mean) / self.chol[k, k]
                r = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
                lower = np.sum(r * ndtr(eps[:, :, k]), axis=1)
                upper = np.sum(r * ndtr(-eps[:, :, k]), axis=1)
                # The smaller of the two tails carries the precision.
                u[s:s + step, k] = np.where(lower <= 0.5, lower, 1.0 - upper)
                log_r = log_r - 0.5 * eps[:, :, k] ** 2
        return u

    def _prior_transform(self, u):
        x = np.empty_like(u)
        step = max(1, _CHUNK // len(self.points))
        for s in range(0, len(u), step):
            x[s:s + step] = self._rosenblatt_inverse(u[s:s + step])
        return self.prior._prior_transform(ndtr(x))

    def _rosenblatt_inverse(self, u):
        m_pts = len(u)
        log_r = np.broadcast_to(self._log_w, (m_pts, len(self.points))).copy()
        eps = np.empty((m_pts, len(self.points), self.ndims))
        x = np.empty_like(u)
        for k in range(self.ndims):
            mean = self.points[None, :, k] + eps[:, :, :k] @ self.chol[k, :k]
            s_k = self.chol[k, k]
            r = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
            x[:, k] = _solve_conditional_cdf(u[:, k], r, mean, s_k)
            eps[:, :, k] = (x[:, k:k + 1] - mean) / s_k
            log_r = log_r - 0.5 * eps[:, :, k] ** 2
        return x

    # --- persistence ------------------------------------------------------------------
    def _state(self):
        prior_config, arrays = _registry.dump(self.prior, prefix="prior/")
        arrays.update({"points": self.points, "weights": self._weights_given, "chol": self.chol})
        return {"params": list(self.params), "prior": prior_config}, arrays

    @classmethod
    def _from_state(cls, config, arrays):
        prior = _registry.build(config["prior"], arrays, prefix="prior/")
        return cls(arrays["points"], arrays["weights"], arrays["chol"], prior=prior, params=config["params"])

    def __repr__(self):
        return f"KDE(n={len(self.points)}, ndims={self.ndims}, params={list(self.params)}, prior={self.prior!r})"


def _solve_conditional_cdf(u, r, mean, s):
    r"""Solve :math:`\sum_i r_i \Phi((x - m_i)/s) = u` for each row: Newton steps on the logarithm
    of both sides, kept inside a bisection bracket (a step that leaves it bisects instead).

    In the upper half the equation is :math:`\sum_i r_i \Phi((m_i - x)/s) = 1 - u`, exact there,
    so both tails keep full precision; in logarithms a Gaussian tail is nearly quadratic, so Newton
    converges in a few steps even at :math:`u = 10^{-300}`, where plain bisection took 64.
    """
    mean = np.broadcast_to(mean, r.shape)
    with np.errstate(divide="ignore"):
        log_r = np.log(r)
    upper = u > 0.5
    target = np.where(upper, 1.0 - u, u)
    sign = np.where(upper, -1.0, 1.0)
    lo, hi = np.full(len(u), -Z_MAX), np.full(len(u), Z_MAX)
    # Start from the moment-matched Gaussian of the mixture; u = 0 and 1 are the ends of the range.
    centre = np.sum(r * mean, axis=1)
    spread = np.sqrt(s * s + np.sum(r * (mean - centre[:, None]) ** 2, axis=1))
    x = np.where(target > 0, np.clip(centre + spread * ndtri_clipped(u), -Z_MAX, Z_MAX), -sign * Z_MAX)
    active = np.flatnonzero(target > 0)
    log_t = np.log(np.where(target > 0, target, 1.0))
    for _ in range(_MAX_NEWTON):
        if not active.size:
            break
        xa, sg, t = x[active], sign[active], target[active]
        z = sg[:, None] * (xa[:, None] - mean[active]) / s
        tail = np.sum(r[active] * ndtr(z), axis=1)
        density = np.sum(r[active] * np.exp(-0.5 * z * z), axis=1) / (s * np.exp(LOG_SQRT_2PI))
        # The lower-tail CDF grows with x; the upper tail shrinks.
        go_up = np.where(sg < 0, tail > t, tail < t)
        lo[active] = np.where(go_up, xa, lo[active])
        hi[active] = np.where(go_up, hi[active], xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            new = xa - sg * (tail - t) / density
        # Deep in a tail Newton on the CDF crawls; on its logarithm (nearly quadratic there) it does not.
        deep = np.flatnonzero(t < _DEEP_TAIL)
        if deep.size:
            rows = active[deep]
            log_tail = logsumexp(log_r[rows] + log_ndtr(z[deep]), axis=1)
            log_density = logsumexp(log_r[rows] - 0.5 * z[deep] ** 2, axis=1) - np.log(s) - LOG_SQRT_2PI
            with np.errstate(invalid="ignore", over="ignore"):
                new[deep] = xa[deep] - sg[deep] * (log_tail - log_t[rows]) * np.exp(log_tail - log_density)
        bad = ~np.isfinite(new) | (new < lo[active]) | (new > hi[active])
        new = np.where(bad, 0.5 * (lo[active] + hi[active]), new)
        exact = tail == t
        new = np.where(exact, xa, new)
        x[active] = new
        done = exact | (np.abs(new - xa) <= 4e-16 * np.maximum(1.0, np.abs(xa)))
        active = active[~done]
    return x
