"""Calibration and cost of fp.importance and fp.reweight on problems with analytic evidence.

importance: a flow is trained once per problem on exact posterior draws (a stand-in for a stage-1
posterior), then used as the proposal of many importance runs with different seeds; z is
(logZ - truth) / logZerr. reweight: MoreDataPair (B = A times more data), A's samples exact, a
new flow per seed. Nothing is asserted; the tables go to stdout.

    python benchmarks/bench_importance.py [--problems gauss-4,banana-4,bimodal-3] [--seeds 10] [--n-eff 1000]
"""

import argparse
import time
import warnings

import numpy as np

import flowprior as fp
from flowprior.problems import MoreDataPair, named

FLOW = {"hidden_layers": (50, 50), "number_networks": 4, "epochs": 300, "patience": 30}


def posterior_draws(problem, n, seed):
    if hasattr(problem, "posterior_sample"):
        return problem.posterior_sample(n, seed=seed)
    raise SystemExit(f"{problem!r} has no exact posterior sampler")


def row(name, seed, res, truth, extra=""):
    z = (res.logZ - truth) / res.logZerr
    d = res.diagnostics
    print(f"{name:14s}{seed:5d}{res.logZ - truth:10.4f}{res.logZerr:9.4f}{z:7.2f}{res.ncall:8d}{res.n_eff:8.0f}"
          f"{d['pareto_k']:8.2f}{d['prior_branch_fraction']:9.4f}{extra}", flush=True)
    return z


def summary(name, z):
    z = np.asarray(z)
    print(f"{name:14s} runs {len(z)}, rms z {np.sqrt(np.mean(z**2)):.2f}, max |z| {np.max(np.abs(z)):.2f}, "
          f"mean z {np.mean(z):.2f}\n", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default="gauss-4,banana-4,bimodal-3")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-eff", type=float, default=1000)
    parser.add_argument("--train", type=int, default=3000, help="exact posterior draws the flow is trained on")
    args = parser.parse_args()
    print(f"{'problem':14s}{'seed':>5s}{'dlogZ':>10s}{'logZerr':>9s}{'z':>7s}{'ncall':>8s}{'n_eff':>8s}"
          f"{'k-hat':>8s}{'prior br':>9s}", flush=True)
    every = []
    for spec in args.problems.split(","):
        problem = named(spec)
        t0 = time.perf_counter()
        flow = fp.PiecewiseMAF.fit(posterior_draws(problem, args.train, 0), prior=problem.prior, seed=0, **FLOW) \
            if spec.startswith(("bimodal", "unequal", "trimodal", "pair")) else \
            fp.MAF.fit(posterior_draws(problem, args.train, 0), prior=problem.prior, seed=0, **FLOW)
        print(f"# {spec}: flow trained in {time.perf_counter() - t0:.0f} s", flush=True)
        z = []
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = fp.importance(problem.loglikelihood, problem.prior, flow, n_eff=args.n_eff, seed=seed)
            z.append(row(spec, seed, res, problem.logZ))
        summary(spec, z)
        every += z
    for ratio, shift in ((0.7, 0.0), (0.7, 0.5)):
        pair = MoreDataPair(4, ratio=ratio, shift=shift)
        name = f"reweight r{ratio}s{shift}"
        z, mean_err = [], []
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = fp.reweight(pair.loglikelihood_B, pair.posterior_sample_A(args.train, seed=seed),
                                  prior=pair.prior, n_eff=args.n_eff, seed=seed, flow_options=FLOW)
            theta = res.samples[list(pair.prior.params)].to_numpy()
            mean = np.average(theta, weights=res.samples.get_weights(), axis=0)
            err = float(np.max(np.abs(mean - pair.mean_B) / np.sqrt(np.diag(pair.cov_B))))
            mean_err.append(err)
            z.append(row(name, seed, res, pair.logZ_B, f"  mean {err:.3f} sd, calls/n_eff {res.ncall / res.n_eff:.2f}"))
        summary(name, z)
        every += z
    summary("all", every)


if __name__ == "__main__":
    main()
