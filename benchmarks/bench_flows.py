"""Flow fidelity: D_KL(target || flow) against exact densities, training time and latency, side by side.

Problems (analytic densities, :mod:`flowprior.problems` and below):

* ``banana-6``: the 6-D banana of unit curvature and widths 1 to 0.2 (``BlockProblem``'s core
  before its scaling), from ``n`` importance-weighted samples: draws of the same banana twice
  as wide, weighted by target / proposal (effective sample size about n / 12), in the box
  [-20, 20]^6;
* ``block-24``: :class:`flowprior.problems.BlockProblem`, a 6-D banana core with nuisance pairs,
  triples and singles (4 of them unconstrained), 24 parameters, from ``n`` exact samples.

Flows: ``old`` (the MAF defaults before resampled batches and the plateau schedule:
``patience=20, resample=False, schedule="constant"``), ``prev`` (the defaults before weight decay
and refitting: ``hidden_layers=(50, 50), weight_decay=0, refit=False``), ``new`` (``MAF.fit``'s
defaults), ``wide``, ``deep`` and ``nets8`` (``prev`` with MADEs of (80, 80) or (50, 50, 50)
hidden units, or 8 of them),
``block`` (``BlockFlow.fit``'s defaults) and ``margarine`` (margarine 1.4.2's MAF with its
defaults and early stopping, if importable: ``pip install --no-deps margarine==1.4.2``; it needs
``TF_USE_LEGACY_KERAS=1``, set here).  Each row: D_KL by Monte Carlo over 50,000 exact target
draws (inside the box) with its standard error, training time, and the latency of one
single-point ``prior_transform`` call.  Nothing is asserted; ``docs/benchmarks.rst`` has the table.

    python benchmarks/bench_flows.py [--problems banana-6,block-24] [--sizes 5000,20000,50000]
                                     [--flows old,prev,new,block,margarine] [--seeds 1]
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # margarine 1.4.2 only runs with the legacy Keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import flowprior as fp  # noqa: E402
from flowprior.problems import BlockProblem  # noqa: E402

# The default before weight decay, refitting on every sample and (64, 64) MADEs (docs/flows.rst).
PREV = dict(hidden_layers=(50, 50), weight_decay=0.0, refit=False)
OLD = dict(PREV, patience=20, resample=False, schedule="constant")
# The default's architecture against wider, deeper and longer chains of MADEs (same training).
ARCHITECTURES = {"prev": PREV, "wide": dict(PREV, hidden_layers=(80, 80)), "deep": dict(PREV, hidden_layers=(50, 50, 50)),
                 "nets8": dict(PREV, number_networks=8)}


class Banana6:
    """The 6-D banana of issue 16: unit curvature, widths 1 to 0.2, in [-20, 20]^6."""

    scales = np.linspace(1.0, 0.2, 6)
    half_width = 20.0

    def __init__(self):
        self.prior = fp.UniformPrior(np.full(6, -self.half_width), np.full(6, self.half_width))

    def _draw(self, n, rng, widen):
        x = rng.normal(size=(n, 6)) * self.scales * widen
        x[:, 1:] += x[:, :1] ** 2 - self.scales[0] ** 2
        return x[np.all(np.abs(x) < self.half_width, axis=1)]

    def _logp(self, t, widen=1.0):
        x = np.array(t, dtype=np.float64)
        x[:, 1:] -= x[:, :1] ** 2 - self.scales[0] ** 2
        s = self.scales * widen
        return np.sum(-0.5 * (x / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi), axis=1)

    def training_samples(self, n, seed):
        t = self._draw(n, np.random.default_rng(seed), 2.0)
        logw = self._logp(t) - self._logp(t, 2.0)
        return t, np.exp(logw - logw.max())

    def test_samples(self, seed):
        t = self._draw(50_000, np.random.default_rng(seed + 10_000), 1.0)
        return t, self._logp(t)


class Block24:
    def __init__(self):
        self.problem = BlockProblem()
        self.prior = self.problem.prior

    def training_samples(self, n, seed):
        return self.problem.posterior_sample(n, seed=seed), None

    def test_samples(self, seed):
        t = self.problem.posterior_sample(50_000, seed=seed + 10_000)
        return t, self.problem.log_density(t)


PROBLEMS = {"banana-6": Banana6, "block-24": Block24}


def fit_margarine(theta, weights, prior):
    from margarine.maf import MAF as MargarineMAF

    w = np.ones(len(theta)) if weights is None else weights
    m = MargarineMAF(theta.astype(np.float32), weights=w.astype(np.float32),
                     theta_min=prior.lower.astype(np.float32), theta_max=prior.upper.astype(np.float32))
    m.train(epochs=500, early_stop=True)

    class Wrapped:
        def log_prob(self, t):
            return np.asarray(m.log_prob(t.astype(np.float32)).numpy(), dtype=np.float64)

        def prior_transform(self, u):
            return m(np.atleast_2d(u).astype(np.float32)).numpy()

    return Wrapped()


def fit(kind, theta, weights, prior, seed):
    if kind == "old":
        return fp.MAF.fit(theta, weights, prior=prior, seed=seed, **OLD)
    if kind == "new":
        return fp.MAF.fit(theta, weights, prior=prior, seed=seed)
    if kind in ARCHITECTURES:
        return fp.MAF.fit(theta, weights, prior=prior, seed=seed, **ARCHITECTURES[kind])
    if kind == "block":
        return fp.BlockFlow.fit(theta, weights, prior=prior, seed=seed)
    return fit_margarine(theta, weights, prior)


def latency(flow, ndims, repeat=2000):
    u = np.random.default_rng(0).random(ndims)
    flow.prior_transform(u)
    t0 = time.perf_counter()
    for _ in range(repeat):
        flow.prior_transform(u)
    return (time.perf_counter() - t0) / repeat


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default="banana-6,block-24")
    parser.add_argument("--sizes", default="5000,12000,20000,50000")
    parser.add_argument("--flows", default="old,prev,new,block,margarine")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    flows = args.flows.split(",")
    if "margarine" in flows:
        try:
            import margarine.maf  # noqa: F401
        except ImportError as exc:
            print(f"margarine not importable ({exc}); skipped")
            flows.remove("margarine")
    print(f"{'problem':10s}{'n':>7s}{'ESS':>7s}{'seed':>5s}  {'flow':10s}{'D_KL':>8s}{'+-':>7s}{'train s':>9s}"
          f"{'us/call':>9s}", flush=True)
    for spec in args.problems.split(","):
        problem = PROBLEMS[spec]()
        for n in (int(s) for s in args.sizes.split(",")):
            for seed in range(args.seeds):
                theta, weights = problem.training_samples(n, seed)
                ess = len(theta) if weights is None else weights.sum() ** 2 / np.sum(weights**2)
                test, logp = problem.test_samples(seed)
                for kind in flows:
                    if kind == "block" and spec == "banana-6":
                        continue  # one block: the same as the new default
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        flow = fit(kind, theta, weights, problem.prior, seed)
                        train = time.perf_counter() - t0
                    d = logp - flow.log_prob(test)
                    finite = np.isfinite(d)
                    kl = np.mean(d[finite]) if finite.all() else np.inf
                    err = np.std(d[finite]) / np.sqrt(finite.sum())
                    print(f"{spec:10s}{len(theta):7d}{ess:7.0f}{seed:5d}  {kind:10s}{kl:8.4f}{err:7.4f}{train:9.1f}"
                          f"{latency(flow, theta.shape[1]) * 1e6:9.1f}", flush=True)


if __name__ == "__main__":
    main()
