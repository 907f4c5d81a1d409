r"""When a nested-sampling run may stop: the tail of its posterior-weight profile.

A run's stopping rules estimate the evidence still to come from its live points: dynesty's
``dlogz`` from the largest live likelihood, :math:`X\mathcal{L}_\max`, PolyChord's (and
flowprior's ``precision_criterion``) from their mean.  Both assume the live points see what is
left.  They do not when the posterior spreads over many nats of prior volume: in Neal's funnel the
likelihood keeps rising through a narrowing neck, the live points sit in the mouth, and every live
point's likelihood is close to the contour's.  A run there stopped with 1 % of the evidence
(:mod:`flowprior.problems.published`, ``funnel-10``: 4.6 to 8 nats low).

The posterior-weight profile tells.  In :math:`s = -\log X`, the posterior mass per nat of
compression is :math:`f(s) = \mathcal{L}(X)\,X`, and its integral is :math:`Z`.  Over the last
:data:`WINDOW_NATS` of dead points, :math:`\log f` is fitted by a line of slope :math:`-r`.  While
:math:`r \le 0` the weights still rise, the bulk of the posterior is still ahead, and nothing the
live points say bounds it.  With :math:`r > 0` the tail is extrapolated as an exponential, and the
part of it beyond the live points' reach (they sample down to about :math:`X / n_\mathrm{live}`)
is

.. math::

    T = \frac{f(s)}{r}\, e^{-r \log n_\mathrm{live}}.

A run stops by its own rule only once :math:`r \ge 1/2` (:data:`FINITE_RATE`: then the live points'
own estimate of the rest, :math:`X\langle\mathcal{L}\rangle`, has a finite variance) or
:math:`T \le \epsilon\, Z_\mathrm{dead}` (:data:`TAIL_TOLERANCE`, :math:`\epsilon = 0.01`).  On a
Gaussian this costs one to three nats of compression past the posterior's peak; on the funnel it
keeps the run going through the neck.
The same estimate, applied to a finished run (any sampler), says how much evidence its end may have
left out (:func:`missed_tail`).
"""

import numpy as np

__all__ = ["TAIL_TOLERANCE", "WINDOW_NATS", "FINITE_RATE", "tail_fraction", "TailWatch", "missed_tail"]

#: Largest extrapolated evidence beyond the live points' reach, as a fraction of the dead points'.
TAIL_TOLERANCE = 0.01
#: Nats of compression over which the profile's slope is fitted.
WINDOW_NATS = 2.0
#: From this rate of fall the live points' own estimate of the rest has a finite variance, and a run may
#: stop by its own rule: under f = exp(-r s), L = X^(r - 1) over the live points, whose square is
#: integrable for r > 1/2.
FINITE_RATE = 0.5


def tail_fraction(logL, logX, nlive, logZ_dead):
    r"""``(r, log T / Z_dead)`` from dead points (module docs); ``log`` fraction ``inf`` while ``r <= 0``.

    The slope is fitted over the last :data:`WINDOW_NATS` of the dead points, but not before the
    largest weight: a run's profile first rises (at the start of a repartitioned run, its points
    where only the original prior proposes die first), and a fit across the peak would read a
    falling tail as flat.  A profile whose largest weight is among its last three points still rises.

    Parameters
    ----------
    logL, logX : array_like
        The dead points in order, their log-likelihoods and prior volumes.
    nlive : int
        Live points at the end.
    logZ_dead : float
    """
    logL = np.asarray(logL, dtype=np.float64)
    logX = np.asarray(logX, dtype=np.float64)
    ok = np.isfinite(logL) & np.isfinite(logX)
    logL, logX = logL[ok], logX[ok]
    if len(logL) < 3:
        return np.nan, np.inf
    log_f = logL + logX
    window = logX <= logX[-1] + WINDOW_NATS
    window[:int(np.argmax(log_f))] = False
    if window.sum() < 3:
        return np.nan, np.inf
    s = -logX[window]
    slope, intercept = np.polyfit(s - s[-1], log_f[window], 1)
    r = -float(slope)
    if not r > 0:
        return r, np.inf
    log_tail = float(intercept) - r * np.log(max(int(nlive), 1)) - np.log(r)
    return r, log_tail - float(logZ_dead)


class TailWatch:
    r"""The dead points of a running sampler, for :func:`tail_fraction` when its own rule would stop it.

    Parameters
    ----------
    nlive : int
    tolerance : float
        The stop needs :math:`T \le` ``tolerance`` :math:`Z_\mathrm{dead}`.
    """

    def __init__(self, nlive, tolerance=TAIL_TOLERANCE):
        self.nlive = int(nlive)
        self.log_tolerance = float(np.log(tolerance))
        self._logL, self._logX = [], []
        self._peak = (-np.inf, 0)  # the largest log weight per nat so far, and its index
        self.rate, self.log_fraction = np.nan, np.inf

    def add(self, logL, logX):
        self._logL.append(float(logL))
        self._logX.append(float(logX))
        if logL + logX > self._peak[0]:
            self._peak = (float(logL + logX), len(self._logL) - 1)

    def allows_stop(self, logZ_dead):
        """True once the profile falls fast enough for the live points to stand for the rest (``rate >=``
        :data:`FINITE_RATE`), or its extrapolated tail beyond them is within the tolerance."""
        start = max(len(self._logL) - int(np.ceil(WINDOW_NATS * self.nlive)) - 1, self._peak[1])
        self.rate, self.log_fraction = tail_fraction(self._logL[start:], self._logX[start:], self.nlive, logZ_dead)
        return self.rate >= FINITE_RATE or self.log_fraction <= self.log_tolerance


def missed_tail(samples):
    """``(r, fraction)`` of a finished run's nested samples: the evidence its end may have left out.

    The final live points are the trailing rows whose ``nlive`` falls one by one; the profile is
    fitted on the dead points before them.  ``fraction`` is ``T / Z_dead`` (``inf`` while the
    weights still rose), NaN for fewer than ten dead points.
    """
    logL = samples.logL.to_numpy()
    nlive = samples.nlive.to_numpy()
    logX = np.asarray(samples.logX(), dtype=np.float64)
    n_end = int(nlive[-1]) if len(nlive) else 0
    # The final live points: the last run of rows where nlive decreases by one each row, down to 1.
    k = len(nlive) - 1
    while k > 0 and nlive[k - 1] == nlive[k] + 1:
        k -= 1
    dead = slice(0, k)
    n_end = int(nlive[k]) if len(nlive) else n_end
    if k < 10:
        return np.nan, np.nan
    logw = logL[dead] + np.asarray(samples.logdX(), dtype=np.float64)[dead]
    finite = np.isfinite(logw)
    log_z_dead = float(np.logaddexp.reduce(logw[finite])) if finite.any() else -np.inf
    r, log_frac = tail_fraction(logL[dead], logX[dead], n_end, log_z_dead)
    return r, float(np.exp(log_frac)) if np.isfinite(log_frac) else np.inf

