"""Calibration of marginal_stats' errors: z = (estimate - truth) / error over seeds, for D_KL and d_G.

Each seed draws 1,200 importance-weighted samples of a 3-D Gaussian N(0, diag(0.1, 0.2, 0.3)) from
one 1.5 times wider (ESS about 700) inside the box [-5, 5]^3, where D_KL = log 1000 - 1/2 log
det(2 pi e Sigma) and d_G = 3 exactly. It trains a bootstrap ensemble of default MAFs
(:func:`flowprior.bootstrap_ensemble`) and reports, per seed, the estimate minus the truth and z
with the ensemble's errors and with the first member's Monte Carlo errors alone. Nothing is
asserted (``docs/joint.rst`` has the latest).

    python benchmarks/bench_marginal_stats.py [--seeds 20] [--members 3]
"""

import argparse
import time

import numpy as np

import flowprior as fp

SIG2 = np.array([0.1, 0.2, 0.3])
BOX = fp.UniformPrior([-5.0] * 3, [5.0] * 3)
TRUE_D_KL = 3 * np.log(10.0) - 0.5 * np.sum(np.log(2 * np.pi * np.e * SIG2))
TRUE_D_G = 3.0


def weighted_gaussian(seed, n=1200, scale=1.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * np.sqrt(SIG2) * scale
    logw = -0.5 * np.sum(x**2 / SIG2, axis=1) * (1 - scale**-2)
    return x, np.exp(logw - logw.max())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--members", type=int, default=3)
    args = parser.parse_args()
    print(f"{'seed':>4s}{'ESS':>6s}{'D_KL - truth':>14s}{'err':>7s}{'z':>6s}{'z (MC)':>8s}"
          f"{'d_G - truth':>13s}{'err':>7s}{'z':>6s}{'z (MC)':>8s}{'time s':>8s}", flush=True)
    z = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        x, w = weighted_gaussian(seed)
        members = fp.bootstrap_ensemble(x, w, prior=BOX, n_flows=args.members, seed=seed)
        ens = fp.marginal_stats(members, nsamples=20_000, seed=seed)
        one = fp.marginal_stats(members[0], nsamples=20_000, seed=seed)
        row = [(ens.D_KL - TRUE_D_KL) / ens.D_KL_err, (one.D_KL - TRUE_D_KL) / one.D_KL_err,
               (ens.d_G - TRUE_D_G) / ens.d_G_err, (one.d_G - TRUE_D_G) / one.d_G_err]
        z.append(row)
        ess = w.sum() ** 2 / (w**2).sum()
        print(f"{seed:4d}{ess:6.0f}{ens.D_KL - TRUE_D_KL:+14.3f}{ens.D_KL_err:7.3f}{row[0]:+6.2f}{row[1]:+8.1f}"
              f"{ens.d_G - TRUE_D_G:+13.3f}{ens.d_G_err:7.3f}{row[2]:+6.2f}{row[3]:+8.1f}"
              f"{time.perf_counter() - t0:8.0f}", flush=True)
    rms = np.sqrt(np.mean(np.square(z), axis=0))
    print(f"rms z: D_KL {rms[0]:.2f} (Monte Carlo only {rms[1]:.2f}), d_G {rms[2]:.2f} (Monte Carlo only {rms[3]:.2f})")


if __name__ == "__main__":
    main()
