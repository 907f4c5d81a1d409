"""Shape and value checks shared by every public entry point.

Messages follow the form ``"expected ...; got ..."`` so that the caller sees
both what was wanted and what arrived.
"""

import numpy as np

from ..errors import FlowpriorValueError

__all__ = ["as_points", "check_unit_cube"]


def as_points(x, ndims, name):
    """Return ``x`` as a float64 array of shape ``(n, ndims)``.

    Returns the 2-D array and whether the input was a single point, so that
    the caller can give back the shape it was handed.
    """
    arr = x if type(x) is np.ndarray and x.dtype == np.float64 else np.asarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == ndims:
        return arr[None, :], True
    if arr.ndim == 2 and arr.shape[1] == ndims:
        return arr, False
    raise FlowpriorValueError(
        f"expected {name} of shape ({ndims},) or (n, {ndims}); got shape {arr.shape}"
    )


def check_unit_cube(u):
    """Raise unless every entry of ``u`` is a number in the closed interval [0, 1]."""
    # min and max propagate NaN, and NaN fails both comparisons.
    if u.size and not (u.min() >= 0.0 and u.max() <= 1.0):
        bad = u[~((u >= 0.0) & (u <= 1.0))]
        raise FlowpriorValueError(
            f"expected u in [0, 1]; got {bad.size} value(s) outside, e.g. {bad.flat[0]!r}"
        )

