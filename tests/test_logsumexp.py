"""The lean logsumexp agrees with scipy's, including infinities and axes."""

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from flowprior.kernels.logsumexp import logsumexp


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_agrees_with_scipy(axis):
    a = np.random.default_rng(0).normal(scale=300, size=(7, 5))
    a[2, :] = -np.inf
    a[:, 3] = -np.inf
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(logsumexp(a, axis=axis), scipy_logsumexp(a, axis=axis), rtol=1e-14)


def test_keepdims_and_all_minus_inf():
    a = np.full((3, 2), -np.inf)
    assert logsumexp(a, axis=1, keepdims=True).shape == (3, 1)
    assert np.all(logsumexp(a, axis=1) == -np.inf)
    assert logsumexp([0.0, 0.0]) == pytest.approx(np.log(2.0), abs=1e-15)
