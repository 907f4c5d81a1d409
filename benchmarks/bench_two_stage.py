"""two_stage versus a single run at nlive_high, on problems with analytic evidence.

Problems (each inside the uniform box [-10, 10]^d, so Z = 1 / 20^d exactly,
the likelihood being a normalised density well inside the box):

* ``gauss-d``: correlated Gaussian;
* ``banana-d``: a volume-preserving twist of a Gaussian,
  y_1 = x_1, y_k = x_k - b (x_1^2 - 1) for k > 1: unit Jacobian, so the
  twisted density still integrates to 1;
* ``bimodal-d``: two Gaussians with weights 0.7 / 0.3.

For each problem and seed: total calls and logZ error of ``two_stage`` and
of a single run at ``nlive_high``, the standardised error (logZ - truth) /
logZerr, and the precision-normalised cost ratio (sigma^2 x calls).  Same
sampler (dynesty) for both.  Nothing asserted.

    python benchmarks/bench_two_stage.py [--problems gauss-4,banana-4] [--seeds 3] [--nlive-high 500]
"""

import argparse
import time
import warnings

import numpy as np
from scipy.stats import multivariate_normal

import flowprior as fp

HALF_WIDTH = 10.0


def _cov(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    c = a @ a.T + d * np.eye(d)
    s = np.sqrt(np.diag(c))
    return 0.01 * c / np.outer(s, s)


class Gauss:
    def __init__(self, d):
        self.mvn = multivariate_normal(np.linspace(-0.5, 0.5, d), _cov(d, d))

    def __call__(self, theta):
        return self.mvn.logpdf(theta)


class Banana:
    def __init__(self, d, b=3.0):
        self.b = b
        self.mvn = multivariate_normal(np.zeros(d), _cov(d, 100 + d))

    def __call__(self, theta):
        y = np.array(theta, dtype=float)
        y[1:] -= self.b * (y[0] ** 2 - 0.01)
        return self.mvn.logpdf(y)


class Bimodal:
    def __init__(self, d):
        self.a = multivariate_normal(np.full(d, -1.0), _cov(d, 200 + d))
        self.c = multivariate_normal(np.full(d, 1.0), _cov(d, 300 + d))

    def __call__(self, theta):
        return np.logaddexp(np.log(0.7) + self.a.logpdf(theta), np.log(0.3) + self.c.logpdf(theta))


PROBLEMS = {"gauss": Gauss, "banana": Banana, "bimodal": Bimodal}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default="gauss-2,gauss-6,banana-4,bimodal-3")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--nlive-high", type=int, default=500)
    parser.add_argument("--nlive-low", type=int, default=50)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'problem':12s}{'seed':>5s}{'KL':>6s}{'single calls':>14s}{'err':>7s}{'z':>6s}"
          f"{'2-stage calls':>15s}{'(low+high)':>14s}{'err':>7s}{'z':>6s}{'calls %':>9s}{'s2*N %':>8s}{'time s':>8s}",
          flush=True)
    for spec in args.problems.split(","):
        name, d = spec.split("-")
        d = int(d)
        loglike = PROBLEMS[name](d)
        prior = fp.UniformPrior(np.full(d, -HALF_WIDTH), np.full(d, HALF_WIDTH))
        truth = -d * np.log(2 * HALF_WIDTH)
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            single = fp.run(loglike, prior, nlive=args.nlive_high, seed=seed)
            tw = fp.two_stage(loglike, prior, nlive_low=args.nlive_low, nlive_high=args.nlive_high, seed=seed)
            kl = float(single.samples.D_KL())
            zs = (single.logZ - truth) / single.logZerr
            zt = (tw.logZ - truth) / tw.logZerr
            calls = 100 * tw.ncall / single.ncall
            prec = 100 * (tw.logZerr**2 * tw.ncall) / (single.logZerr**2 * single.ncall)
            print(f"{spec:12s}{seed:5d}{kl:6.1f}{single.ncall:14d}{single.logZerr:7.3f}{zs:6.1f}"
                  f"{tw.ncall:15d}{f'({tw.low.ncall}+{tw.high.ncall})':>14s}{tw.logZerr:7.3f}{zt:6.1f}"
                  f"{calls:9.1f}{prec:8.2f}"
                  f"{time.perf_counter() - t0:8.0f}", flush=True)


if __name__ == "__main__":
    main()
