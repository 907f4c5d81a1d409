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

import numpy as np

from .flow import MAF
from .priors import UniformPrior

__all__ = ["embedded_samples", "run_check", "run_demo"]


def run_demo(*, seed=0, nlive_low=50, nlive_high=500, ndims=4, twist=10.0, plot=None):
    """Single run and two-stage run of the embedded banana; return a dict of results.

    Parameters
    ----------
    seed : int
    nlive_low, nlive_high : int
    ndims : int
    twist : float
        Curvature ``b`` of the banana.
    plot : str or path, optional
        Where to write the posterior comparison (PNG); nothing is plotted without it.
    """
    import warnings

    from .problems import BananaProblem
    from .run import run
    from .two_stage import two_stage

    problem = BananaProblem(ndims, b=twist)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # dynesty's advice on its own bootstrap factor for the plain run: the
        # comparison is deliberately with dynesty's defaults.
        warnings.filterwarnings("ignore", message="The enlargement factor", category=UserWarning)
        single = run(problem.loglikelihood, problem.prior, nlive=nlive_high, seed=seed)
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        tw = two_stage(problem.loglikelihood, problem.prior, nlive_low=nlive_low, nlive_high=nlive_high,
                       seed=seed)
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
        _plot(plot, problem, single.samples, tw.samples, exact)
        out["plot"] = str(plot)
    return out


def _weighted_mean(samples, params):
    theta = samples[list(params)].to_numpy()
    return np.average(theta, axis=0, weights=samples.get_weights()).tolist()


def _plot(path, problem, single, two, exact):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(problem.prior.params)
    d = len(params)
    fig, axes = plt.subplots(d, d, figsize=(2.2 * d, 2.2 * d))
    lo, hi = np.quantile(exact, [0.001, 0.999], axis=0)
    pad = 0.15 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    rng = np.random.default_rng(0)
    sets = [("exact", exact, np.ones(len(exact)), "0.6"),
            ("single run", single[params].to_numpy(), single.get_weights(), "C0"),
            ("two-stage", two[params].to_numpy(), two.get_weights(), "C3")]
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            for label, x, w, colour in sets:
                if i == j:
                    ax.hist(x[:, i], bins=np.linspace(lo[i], hi[i], 41), weights=w, density=True,
                            histtype="step", color=colour, label=label)
                    ax.set_xlim(lo[i], hi[i])
                else:
                    # Equal-weight resample so the scatter shows the posterior, not the run's dead points.
                    pick = rng.choice(len(x), size=1500, p=w / w.sum())
                    ax.plot(x[pick, j], x[pick, i], ".", ms=1, alpha=0.4, color=colour)
                    ax.set_xlim(lo[j], hi[j])
                    ax.set_ylim(lo[i], hi[i])
            if i == d - 1:
                ax.set_xlabel(params[j])
            if j == 0 and i > 0:
                ax.set_ylabel(params[i])
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{problem!r}: posteriors of a single run and of two_stage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    from .io import load

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
