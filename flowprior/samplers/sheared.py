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
:math:`m + s\,y` with dynesty's own multi-ellipsoids.  The spine is the coordinate whose
shear gives the smallest single bounding ellipsoid.  The sheared multi-ellipsoids are kept
only if their volume is below that of dynesty's multi-ellipsoids in the cube by more than
the BIC price of the :math:`d - 1` coefficients, :math:`(d-1)\ln n / n` in :math:`\ln V`
(as dynesty prices a split); otherwise the bound is dynesty's ``multi`` exactly.

The map has unit Jacobian, so a point uniform in the ellipsoids in :math:`y` is uniform in
their pre-image in :math:`u`: the bound's volume, and nested sampling's exactness, are those
of the ellipsoids.  A pre-image reaching outside the unit cube costs draws that dynesty
rejects without a likelihood call.  It is meant for ``sample="unif"``; the axes it offers the
walk and slice samplers are the sheared frame's, still valid proposals.
"""

import numpy as np
from dynesty import bounding

__all__ = ["ShearedEllipsoids"]


def _quadratic_coefficients(z, j):
    """Quadratic coefficient of every column of ``z`` fitted on column ``j`` (with constant and linear terms)."""
    x = z[:, j]
    design = np.column_stack([np.ones_like(x), x, x * x])
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    g = coef[2].copy()
    g[j] = 0.0
    return g


class ShearedEllipsoids(bounding.Bound):
    """dynesty's multi-ellipsoids in a volume-preserving sheared frame (see module docs)."""

    def __init__(self, ndim):
        super().__init__(ndim)
        self.inner = bounding.MultiEllipsoid(ndim)
        self.logvol = self.inner.logvol
        self.centre = np.zeros(ndim)
        self.scale = np.ones(ndim)
        self.spine = -1  # -1: the identity frame
        self.coefficients = np.zeros(ndim)
        self.offset = 0.0

    def _shear(self, u, sign):
        u = np.atleast_2d(np.asarray(u, dtype=np.float64))
        if self.spine < 0:
            return u
        z = (u - self.centre) / self.scale
        z = z - sign * np.outer(z[:, self.spine] ** 2 - self.offset, self.coefficients)
        return z * self.scale + self.centre

    def to_frame(self, u):
        """The sheared frame's coordinates of cube points ``u``, shape ``(n, ndim)``."""
        return self._shear(u, 1.0)

    def from_frame(self, y):
        """The cube points of frame coordinates ``y`` (the exact inverse of :meth:`to_frame`)."""
        return self._shear(y, -1.0)

    def _choose_frame(self, points):
        """Centre, scale and the spine whose shear gives the smallest single bounding ellipsoid."""
        n, d = points.shape
        self.centre = points.mean(axis=0)
        scale = points.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        z = (points - self.centre) / self.scale
        best = (np.inf, -1, np.zeros(d), 0.0)
        for j in range(d):
            g = _quadratic_coefficients(z, j)
            c = float(np.mean(z[:, j] ** 2))
            y = (z - np.outer(z[:, j] ** 2 - c, g)) * self.scale + self.centre
            logvol = bounding.bounding_ellipsoid(y).logvol
            if logvol < best[0]:
                best = (logvol, j, g, c)
        _, self.spine, self.coefficients, self.offset = best

    def update(self, points, rstate=None, bootstrap=0, pool=None, mc_integrate=False):
        """Bound ``points`` with multi-ellipsoids in the best sheared frame, or in the cube if that is smaller."""
        points = np.asarray(points, dtype=np.float64)
        n, d = points.shape
        identity = bounding.MultiEllipsoid(d)
        identity.update(points, rstate=rstate, bootstrap=bootstrap, pool=pool, mc_integrate=mc_integrate)
        self._choose_frame(points)
        sheared = bounding.MultiEllipsoid(d)
        sheared.update(self.to_frame(points), rstate=rstate, bootstrap=bootstrap, pool=pool,
                       mc_integrate=mc_integrate)
        # The shear's d - 1 coefficients are paid for as dynesty pays for a split (BIC).
        if sheared.logvol < identity.logvol - (d - 1) * np.log(n) / n:
            self.inner = sheared
        else:
            self.inner, self.spine = identity, -1
        self.logvol = self.inner.logvol

    def scale_to_logvol(self, logvol):
        self.inner.scale_to_logvol(logvol)
        self.logvol = self.inner.logvol

    def contains(self, x):
        return self.inner.contains(self.to_frame(x)[0])

    def sample(self, rstate=None, return_q=False):
        out = self.inner.sample(rstate=rstate, return_q=return_q)
        return (self.from_frame(out[0])[0],) + tuple(out[1:])

    def samples(self, nsamples, rstate=None):
        return self.from_frame(self.inner.samples(nsamples, rstate=rstate))

    def get_random_axes(self, rstate):
        return self.inner.get_random_axes(rstate)
