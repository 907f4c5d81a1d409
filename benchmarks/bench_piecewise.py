"""Piecewise MAF against a single MAF (equal parameter count) and margarine's clusterMAF.

Targets with known densities, all inside the box [-6, 6]^d:

* ``moons``: two half-circle arcs with Gaussian noise (sd 0.1); the density
  is the arc integral, done on 4,000 nodes;
* ``eight``: eight equal Gaussians (sd 0.3) on a circle of radius 4;
* ``rings``: two concentric rings (radii 1 and 2.5, sd 0.1), weights 0.5;
* ``blobs5``: three 5-D Gaussians (sd 0.5), weights 0.5 / 0.3 / 0.2.

For each target and seed (5,000 training samples): KL(target || flow) by
Monte Carlo over 20,000 target draws, with its standard error, and the
flow's mass "between the modes": the probability the flow puts where the
target's log-density is below its own 0.1% quantile (0.001 for a perfect
flow).  "EM" counts the refinement steps the piecewise fit took.  The
single MAF's hidden width is chosen so its parameter count is closest to
the piecewise flow's.  margarine 1.4.2's clusterMAF gets the
piecewise flow's per-cluster architecture (its own choice of K).  Finally the
piecewise fit of ``eight`` is timed with one and with two training
processes.  Nothing is asserted.

    pip install --no-deps margarine==1.4.2   # optional; its columns are skipped if absent
    python benchmarks/bench_piecewise.py [--targets moons,eight] [--seeds 3] [--skip-margarine]
"""

import argparse
import os
import time
import warnings

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import flowprior as fp

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # margarine 1.4.2 needs the legacy Keras

HALF = 6.0
ARCH = dict(hidden_layers=(32, 32), number_networks=5, epochs=300, patience=20)


def _ring_logpdf(x, centres, sd):
    out = np.empty(len(x))
    for s in range(0, len(x), 1000):  # chunks: 1000 x 4000 nodes at a time
        d2 = ((x[s:s + 1000, None, :] - centres[None]) ** 2).sum(-1)
        out[s:s + 1000] = logsumexp(-0.5 * d2 / sd**2, axis=1)
    return out - np.log(len(centres)) - np.log(2 * np.pi * sd**2)


class Moons:
    ndims, sd = 2, 0.1

    def __init__(self):
        t = (np.arange(4000) + 0.5) / 4000 * np.pi
        self.arcs = [np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]]

    def sample(self, n, rng):
        t = rng.uniform(0, np.pi, n)
        which = rng.random(n) < 0.5
        x = np.where(which[:, None], np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
        return x + rng.normal(0, self.sd, (n, 2))

    def logpdf(self, x):
        return np.logaddexp(*[np.log(0.5) + _ring_logpdf(x, a, self.sd) for a in self.arcs])


class Rings(Moons):
    radii, w = (1.0, 2.5), (0.5, 0.5)

    def __init__(self):
        t = (np.arange(4000) + 0.5) / 4000 * 2 * np.pi
        self.arcs = [r * np.c_[np.cos(t), np.sin(t)] for r in self.radii]

    def sample(self, n, rng):
        r = np.where(rng.random(n) < self.w[0], *self.radii)
        t = rng.uniform(0, 2 * np.pi, n)
        return r[:, None] * np.c_[np.cos(t), np.sin(t)] + rng.normal(0, self.sd, (n, 2))


class GaussMix:
    def __init__(self, means, sd, weights):
        self.means, self.sd, self.w = np.asarray(means, float), sd, np.asarray(weights, float)
        self.ndims = self.means.shape[1]
        self.comps = [multivariate_normal(m, sd**2 * np.eye(self.ndims)) for m in self.means]

    def sample(self, n, rng):
        k = rng.choice(len(self.w), size=n, p=self.w)
        return self.means[k] + rng.normal(0, self.sd, (n, self.ndims))

    def logpdf(self, x):
        return logsumexp([np.log(w) + c.logpdf(x) for w, c in zip(self.w, self.comps)], axis=0)


def eight():
    a = np.arange(8) * 2 * np.pi / 8
    return GaussMix(4 * np.c_[np.cos(a), np.sin(a)], 0.3, np.full(8, 1 / 8))


def blobs5():
    return GaussMix([[-3.0] * 5, [0, 3, 0, 3, 0], [3.0] * 5], 0.5, [0.5, 0.3, 0.2])


TARGETS = {"moons": Moons, "eight": eight, "rings": Rings, "blobs5": blobs5}


def _count(ndims, width):
    from flowprior.training import _tfp

    _, mades = _tfp.build_distribution(ndims=ndims, hidden_layers=(width, width),
                                       number_networks=ARCH["number_networks"], activation="tanh",
                                       perms=np.array([np.arange(ndims)] * (ARCH["number_networks"] - 1)),
                                       seed=0)
    _, biases, masks = _tfp.network_weights(mades)
    return sum(int(m.sum()) + b.size for ms, bs in zip(masks, biases) for m, b in zip(ms, bs))


def _matched_width(ndims, n_params):
    widths = np.arange(8, 400, 4)
    counts = np.array([_count(ndims, int(w)) for w in widths])
    return int(widths[np.argmin(np.abs(counts - n_params))])


def _scores(target, logq, draws, flow_draws, threshold):
    diff = target.logpdf(draws) - logq(draws)
    kl, err = diff.mean(), diff.std() / np.sqrt(diff.size)
    between = float(np.mean(target.logpdf(flow_draws) < threshold))
    return kl, err, between


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="moons,eight,rings,blobs5")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--speedup-only", action="store_true", help="only time parallel training")
    parser.add_argument("--skip-speedup", action="store_true", help="skip timing parallel training")
    parser.add_argument("--skip-margarine", action="store_true", help="leave out margarine's column")
    args = parser.parse_args()
    if not args.speedup_only:
        _compare(args)
    if not args.skip_speedup:
        _speedup(args)


def _compare(args):
    warnings.simplefilter("ignore")
    try:
        if args.skip_margarine:
            raise ImportError("--skip-margarine")
        from margarine.clustered import clusterMAF
    except Exception as exc:  # noqa: BLE001 -- any import failure just skips the column
        clusterMAF = None
        print(f"margarine not importable ({exc}); its columns are skipped")
    print(f"{'target':8s}{'seed':>5s}{'K':>3s}{'params':>8s}{'EM':>3s} | {'single KL':>17s}{'between':>9s} | "
          f"{'piecewise KL':>17s}{'between':>9s} | {'margarine KL':>17s}{'between':>9s}{'K':>4s}", flush=True)
    for name in args.targets.split(","):
        target = TARGETS[name]()
        d = target.ndims
        box = fp.UniformPrior(np.full(d, -HALF), np.full(d, HALF))
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            train = target.sample(args.n, rng)
            draws = target.sample(20_000, rng)
            threshold = np.quantile(target.logpdf(target.sample(200_000, rng)), 0.001)
            pw = fp.PiecewiseMAF.fit(train, prior=box, seed=seed, **ARCH)
            width = _matched_width(d, pw.n_parameters)
            single = fp.MAF.fit(train, prior=box, seed=seed,
                                **{**ARCH, "hidden_layers": (width, width)})
            row = [_scores(target, f.log_prob, draws, f.sample(20_000, seed=seed + 100), threshold)
                   for f in (single, pw)]
            line = (f"{name:8s}{seed:5d}{pw.n_clusters:3d}{pw.n_parameters:8d}"
                    f"{len(pw.fit_info['cluster_wall_times']) // pw.n_clusters - 1:3d} | "
                    + " | ".join(f"{kl:8.3f} ± {err:6.3f}{b:9.4f}" for kl, err, b in row))
            if clusterMAF is not None:
                m = clusterMAF(train.astype(np.float32), theta_min=box.lower.astype(np.float32),
                               theta_max=box.upper.astype(np.float32),
                               number_networks=ARCH["number_networks"], hidden_layers=[32, 32])
                m.train(epochs=ARCH["epochs"], early_stop=True)
                kl, err, b = _scores(target, lambda x, m=m: np.asarray(m.log_prob(x.astype(np.float32)), float),
                                     draws, np.asarray(m.sample(20_000), float), threshold)
                line += f" | {kl:8.3f} ± {err:6.3f}{b:9.4f}{m.cluster_number:4d}"
            print(line, flush=True)


def _speedup(args):
    target = eight()
    train = target.sample(args.n, np.random.default_rng(0))
    box = fp.UniformPrior([-HALF, -HALF], [HALF, HALF])
    times = {}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        fp.PiecewiseMAF.fit(train, prior=box, seed=0, n_jobs=jobs, **ARCH)
        times[jobs] = time.perf_counter() - t0
    print(f"\nparallel training, eight (K=8): 1 process {times[1]:.1f} s, 2 processes {times[2]:.1f} s, "
          f"speed-up {times[1] / times[2]:.2f}x on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
