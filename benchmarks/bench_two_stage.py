"""two_stage versus a single run at nlive_high, on problems with analytic evidence.

Problems from :func:`flowprior.problems.named` (each inside the uniform box
[-10, 10]^d, so Z = 1 / 20^d exactly): ``gauss-d`` (correlated Gaussian),
``banana-d`` (volume-preserving twist of a Gaussian), ``bimodal-d`` (two
Gaussians with weights 0.7 / 0.3), ``unequal-d`` (0.75 / 0.25, the minor mode
0.7 times as wide), ``trimodal-d`` (0.6 / 0.3 / 0.1), ``pair-d`` (0.75 / 0.25).

For each problem and seed: total calls and logZ error of ``two_stage`` and
of a single run at ``nlive_high``, the standardised error (logZ - truth) /
logZerr, the precision-normalised cost ratio (sigma^2 x calls), and how far
the two-stage posterior's mean and covariance are from exact samples
(largest mean error in posterior standard deviations; largest covariance
error over sd_i sd_j).  Same
sampler (dynesty) for both.  Nothing asserted.

    python benchmarks/bench_two_stage.py [--problems gauss-4,banana-4] [--seeds 3] [--nlive-high 500] [--flow maf]
"""

import argparse
import time
import warnings

import numpy as np

import flowprior as fp
from flowprior.problems import named


def _moment_errors(problem, samples, seed):
    """Largest posterior-mean error (in posterior sd) and correlation-scaled covariance error."""
    exact = problem.posterior_sample(200_000, seed=seed + 1000)
    x = samples[list(problem.prior.params)].to_numpy()
    w = samples.get_weights()
    mean, cov = np.average(x, axis=0, weights=w), np.cov(x.T, aweights=w)
    true_cov = np.cov(exact.T)
    sd = np.sqrt(np.diag(true_cov))
    return (float(np.max(np.abs(mean - exact.mean(axis=0)) / sd)),
            float(np.max(np.abs(cov - true_cov) / np.outer(sd, sd))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default="gauss-2,gauss-6,banana-4,bimodal-3,bimodal-5,unequal-5,trimodal-4,pair-8")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--nlive-high", type=int, default=500)
    parser.add_argument("--nlive-low", type=int, default=50)
    parser.add_argument("--flow", default="piecewise", choices=["piecewise", "maf"])
    parser.add_argument("--gaussian-weight", type=float, default=0.2)
    parser.add_argument("--flow-scale", type=float, default=None, help="two_stage's default unless given")
    parser.add_argument("--flow-beta", type=float, default=None, help="two_stage's default unless given")
    parser.add_argument("--n-flows", type=int, default=None, help="two_stage's default unless given")
    parser.add_argument("--seed-list", default=None, help="comma-separated seeds instead of range(--seeds)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'problem':12s}{'seed':>5s}{'KL':>6s}{'single calls':>14s}{'err':>7s}{'z':>6s}"
          f"{'2-stage calls':>15s}{'(low+search+pilot+high)':>28s}{'err':>7s}{'z':>6s}{'calls %':>9s}{'s2*N %':>8s}{'K':>3s}{'mean':>6s}{'cov':>6s}{'time s':>8s}",
          flush=True)
    for spec in args.problems.split(","):
        problem = named(spec)
        loglike, prior, truth = problem.loglikelihood, problem.prior, problem.logZ
        seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
        extra = {k: v for k, v in (("flow_scale", args.flow_scale), ("flow_beta", args.flow_beta),
                                   ("n_flows", args.n_flows)) if v is not None}
        for seed in seeds:
            t0 = time.perf_counter()
            single = fp.run(loglike, prior, nlive=args.nlive_high, seed=seed)
            tw = fp.two_stage(loglike, prior, nlive_low=args.nlive_low, nlive_high=args.nlive_high,
                              flow=args.flow, gaussian_weight=args.gaussian_weight, seed=seed, **extra)
            kl = float(single.samples.D_KL())
            search, pilot = tw.diagnostics["ncall_search"], tw.diagnostics["ncall_pilot"]
            zs = (single.logZ - truth) / single.logZerr
            zt = (tw.logZ - truth) / tw.logZerr
            calls = 100 * tw.ncall / single.ncall
            mean_err, cov_err = _moment_errors(problem, tw.samples, seed)
            prec = 100 * (tw.logZerr**2 * tw.ncall) / (single.logZerr**2 * single.ncall)
            print(f"{spec:12s}{seed:5d}{kl:6.1f}{single.ncall:14d}{single.logZerr:7.3f}{zs:6.1f}"
                  f"{tw.ncall:15d}{f'({tw.low.ncall}+{search}+{pilot}+{tw.high.ncall})':>28s}{tw.logZerr:7.3f}{zt:6.1f}"
                  f"{calls:9.1f}{prec:8.2f}{tw.diagnostics.get('n_clusters', 1):3d}"
                  f"{mean_err:6.2f}{cov_err:6.2f}"
                  f"{time.perf_counter() - t0:8.0f}", flush=True)


if __name__ == "__main__":
    main()
