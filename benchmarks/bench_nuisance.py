"""Nuisance-free joint analysis against the full joint run, on the analytic linear-Gaussian pair.

For each seed (dynesty, the same nlive everywhere):

* full route: one run over (theta, alpha_A, alpha_B), 8 parameters;
* nuisance-free route: the joint run over theta alone (2 parameters), given
  the two experiments' own runs and ensembles of 3 flows on their
  theta-marginals (their cost is reported separately: in practice those
  runs exist already and the flows are trained once, then reused for every
  combination).

Printed: likelihood calls and wall time of each joint run, the two joint
evidences with their errors and their standardised errors against the
analytic logZ_AB.  Nothing is asserted.

    python benchmarks/bench_nuisance.py [--seeds 3] [--nlive 500]
"""

import argparse
import time
import warnings

import flowprior as fp
from flowprior.problems import LinearGaussianPair


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--nlive", type=int, default=500)
    parser.add_argument("--n-flows", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pair = LinearGaussianPair()
    print(f"truth logZ_AB = {pair.logZ['AB']:.4f}; nlive {args.nlive}; {args.n_flows} flows per experiment")
    print(f"{'seed':>4s} | {'full calls':>10s}{'time s':>8s}{'logZ':>9s}{'err':>7s}{'z':>6s} | "
          f"{'NF calls':>9s}{'time s':>8s}{'logZ':>9s}{'err':>7s}{'(samp':>7s}{'dens':>7s}{'inp)':>7s}{'z':>6s} | "
          f"{'calls ratio':>11s}{'time ratio':>11s} | {'A+B runs calls':>14s}{'train s':>8s}", flush=True)
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        full = fp.run(pair.loglikelihood_full, pair.prior_full, nlive=args.nlive, seed=100 + seed)
        t_full = time.perf_counter() - t0
        likes, calls_ab, t_train = {}, 0, 0.0
        for i, X in enumerate("AB"):
            r = fp.run(pair.loglikelihood(X), pair.prior[X], nlive=args.nlive, seed=10 * seed + i)
            calls_ab += r.ncall
            t1 = time.perf_counter()
            likes[X] = fp.NuisanceFreeLikelihood.fit(r.samples, prior=pair.prior_core, params=pair.core,
                                                     n_flows=args.n_flows, seed=10 * seed + i)
            t_train += time.perf_counter() - t1
        joint = fp.joint(likes["A"], likes["B"])
        t2 = time.perf_counter()
        res = fp.run(joint, pair.prior_core, nlive=args.nlive, seed=200 + seed)
        t_nf = time.perf_counter() - t2
        ev = joint.evidence(res)
        z_full = (full.logZ - pair.logZ["AB"]) / full.logZerr
        z_nf = (ev.logZ - pair.logZ["AB"]) / ev.logZerr
        print(f"{seed:4d} | {full.ncall:10d}{t_full:8.1f}{full.logZ:9.3f}{full.logZerr:7.3f}{z_full:6.1f} | "
              f"{res.ncall:9d}{t_nf:8.1f}{ev.logZ:9.3f}{ev.logZerr:7.3f}{ev.sampling_err:7.3f}"
              f"{ev.density_err:7.3f}{ev.inputs_err:7.3f}{z_nf:6.1f} | "
              f"{res.ncall / full.ncall:11.3f}{t_nf / t_full:11.3f} | {calls_ab:14d}{t_train:8.1f}", flush=True)


if __name__ == "__main__":
    main()
