"""flowprior against nautilus and a plain dynesty run, side by side, on problems with analytic evidence.

nautilus is a benchmark-only dependency: ``pip install nautilus-sampler`` (1.0.6 measured). For each
problem and seed it runs

* dynesty, one run at nlive 500 with its defaults (``fp.run``);
* nautilus, n_live 200, ``n_eff`` chosen for the common target (logZerr ~ 1/sqrt(n_eff), its
  documented statistical error), with and without ``discard_exploration`` (its unbiased setting);
* ``fp.two_stage`` with its defaults, and with ``target_logZerr`` at the common target;
* with ``--defaults``, nautilus at its own defaults too (n_live 2000, n_eff 10,000).

Each row: likelihood calls (counted inside the likelihood), logZ - truth, logZerr, z and
calls x logZerr^2 (the cost of a unit of evidence precision). Nothing is asserted.

    python benchmarks/bench_peers.py [--problems banana-4,banana-6,bimodal-5,gauss-10] [--seeds 3] [--target 0.025]
"""

import argparse
import time
import warnings

import numpy as np

import flowprior as fp
from flowprior.problems import named
from flowprior.samplers.counting import CountedLikelihood


def run_dynesty(problem, seed, _target):
    c = CountedLikelihood(problem.loglikelihood)
    res = fp.run(c, problem.prior, nlive=500, seed=seed)
    return c.ncall, res.logZ, res.logZerr


def run_nautilus(n_live, n_eff, discard):
    def go(problem, seed, _target):
        import nautilus

        c = CountedLikelihood(problem.loglikelihood)
        sampler = nautilus.Sampler(problem.prior.prior_transform, c, n_dim=problem.ndims, n_live=n_live, seed=seed)
        sampler.run(n_eff=n_eff, discard_exploration=discard, verbose=False)
        return c.ncall, float(sampler.log_z), 1.0 / np.sqrt(sampler.n_eff)
    return go


def run_two_stage(with_target):
    def go(problem, seed, target):
        c = CountedLikelihood(problem.loglikelihood)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            tw = fp.two_stage(c, problem.prior, seed=seed, target_logZerr=target if with_target else None)
        assert tw.ncall == c.ncall
        return c.ncall, tw.logZ, tw.logZerr
    return go


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default="banana-4,banana-6,bimodal-5,gauss-10")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.025)
    parser.add_argument("--defaults", action="store_true", help="also nautilus at its own defaults")
    parser.add_argument("--tools", default=None, help="comma-separated subset of the tool names below")
    args = parser.parse_args()
    n_eff = int(np.ceil(args.target ** -2))
    tools = {
        "dynesty 500": run_dynesty,
        "nautilus 200": run_nautilus(200, n_eff, False),
        "nautilus 200 discard": run_nautilus(200, n_eff, True),
        "two_stage": run_two_stage(False),
        f"two_stage {args.target}": run_two_stage(True),
    }
    if args.defaults:
        tools["nautilus defaults"] = run_nautilus(2000, 10000, False)
        tools["nautilus defaults discard"] = run_nautilus(2000, 10000, True)
    if args.tools:
        tools = {k: v for k, v in tools.items() if k in args.tools.split(",")}
    print(f"{'problem':10s}{'seed':>5s}  {'tool':26s}{'calls':>9s}{'dlogZ':>9s}{'err':>7s}{'z':>7s}"
          f"{'calls*err^2':>12s}{'time s':>8s}", flush=True)
    summary = {}
    for spec in args.problems.split(","):
        problem = named(spec)
        for seed in range(args.seeds):
            for name, tool in tools.items():
                t0 = time.perf_counter()
                ncall, logZ, err = tool(problem, seed, args.target)
                z = (logZ - problem.logZ) / err
                summary.setdefault((spec, name), []).append((ncall, z, ncall * err**2))
                print(f"{spec:10s}{seed:5d}  {name:26s}{ncall:9d}{logZ - problem.logZ:9.3f}{err:7.3f}{z:7.2f}"
                      f"{ncall * err**2:12.2f}{time.perf_counter() - t0:8.0f}", flush=True)
    print(f"\n{'problem':10s}  {'tool':26s}{'mean calls':>11s}{'max |z|':>8s}{'calls*err^2':>12s}")
    for (spec, name), rows in summary.items():
        a = np.asarray(rows)
        print(f"{spec:10s}  {name:26s}{a[:, 0].mean():11.0f}{np.abs(a[:, 1]).max():8.2f}{a[:, 2].mean():12.2f}")


if __name__ == "__main__":
    main()
