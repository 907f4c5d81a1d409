"""Figures: a flow against its chains, its training history, and the demo's comparison and cost."""

import pathlib

import numpy as np

__all__ = ["plot_flow", "plot_history", "plot_posteriors", "plot_cost"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_flow(path, flow, chains=None, *, n=5000, seed=0):
    """A corner plot of ``n`` draws from ``flow``, over the chains it was trained on if given; returns ``path``."""
    plt = _pyplot()
    from anesthetic import MCMCSamples, make_2d_axes

    params = list(flow.params)
    fig, axes = make_2d_axes(params, figsize=(2.5 * len(params),) * 2)
    if chains is not None:
        chains[params].plot_2d(axes, label="training chains", alpha=0.7)
    MCMCSamples(data=flow.sample(n, seed=seed), columns=params).plot_2d(axes, label="flow samples", alpha=0.7)
    axes.iloc[-1, 0].legend(loc="lower center", bbox_to_anchor=(len(params) / 2, len(params)))
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def plot_history(path, history):
    """Training and validation loss per epoch, and the best epoch; returns ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    loss = history.get("loss") or []
    ax.plot(range(1, len(loss) + 1), loss, label="training")
    if history.get("val_loss"):
        ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], label="validation")
        if history.get("best_epoch") is not None:
            ax.axvline(history["best_epoch"] + 1, color="grey", ls=":", label="best epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log-likelihood")
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def sibling(path, suffix):
    """``path`` with ``suffix`` before its extension: ``f.png`` -> ``f_loss.png``."""
    p = pathlib.Path(path)
    return str(p.with_name(p.stem + suffix + p.suffix))


def plot_posteriors(path, problem, single, two, exact):
    """A corner plot (anesthetic's ``make_2d_axes``) of exact draws, a single run and two_stage."""
    plt = _pyplot()
    from anesthetic import Samples, make_2d_axes

    params = list(problem.prior.params)
    fig, axes = make_2d_axes(params, upper=False, figsize=(2.2 * len(params), 2.2 * len(params)))
    kinds = {"diagonal": "hist_1d", "lower": "scatter_2d"}
    style = {"diagonal_kwargs": {"histtype": "step", "density": True}, "lower_kwargs": {"ms": 1, "alpha": 0.4}}
    Samples(exact, columns=params).plot_2d(axes, kinds=kinds, label="exact", color="0.6", **style)
    single[params].plot_2d(axes, kinds=kinds, label="single run", color="C0", **style)
    two[params].plot_2d(axes, kinds=kinds, label="two-stage", color="C3", **style)
    axes.iloc[-1, 0].legend(loc="lower left", bbox_to_anchor=(0, len(params)), fontsize=8)
    fig.suptitle(f"{problem!r}: posteriors of a single run and of two_stage")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_cost(path, result):
    """Likelihood calls against logZ error of the single run and two_stage, with lines of equal cost per precision.

    Along a line, ``calls * logZerr**2`` is constant: moving down it at fixed calls is precision a
    run gets for nothing.  ``result`` is what :func:`flowprior.demo.run_demo` returns.
    """
    plt = _pyplot()
    s, t = result["single"], result["two_stage"]
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    calls = np.geomspace(min(s["ncall"], t["ncall"]) / 3, max(s["ncall"], t["ncall"]) * 3, 50)
    for run, colour, label in ((s, "C0", "single run"), (t, "C3", "two-stage")):
        cost = run["ncall"] * run["logZerr"] ** 2
        ax.plot(calls, np.sqrt(cost / calls), ":", color=colour, lw=1)
        ax.plot(run["ncall"], run["logZerr"], "o", color=colour, ms=8,
                label=f"{label}: {run['ncall']:,} calls, $\\sigma$ = {run['logZerr']:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("likelihood calls")
    ax.set_ylabel("logZ error")
    gain = (s["ncall"] * s["logZerr"] ** 2) / (t["ncall"] * t["logZerr"] ** 2)
    ax.set_title(f"same precision for {1 / gain:.1%} of the calls", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
