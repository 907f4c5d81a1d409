"""The standard normal distribution in float64, safe at the edges of [0, 1].

``scipy.special.ndtri`` maps 0 and 1 to infinities, and an infinity fed to a
masked network meets a masked zero weight and turns into NaN.  Every map from
the cube to the real line in flowprior therefore goes through
:func:`ndtri_clipped`, which clamps to :data:`Z_MAX`, just beyond the
quantile of the smallest positive float64 (5e-324 gives -38.47), so every
representable ``u`` in (0, 1) keeps its exact quantile.
"""

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["Z_MAX", "LOG_SQRT_2PI", "ndtr", "ndtri_clipped"]

Z_MAX = 38.5
LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def ndtri_clipped(u):
    """Standard normal quantile of ``u``, clipped to [-Z_MAX, Z_MAX]."""
    z = ndtri(u)
    # In place, and without np.clip, whose wrapper costs more than the work here.
    np.maximum(z, -Z_MAX, out=z)
    return np.minimum(z, Z_MAX, out=z)

