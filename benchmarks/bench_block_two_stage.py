"""two_stage on a 20-D problem of independent groups, against a single dynesty run: calls and evidence.

The problem is :class:`flowprior.problems.BlockProblem` with a 6-D banana core, two nuisance
pairs, a triple, two Gaussian and five unconstrained single parameters (20 in all), in the box
[-10, 10]^20, so logZ = -20 log 20 exactly.  two_stage runs with ``flow="block"`` (and, with
``--flows``, the other flows too), ``nlive_low=100`` (50 live points bound 20 dimensions with too
few points per ellipsoid), ``target_logZerr=0.05``; the single run is dynesty at nlive 500 with its
defaults.  Every call is counted inside the likelihood.  Nothing is asserted.

    python benchmarks/bench_block_two_stage.py [--seeds 1] [--flows block,maf] [--no-single]
                                               [--single-sample rslice]
"""

import argparse
import time
import warnings

import flowprior as fp
from flowprior.problems import BlockProblem
from flowprior.samplers.counting import CountedLikelihood


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--flows", default="block")
    parser.add_argument("--no-single", action="store_true")
    parser.add_argument("--single-sample", default=None,
                        help="dynesty's sample= for the single run (its default at 20-D, random walks, was biased)")
    args = parser.parse_args()
    problem = BlockProblem(pairs=(0.8, 0.5), triples=(0.6,), gaussian_singles=2, flat_singles=5)
    print(f"{problem!r}; truth logZ {problem.logZ:.3f}", flush=True)
    print(f"{'run':22s}{'seed':>5s}{'calls':>10s}{'logZ - truth':>14s}{'err':>7s}{'z':>7s}{'time s':>8s}", flush=True)
    for seed in range(args.seeds):
        rows = []
        for flow in args.flows.split(","):
            counted = CountedLikelihood(problem.loglikelihood)
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                tw = fp.two_stage(counted, problem.prior, flow=flow, nlive_low=100, seed=seed, target_logZerr=0.05)
            rows.append((f"two_stage flow={flow}", counted.ncall, tw.logZ, tw.logZerr, time.perf_counter() - t0))
            for w in caught:
                print(f"  warning: {w.message}", flush=True)
        if not args.no_single:
            counted = CountedLikelihood(problem.loglikelihood)
            t0 = time.perf_counter()
            options = {} if args.single_sample is None else {"sample": args.single_sample}
            res = fp.run(counted, problem.prior, nlive=500, seed=seed, **options)
            name = "dynesty nlive 500" + ("" if args.single_sample is None else f" {args.single_sample}")
            rows.append((name, counted.ncall, res.logZ, res.logZerr, time.perf_counter() - t0))
        for name, ncall, logZ, err, dt in rows:
            print(f"{name:22s}{seed:5d}{ncall:10d}{logZ - problem.logZ:14.3f}{err:7.3f}"
                  f"{(logZ - problem.logZ) / err:7.2f}{dt:8.0f}", flush=True)
        if not args.no_single:
            single, single_err = rows[-1][1], rows[-1][3]
            for name, ncall, _, err, _ in rows[:-1]:
                # Calls x logZerr^2 compares runs of different precision (the error falls as 1/sqrt(calls)).
                print(f"  {name}: {ncall / single:.1%} of the single run's calls, "
                      f"{ncall * err**2 / (single * single_err**2):.1%} of its calls x logZerr^2", flush=True)


if __name__ == "__main__":
    main()
