r"""Probing a left island with likelihood calls: a valley, a climb, Laplace's mass.

Telling lost modes from the rest (likelihood calls).  Most left groups are
the retreating edges of a region the run kept (a banana's arms) or modes
the contour passed naturally.  For each: a valley check
(:func:`separated_by_a_valley`: a point below the contour on the segments to
the nearest other live points); a climb (:func:`climb`, gradient ascent,
which counts as connected once it comes nearer to points the run kept than
to the island's own); and Laplace's method at the peak it reaches
(:func:`laplace`), which estimates the mode's mass,
:math:`\log M \approx \log\mathcal{L}_\mathrm{peak} + \frac{d}{2}\log 2\pi +
\frac12\log|\Sigma|`.  A separated mode whose estimated mass is at least
1e-3 of the evidence is run again: nested sampling of the original problem
restricted to a box of five standard deviations around its peak in the
prior's cube (:class:`~flowprior.priors.cube.CubeBox`), which gives its posterior samples and its
mass :math:`Z_B\,|B|`.
"""

import numpy as np
from scipy.special import gammainc, gammaln

__all__ = ["separated_by_a_valley", "climb", "laplace", "log_mass_above"]


def climb(loglikelihood, prior, island, *, max_steps=30):
    r"""Gradient ascent from the island's best live point, in its scaled cube coordinates.

    Stops at a (local) peak, after ``max_steps`` steps, or as soon as the
    path comes nearer to a point the run kept sampling (``island.rest``) than
    to the island's own points: then the island is connected to the rest.

    Returns
    -------
    dict
        ``peak`` (cube point), ``logL`` there, ``connected`` and ``ncall``.
    """
    scale = island.scale
    own = island.cube / scale
    rest = island.rest / scale
    def f(x):
        return float(loglikelihood(prior._prior_transform(np.clip(x * scale, 0.0, 1.0)[None])[0]))

    x = island.members[0] / scale
    fx, ncall = f(x), 1
    for m in island.members[1:]:
        fm = f(m / scale)
        ncall += 1
        if fm > fx:
            x, fx = m / scale, fm
    spread = own.std(axis=0).mean() if len(own) > 1 else 0.1
    step = max(0.5 * spread, 1e-3)
    h = 0.05 * step
    connected = False
    for _ in range(max_steps):
        grad = np.empty_like(x)
        for j in range(len(x)):
            e = np.zeros_like(x)
            e[j] = h
            grad[j] = (f(x + e) - fx) / h
        ncall += len(x)
        norm = np.linalg.norm(grad)
        if not np.isfinite(norm) or norm == 0:
            break
        trial = x + step * grad / norm
        ft = f(trial)
        ncall += 1
        if ft > fx:
            x, fx = trial, ft
            step *= 1.5
            if len(rest) and np.min(((rest - x) ** 2).sum(axis=1)) < np.min(((own - x) ** 2).sum(axis=1)):
                connected = True
                break
        else:
            step *= 0.3
            h = min(h, 0.05 * step)
            if step < 1e-3 * spread:
                break
    return {"peak": np.clip(x * scale, 0.0, 1.0), "logL": fx, "connected": connected, "ncall": ncall,
            "step": step * scale}


def laplace(loglikelihood, prior, peak, logL_peak, step):
    r"""Gaussian approximation of a mode at ``peak`` (cube coordinates) from finite differences.

    Each coordinate's step is adjusted until moving by it lowers
    :math:`\log\mathcal{L}` by 0.01 to 2; then the Hessian :math:`H` of
    :math:`\log\mathcal{L}` in the cube gives the covariance
    :math:`\Sigma = (-H)^{-1}` and the mode's mass (Laplace's method; the
    cube's measure is the prior's),

    .. math::

        \log M \approx \log\mathcal{L}_\mathrm{peak} + \frac{d}{2}\log 2\pi + \frac12\log|\Sigma|.

    Returns ``(cov, log_mass, ncall)``, or ``(None, nan, ncall)`` when
    :math:`-H` is not positive definite (no peak, or not a smooth one).
    """
    d = len(peak)

    def f(u):
        return float(loglikelihood(prior._prior_transform(np.clip(u, 0.0, 1.0)[None])[0]))

    h = np.maximum(np.abs(np.asarray(step, dtype=np.float64)), 1e-9) * np.ones(d)
    ncall = 0
    plus, minus = np.empty(d), np.empty(d)
    for i in range(d):
        for _ in range(8):
            e = np.zeros(d)
            e[i] = h[i]
            plus[i], minus[i] = f(peak + e), f(peak - e)
            ncall += 2
            drop = logL_peak - 0.5 * (plus[i] + minus[i])
            if drop > 2.0:
                h[i] /= 3.0
            elif drop < 0.01:
                h[i] *= 3.0
            else:
                break
    H = np.diag((plus + minus - 2.0 * logL_peak) / h**2)
    for i in range(d):
        for j in range(i + 1, d):
            ei, ej = np.zeros(d), np.zeros(d)
            ei[i], ej[j] = h[i], h[j]
            v = (f(peak + ei + ej) - f(peak + ei - ej) - f(peak - ei + ej) + f(peak - ei - ej)) / (4 * h[i] * h[j])
            ncall += 4
            H[i, j] = H[j, i] = v
    try:
        chol = np.linalg.cholesky(-H)
    except np.linalg.LinAlgError:
        return None, np.nan, ncall
    cov = np.linalg.inv(-H)
    log_det = -2.0 * np.sum(np.log(np.diag(chol)))
    return 0.5 * (cov + cov.T), float(logL_peak + 0.5 * d * np.log(2 * np.pi) + 0.5 * log_det), ncall


def log_mass_above(level, log_volume, peak_logL, ndims):
    r"""Mass a Gaussian mode holds above a contour, for when Laplace's method fails.

    With the mode's prior volume :math:`X_c` inside the contour
    (``log_volume``) and its peak :math:`\Delta` = ``peak_logL - level``
    above it, the live points are uniform in a ball and

    .. math::

        M = \mathcal{L}_i X_c\, \frac{d}{2}\, e^{\Delta} \Delta^{-d/2}\,
            \gamma\!\left(\frac{d}{2}, \Delta\right),

    with :math:`\gamma` the lower incomplete gamma function
    (:math:`M \to \mathcal{L}_i X_c` as :math:`\Delta \to 0`).
    """
    a = 0.5 * ndims
    delta = float(peak_logL - level)
    if delta < 1e-8:
        return float(level + log_volume)
    log_gamma_lower = np.log(max(gammainc(a, delta), 1e-300)) + gammaln(a)
    return float(level + log_volume + np.log(a) + delta - a * np.log(delta) + log_gamma_lower)


def separated_by_a_valley(loglikelihood, prior, island, *, n_pairs=3, n_points=6):
    """Whether every one of the ``n_pairs`` shortest segments to the rest dips below the island's contour.

    Returns ``(separated, ncall)``; the segments run in the prior's cube
    between the island's live points and the other live points at its
    contour, and ``n_points`` inner points of each are evaluated.
    """
    a, b = island.members, island.others
    if len(b) == 0:
        return True, 0
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    pairs = np.dstack(np.unravel_index(np.argsort(d2, axis=None)[:n_pairs], d2.shape))[0]
    t = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    ncall = 0
    for ia, ib in pairs:
        dipped = False
        for tk in t:
            u = np.clip(a[ia] + tk * (b[ib] - a[ia]), 0.0, 1.0)
            ncall += 1
            if float(loglikelihood(prior._prior_transform(u[None])[0])) < island.level:
                dipped = True
                break
        if not dipped:
            return False, ncall
    return True, ncall
