"""The embedded default job: train a flow prior on built-in samples and check it.

Used by ``flowprior demo``.  The samples are a seeded, weighted draw from a
correlated, curved ("banana") distribution in four dimensions, so the demo
needs no files of the user's.  Returns the numbers it reports.
"""

import time

import numpy as np

from .flow import MAF
from .priors import UniformPrior

__all__ = ["embedded_samples", "run_demo"]


def embedded_samples(n=6000, seed=2024):
    """Weighted samples of a 4-D curved target inside the box [-3, 3]^4 (no files needed)."""
    rng = np.random.default_rng(seed)
    cov = 0.3 * np.eye(4) + 0.15
    x = rng.multivariate_normal(np.zeros(4), 0.25 * cov, size=n)
    x[:, 1] += 0.8 * x[:, 0] ** 2 - 0.5
    weights = rng.uniform(0.2, 1.0, size=n)
    return x, weights, UniformPrior(-3.0, np.full(4, 3.0), params=["a", "b", "c", "d"])


def run_demo(*, seed=0, epochs=200, path=None, progress=False):
    """Train, check exactness and speed, save and reload; return a dict of checks."""
    from .io import load

    theta, weights, prior = embedded_samples()
    start = time.perf_counter()
    flow = MAF.fit(theta, weights, prior=prior, seed=seed, epochs=epochs, progress=progress)
    train_time = time.perf_counter() - start
    u = np.random.default_rng(seed + 1).random((2000, prior.ndims))
    round_trip = float(np.max(np.abs(flow.inverse_prior_transform(flow.prior_transform(u)) - u)))
    # E_pi[p / pi] = 1 for a normalised p.
    base = prior.sample(200_000, seed=seed + 2)
    ratio = np.exp(flow.log_prob(base) - prior.log_prob(base))
    edges = flow.prior_transform(np.array([[0.0] * 4, [1e-300] * 4, [1 - 1e-16] * 4, [1.0] * 4]))
    one = u[0]
    flow.prior_transform(one)
    t0 = time.perf_counter()
    for _ in range(2000):
        flow.prior_transform(one)
    per_call = (time.perf_counter() - t0) / 2000
    x = flow.sample(50_000, seed=seed + 3)
    w = weights / weights.sum()
    mean_true = w @ theta
    checks = {
        "train_time_s": train_time,
        "epochs_run": flow.history["epochs_run"],
        "best_val_loss": min(flow.history["val_loss"]),
        "round_trip_max_err": round_trip,
        "normalisation": float(ratio.mean()),
        "normalisation_err": float(ratio.std() / np.sqrt(ratio.size)),
        "edges_finite_and_inside": bool(np.all(np.isfinite(edges)) and prior._in_support(edges).all()),
        "prior_transform_us": per_call * 1e6,
        "mean_flow": x.mean(axis=0).tolist(),
        "mean_samples": mean_true.tolist(),
    }
    if path is not None:
        flow.save(path)
        reloaded = load(path)
        checks["reload_identical"] = bool(np.array_equal(reloaded.prior_transform(u), flow.prior_transform(u)))
    return flow, checks
