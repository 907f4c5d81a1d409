"""Calibration of two_stage's error bar: z = (logZ - truth) / logZerr over many runs with analytic evidence.

For honest errors z is close to a standard normal: rms 1, and |z| beyond 3.5 about once in 2,000 runs.
Each problem (:func:`flowprior.problems.named`) lies in the box [-10, 10]^d, so Z = 20^-d exactly.
Every run uses two_stage's defaults; the seeds are 0, 1, ...  Nothing is asserted: the table and the
summary go to stdout (``docs/two_stage.rst`` has the latest).

    python benchmarks/bench_calibration.py [--runs gauss-2:6,banana-4:6,...] [--sampler dynesty]
"""

import argparse
import time
import warnings

import numpy as np

import flowprior as fp
from flowprior.problems import named

DEFAULT_RUNS = "gauss-2:6,banana-4:6,unequal-5:8,trimodal-4:6,pair-8:4,gauss-10:3"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="problem:number of seeds, comma-separated")
    parser.add_argument("--sampler", default="dynesty", choices=["dynesty", "polychord"])
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'problem':12s}{'seed':>5s}{'logZ - truth':>14s}{'logZerr':>9s}{'z':>7s}{'ncall':>9s}{'search':>8s}{'pilot':>7s}"
          f"{'recovered':>10s}{'warnings':>9s}{'time s':>8s}", flush=True)
    by_problem = {}
    for item in args.runs.split(","):
        spec, n = item.split(":")
        problem = named(spec)
        for seed in range(args.first_seed, args.first_seed + int(n)):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                tw = fp.two_stage(problem.loglikelihood, problem.prior, sampler=args.sampler, seed=seed)
            n_warn = sum(issubclass(w.category, RuntimeWarning) for w in caught)
            z = (tw.logZ - problem.logZ) / tw.logZerr
            by_problem.setdefault(spec, []).append(z)
            d = tw.diagnostics
            print(f"{spec:12s}{seed:5d}{tw.logZ - problem.logZ:14.3f}{tw.logZerr:9.3f}{z:7.2f}{tw.ncall:9d}"
                  f"{d['ncall_search']:8d}{d['ncall_pilot']:7d}{len(d['recovered_modes']):10d}{n_warn:9d}"
                  f"{time.perf_counter() - t0:8.0f}", flush=True)
    print("\nproblem        runs  rms z  max |z|  mean z")
    every = []
    for spec, z in by_problem.items():
        z = np.asarray(z)
        every += list(z)
        print(f"{spec:12s}{len(z):6d}{np.sqrt(np.mean(z**2)):7.2f}{np.max(np.abs(z)):9.2f}{np.mean(z):8.2f}")
    z = np.asarray(every)
    print(f"{'all':12s}{len(z):6d}{np.sqrt(np.mean(z**2)):7.2f}{np.max(np.abs(z)):9.2f}{np.mean(z):8.2f}")


if __name__ == "__main__":
    main()
