r"""Ellipsoids in a sheared frame: a dynesty bound for curved contours (``bound="sheared"``).

dynesty bounds the live points with ellipsoids in the unit cube.  A curved contour, a
banana's arms, is a thin bent tube that one ellipsoid bounds with a volume many times its
own, and a few dozen live points cannot pay for a split into several (each needs ``2 ndim``
points and the split a large fall in volume): a 6-D banana at ``nlive=50`` spent most of
its calls at 1--6 % efficiency.

This bound first straightens the contour with a volume-preserving quadratic shear of the
live points :math:`u` (standardised as :math:`z = (u - m)/s`), along one *spine* coordinate
:math:`j`,

.. math::

    y_k = z_k - g_k\,(z_j^2 - c) \quad (k \ne j), \qquad y_j = z_j, \qquad
    \left|\frac{\partial y}{\partial z}\right| = 1,

with :math:`g_k` the quadratic coefficient of the least-squares fit of :math:`z_k` on
:math:`(1, z_j, z_j^2)` and :math:`c` the mean of :math:`z_j^2`; then it bounds
:math:`y` with dynesty's own multi-ellipsoids.  The spine is the coordinate whose
shear gives the smallest single bounding ellipsoid.  The sheared multi-ellipsoids are kept
only if their volume is below that of the multi-ellipsoids of :math:`z` by more than
the BIC price of the :math:`d - 1` coefficients, :math:`(d-1)\ln n / n` in :math:`\ln V`
(as dynesty prices a split); otherwise the bound is dynesty's ``multi`` of the standardised points.

The standardisation is what keeps the bound sound when the posterior's widths differ by many
orders of magnitude between coordinates: dynesty caps the condition number of an ellipsoid's
covariance, so in the cube an ellipsoid around a slab :math:`10^{-12}` wide in one coordinate and 1
in another stays :math:`10^{-6}` wide, and all but one draw in a million is rejected by the
likelihood (a run on a Beta(0.1, 1) likelihood, whose mass lies within :math:`10^{-18}` of a face,
did not end).  Standardised, the slab is a square.  The volume is that of the ellipsoids times
:math:`\prod_i s_i`.  And a bound that stops overlapping the cube would be drawn from for ever
(dynesty rejects draws outside the cube without a likelihood call): after ``max_misses`` draws in
a row outside it, the bound raises :class:`~flowprior.errors.SamplerStalledError`.

The shear has unit Jacobian and the standardisation a constant one, so a point uniform in the
ellipsoids in :math:`y` is uniform in their pre-image in :math:`u`: nested sampling stays exact.
A pre-image reaching outside the unit cube costs draws that dynesty rejects without a likelihood
call.  It is meant for ``sample="unif"``; the axes it offers the walk and slice samplers are the
frame's, scaled back to the cube, still valid proposals.
"""

import numpy as np
from dynesty import bounding

from ..errors import SamplerStalledError

__all__ = ["ShearedEllipsoids", "MAX_MISSES"]

#: Draws in a row outside the unit cube after which a bound is taken to have stalled (a few seconds of draws).
MAX_MISSES = 100_000


def _quadratic_coefficients(z, j):
    """Quadratic coefficient of every column of ``z`` fitted on column ``j`` (with constant and linear terms)."""
    x = z[:, j]
    design = np.column_stack([np.ones_like(x), x, x * x])
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    g = coef[2].copy()
    g[j] = 0.0
    return g


class ShearedEllipsoids(bounding.Bound):
    """dynesty's multi-ellipsoids in a standardised, sheared frame (see module docs).

    Parameters
    ----------
    ndim : int
    shear : bool
        Offer the shear (else the frame is only standardised).
    max_misses : int
        Draws in a row outside the unit cube after which :class:`~flowprior.errors.SamplerStalledError`
        is raised (a bound that no longer overlaps the cube would be sampled from for ever).
    """

    def __init__(self, ndim, *, shear=True, max_misses=MAX_MISSES):
        super().__init__(ndim)
        self.inner = bounding.MultiEllipsoid(ndim)
        self.logvol = self.inner.logvol
        self.centre = np.zeros(ndim)
        self.scale = np.ones(ndim)
        self.spine = -1  # -1: no shear
        self.coefficients = np.zeros(ndim)
        self.offset = 0.0
        self.shear = bool(shear)
        self.max_misses = int(max_misses)
        self.misses = 0

    @property
    def _log_scale(self):
        return float(np.sum(np.log(self.scale)))

    def to_frame(self, u):
        """The frame's coordinates of cube points ``u``, shape ``(n, ndim)``: standardised, then sheared."""
        z = (np.atleast_2d(np.asarray(u, dtype=np.float64)) - self.centre) / self.scale
        if self.spine >= 0:
            z = z - np.outer(z[:, self.spine] ** 2 - self.offset, self.coefficients)
        return z

    def from_frame(self, y):
        """The cube points of frame coordinates ``y`` (the exact inverse of :meth:`to_frame`)."""
        z = np.atleast_2d(np.asarray(y, dtype=np.float64))
        if self.spine >= 0:
            # The spine coordinate is unchanged by the shear, so the inverse is explicit.
            z = z + np.outer(z[:, self.spine] ** 2 - self.offset, self.coefficients)
        return z * self.scale + self.centre

    def _choose_shear(self, z):
        """The spine whose shear gives the smallest single bounding ellipsoid of standardised points ``z``."""
        d = z.shape[1]
        best = (np.inf, -1, np.zeros(d), 0.0)
        for j in range(d):
            g = _quadratic_coefficients(z, j)
            c = float(np.mean(z[:, j] ** 2))
            logvol = bounding.bounding_ellipsoid(z - np.outer(z[:, j] ** 2 - c, g)).logvol
            if logvol < best[0]:
                best = (logvol, j, g, c)
        return best[1:]

    def update(self, points, rstate=None, bootstrap=0, pool=None, mc_integrate=False):
        """Bound ``points`` with multi-ellipsoids in the standardised frame, sheared if that is smaller."""
        points = np.asarray(points, dtype=np.float64)
        n, d = points.shape
        self.centre = points.mean(axis=0)
        scale = points.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        self.spine = -1
        z = self.to_frame(points)
        identity = bounding.MultiEllipsoid(d)
        identity.update(z, rstate=rstate, bootstrap=bootstrap, pool=pool, mc_integrate=mc_integrate)
        self.inner = identity
        if self.shear and d > 1:
            spine, g, c = self._choose_shear(z)
            sheared = bounding.MultiEllipsoid(d)
            sheared.update(z - np.outer(z[:, spine] ** 2 - c, g), rstate=rstate, bootstrap=bootstrap, pool=pool,
                           mc_integrate=mc_integrate)
            # The shear's d - 1 coefficients are paid for as dynesty pays for a split (BIC).
            if sheared.logvol < identity.logvol - (d - 1) * np.log(n) / n:
                self.inner, self.spine, self.coefficients, self.offset = sheared, spine, g, c
        self.logvol = self.inner.logvol + self._log_scale
        self.misses = 0

    def scale_to_logvol(self, logvol):
        self.inner.scale_to_logvol(logvol - self._log_scale)
        self.logvol = self.inner.logvol + self._log_scale

    def contains(self, x):
        return self.inner.contains(self.to_frame(x)[0])

    def _count(self, u):
        outside = np.any((u < 0.0) | (u > 1.0), axis=1)
        if outside.all():
            self.misses += len(u)
            if self.misses >= self.max_misses:
                raise SamplerStalledError(
                    f"expected the sampler's bound to overlap the unit cube; got {self.misses:,} draws in a row "
                    "outside it: the live points are narrower than the bound can resolve or the bound has "
                    "degenerated, and sampling from it would never end")
        else:
            self.misses = 0
        return u

    def sample(self, rstate=None, return_q=False):
        out = self.inner.sample(rstate=rstate, return_q=return_q)
        return (self._count(self.from_frame(out[0]))[0],) + tuple(out[1:])

    def samples(self, nsamples, rstate=None):
        return self._count(self.from_frame(self.inner.samples(nsamples, rstate=rstate)))

    def get_random_axes(self, rstate):
        # Axes for walks and slices, in the cube's scale (the shear's own stretch is left out: any axes serve).
        return self.scale[:, None] * self.inner.get_random_axes(rstate)
