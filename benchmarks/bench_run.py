"""Wall time of a dynesty run whose prior is a flow, by evaluation path, side by side.

d = 5, 5 MADEs of [50, 50], a cheap Gaussian likelihood (the case where the
prior transform dominates), nlive 200, same seed.  The TFP row wraps the same
network's transform in a tf.function.  Printed as ratios; nothing asserted.

    python benchmarks/bench_run.py [--nlive 200]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import flowprior as fp  # noqa: E402

D = 5


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nlive", type=int, default=200)
    args = parser.parse_args()
    import dynesty
    import tensorflow as tf
    import tensorflow_probability as tfp

    rng = np.random.default_rng(0)
    cov = 0.01 * (0.5 * np.eye(D) + 0.5)
    samples = rng.multivariate_normal(np.full(D, 0.5), cov, size=10_000)
    prior = fp.UniformPrior(np.full(D, -1.0), np.full(D, 2.0))
    flow = fp.MAF.fit(samples, prior=prior, seed=0, epochs=100)
    mu = np.full(D, 0.52)

    def loglike(theta):
        return -0.5 * float(np.sum((theta - mu) ** 2)) / 0.01

    dist = flow.tfp_distribution()
    normal = tfp.distributions.Normal(tf.constant(0.0, tf.float64), 1.0)

    lower, width = tf.constant(prior.lower), tf.constant(prior.upper - prior.lower)

    @tf.function
    def tfp_transform(u):
        return lower + width * normal.cdf(dist.bijector.forward(tf.math.ndtri(u)))

    def tfp_prior_transform(u):
        return tfp_transform(tf.constant(u[None])).numpy()[0]

    u_check = np.random.default_rng(2).random(D)
    np.testing.assert_allclose(tfp_prior_transform(u_check), flow.prior_transform(u_check), rtol=1e-9)
    rows = []
    for name, transform in [("flowprior (numba)", flow.prior_transform),
                            ("flowprior (NumPy path)", flow.with_backend("numpy").prior_transform),
                            ("TFP tf.function", tfp_prior_transform)]:
        transform(np.full(D, 0.5))
        calls = [0]

        def counted(u, transform=transform, calls=calls):
            calls[0] += 1
            return transform(u)

        sampler = dynesty.NestedSampler(loglike, counted, D, nlive=args.nlive, rstate=np.random.default_rng(1))
        t0 = time.perf_counter()
        sampler.run_nested(print_progress=False)
        wall = time.perf_counter() - t0
        rows.append((name, wall, calls[0], sampler.results.logz[-1], sampler.results.logzerr[-1]))
    base = rows[0][1]
    print(f"\ndynesty, d={D}, nlive={args.nlive}, flow prior of 5 MADEs [50, 50], cheap likelihood")
    print(f"{'prior transform':26s}{'wall (s)':>10s}{'vs numba':>10s}{'transforms':>12s}{'logZ':>10s}")
    for name, wall, calls, logz, err in rows:
        print(f"{name:26s}{wall:10.1f}{wall / base:10.2f}{calls:12d}{logz:8.2f}+-{err:.2f}")


if __name__ == "__main__":
    main()
