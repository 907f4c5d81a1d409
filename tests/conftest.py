"""Shared, small trained flows: tiny architectures keep the suite fast."""

import numpy as np
import pytest

import flowprior as fp

from .helpers import COV2, MEAN2, TINY


@pytest.fixture(scope="session")
def box2():
    return fp.UniformPrior([-1.0, -1.0], [2.0, 2.0], params=["a", "b"])


@pytest.fixture(scope="session")
def gauss2_samples():
    rng = np.random.default_rng(42)
    return rng.multivariate_normal(MEAN2, COV2, size=4000)


@pytest.fixture(scope="session")
def flow2(gauss2_samples, box2):
    """A 2-D flow trained on a correlated Gaussian inside a uniform box."""
    return fp.MAF.fit(gauss2_samples, prior=box2, seed=0, **TINY)


@pytest.fixture(scope="session")
def flow3():
    """A 3-D flow, non-Gaussian target, on a mixed base prior (flow on a flow's cube)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 3)) * [0.5, 0.3, 0.4]
    x[:, 1] += 0.5 * x[:, 0] ** 2
    base = fp.GaussianPrior([0.0, 0.3, 0.0], [1.0, 1.0, 1.0], params=["x", "y", "z"])
    return fp.MAF.fit(x, prior=base, seed=1, hidden_layers=(12, 12), number_networks=2, epochs=30, patience=5)


@pytest.fixture(scope="session")
def loguniform_flow():
    rng = np.random.default_rng(3)
    s = np.exp(rng.normal(np.log(10.0), 0.5, size=(2000, 1)))
    base = fp.LogUniformPrior([0.1], [1000.0], params=["A"])
    return fp.MAF.fit(s, prior=base, seed=2, hidden_layers=(8, 8), number_networks=2, epochs=30, patience=5)
