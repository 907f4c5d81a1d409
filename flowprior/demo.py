"""The embedded default jobs behind ``flowprior demo`` and ``flowprior check``.

``demo`` runs the two-stage workflow with dynesty on an embedded problem with
analytic evidence (a 4-D volume-preserving banana with twist 10 inside
the box [-10, 10]^4, :class:`flowprior.problems.BananaProblem`), next to a single run
at the same ``nlive``, and plots the posteriors against exact samples.

``check`` trains a flow prior on embedded weighted samples and checks its
exactness (round trip, normalisation, edges, speed, save and reload).

Neither needs files of the user's; both return the numbers they report.
"""

import time
import warnings

import numpy as np

from .flows.maf import MAF
from .io import load
from .plots import plot_cost, plot_posteriors, sibling
from .priors.simple import UniformPrior
from .problems import BananaProblem
from .samplers.run import run
from .workflows.two_stage.workflow import two_stage

__all__ = ["embedded_samples", "run_check", "run_demo"]


def run_demo(*, seed=0, nlive_low=50, nlive_high=500, ndims=4, twist=10.0, plot=None, progress=False):
    """Single run and two-stage run of the embedded banana; return a dict of results.

    Parameters
    ----------
    seed : int
    nlive_low, nlive_high : int
    ndims : int
    twist : float
        Curvature ``b`` of the banana.
    plot : str or path, optional
        Where to write the posterior comparison (PNG, drawn with anesthetic); the calls against
        logZ error go next to it (``*_cost.png``).  Nothing is plotted without it.
    progress : bool
        A progress bar of likelihood calls for each run.
    """


    problem = BananaProblem(ndims, b=twist)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), _CallBar(problem.loglikelihood, "single run", progress) as like:
        # dynesty's advice on its own bootstrap factor for the plain run: the
        # comparison is deliberately with dynesty's defaults.
        warnings.filterwarnings("ignore", message="The enlargement factor", category=UserWarning)
        single = run(like, problem.prior, nlive=nlive_high, seed=seed)
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, _CallBar(problem.loglikelihood, "two-stage", progress) as like:
        warnings.simplefilter("always", RuntimeWarning)
        tw = two_stage(like, problem.prior, nlive_low=nlive_low, nlive_high=nlive_high, seed=seed)
    t2 = time.perf_counter()
    exact = problem.posterior_sample(20_000, seed=seed + 1)
    out = {
        "problem": repr(problem),
        "logZ_true": problem.logZ,
        "single": {"logZ": single.logZ, "logZerr": single.logZerr, "ncall": single.ncall, "time_s": t1 - t0},
        "two_stage": {"logZ": tw.logZ, "logZerr": tw.logZerr, "ncall": tw.ncall, "ncall_low": tw.low.ncall,
                      "ncall_search": tw.diagnostics["ncall_search"], "ncall_pilot": tw.diagnostics["ncall_pilot"],
                      "ncall_high": tw.high.ncall, "time_s": t2 - t1},
        "diagnostics": tw.diagnostics,
        "warnings": [str(w.message) for w in caught],
        "mean_true": exact.mean(axis=0).tolist(),
        "mean_single": _weighted_mean(single.samples, problem.prior.params),
        "mean_two_stage": _weighted_mean(tw.samples, problem.prior.params),
    }
    if plot is not None:

        plot_posteriors(plot, problem, single.samples, tw.samples, exact)
        out["plot"] = str(plot)
        out["plot_cost"] = plot_cost(sibling(plot, "_cost"), out)
    return out


class _CallBar:
    """The likelihood, counting its calls on a tqdm bar (none if not ``enabled``)."""

    def __init__(self, loglikelihood, desc, enabled):
        self.loglikelihood, self.desc, self.enabled = loglikelihood, desc, enabled
        self.bar, self.calls = None, 0

    def __enter__(self):
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=f"  {self.desc}", unit=" calls", unit_scale=True, leave=False, mininterval=0.5)
        return self

    def __call__(self, theta):
        self.calls += 1
        if self.bar is not None and self.calls % 200 == 0:
            self.bar.update(200)
        return self.loglikelihood(theta)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _weighted_mean(samples, params):
    theta = samples[list(params)].to_numpy()
    return np.average(theta, axis=0, weights=samples.get_weights()).tolist()


def embedded_samples(n=6000, seed=2024):
    """Weighted samples of a 4-D curved target inside the box [-3, 3]^4 (no files needed)."""
    rng = np.random.default_rng(seed)
    cov = 0.3 * np.eye(4) + 0.15
    x = rng.multivariate_normal(np.zeros(4), 0.25 * cov, size=n)
    x[:, 1] += 0.8 * x[:, 0] ** 2 - 0.5
    weights = rng.uniform(0.2, 1.0, size=n)
    return x, weights, UniformPrior(-3.0, np.full(4, 3.0), params=["a", "b", "c", "d"])


def run_check(*, seed=0, epochs=200, path=None, progress=False):
    """Train, check exactness and speed, save and reload; return a dict of checks."""

    theta, weights, prior = embedded_samples()
    start = time.perf_counter()
    flow = MAF.fit(theta, weights, prior=prior, seed=seed, epochs=epochs, progress=progress)
    train_time = time.perf_counter() - start
    u = np.random.default_rng(seed + 1).random((2000, prior.ndims))
    round_trip = float(np.max(np.abs(flow.inverse_prior_transform(flow.prior_transform(u)) - u)))
    # E_pi[p / pi] = 1 for a normalised p.
    base = prior.sample(200_000, seed=seed + 2)
    ratio = np.exp(flow.log_prob(base) - prior.log_prob(base))
    edges = flow.prior_transform(np.array([[0.0] * 4, [1e-300] * 4, [1 - 1e-16] * 4, [1.0] * 4]))
    one = u[0]
    flow.prior_transform(one)
    t0 = time.perf_counter()
    for _ in range(2000):
        flow.prior_transform(one)
    per_call = (time.perf_counter() - t0) / 2000
    x = flow.sample(50_000, seed=seed + 3)
    w = weights / weights.sum()
    mean_true = w @ theta
    checks = {
        "train_time_s": train_time,
        "epochs_run": flow.history["epochs_run"],
        "best_val_loss": min(flow.history["val_loss"]),
        "round_trip_max_err": round_trip,
        "normalisation": float(ratio.mean()),
        "normalisation_err": float(ratio.std() / np.sqrt(ratio.size)),
        "edges_finite_and_inside": bool(np.all(np.isfinite(edges)) and prior._in_support(edges).all()),
        "prior_transform_us": per_call * 1e6,
        "mean_flow": x.mean(axis=0).tolist(),
        "mean_samples": mean_true.tolist(),
    }
    if path is not None:
        flow.save(path)
        reloaded = load(path)
        checks["reload_identical"] = bool(np.array_equal(reloaded.prior_transform(u), flow.prior_transform(u)))
    return flow, checks
