"""The ``flowprior`` command line.

Every failure the user can cause (a missing file, a bad flow file, a bad
argument) ends with one line on stderr and exit code 2, without a traceback.
"""

import argparse
import logging
import os
import sys
import warnings

import numpy as np

from ._version import __version__
from .demo import run_check, run_demo
from .errors import BoundsEstimatedWarning, FlowpriorError, FlowpriorValueError
from .flows.maf import MAF
from .io import load
from .plots import plot_flow, plot_history, sibling
from .priors.simple import UniformPrior
from .samplers.run import run
from .training.options import TrainingOptions, training_options
from .workflows.nuisance import NuisanceFreeLikelihood, joint
from .workflows.stats import marginal_stats

__all__ = ["main"]


def _demo(args):

    if args.nlive_low >= args.nlive_high:
        raise FlowpriorValueError(f"expected --nlive-low < --nlive-high; got {args.nlive_low} and {args.nlive_high}")
    print(f"flowprior demo: two-stage nested sampling of an embedded 4-D banana (dynesty, "
          f"nlive {args.nlive_low} -> {args.nlive_high}) against a single run at nlive {args.nlive_high}",
          flush=True)
    r = run_demo(seed=args.seed, nlive_low=args.nlive_low, nlive_high=args.nlive_high, plot=args.plot,
                 progress=not args.quiet and sys.stderr.isatty())
    s, t = r["single"], r["two_stage"]
    print(f"  true logZ                     {r['logZ_true']:9.3f}")
    print(f"  single run   logZ {s['logZ']:9.3f} +- {s['logZerr']:.3f}   {s['ncall']:7d} calls"
          f"   {s['time_s']:6.1f} s")
    print(f"  two-stage    logZ {t['logZ']:9.3f} +- {t['logZerr']:.3f}   {t['ncall']:7d} calls"
          f" ({t['ncall_low']} + {t['ncall_search']} + {t['ncall_pilot']} + {t['ncall_high']})   {t['time_s']:6.1f} s")
    calls = t["ncall"] / s["ncall"]
    prec = calls * (t["logZerr"] / s["logZerr"]) ** 2
    print(f"  two-stage / single: {calls:.0%} of the calls; {prec:.1%} of the calls a single run "
          "needs for the same logZ error")
    print("  posterior mean  exact     " + " ".join(f"{m:+.3f}" for m in r["mean_true"]))
    print("                  single    " + " ".join(f"{m:+.3f}" for m in r["mean_single"]))
    print("                  two-stage " + " ".join(f"{m:+.3f}" for m in r["mean_two_stage"]))
    for w in r["warnings"]:
        print(f"  warning: {w}")
    if args.plot:
        print(f"  posterior comparison written to {args.plot}; calls against logZ error to {r['plot_cost']}")
    z = abs(t["logZ"] - r["logZ_true"]) / t["logZerr"]
    return 0 if z < 4 else 1


def _check(args):
    _check_output(args.output)

    flow, checks = run_check(seed=args.seed, epochs=args.epochs, path=args.output, progress=not args.quiet)
    print(f"flowprior check: {flow!r}")
    print(f"  trained in {checks['train_time_s']:.1f} s, {checks['epochs_run']} epochs, "
          f"best held-out NLL {checks['best_val_loss']:.4f}")
    print(f"  round trip u -> theta -> u, max error   {checks['round_trip_max_err']:.2e}")
    print(f"  normalisation E_pi[p/pi] (should be 1)  {checks['normalisation']:.4f} "
          f"+- {checks['normalisation_err']:.4f}")
    print(f"  u = 0, 1e-300, 1-1e-16, 1 finite inside  {checks['edges_finite_and_inside']}")
    print(f"  prior_transform, one point              {checks['prior_transform_us']:.1f} us")
    print("  mean of flow samples  " + " ".join(f"{m:+.3f}" for m in checks["mean_flow"]))
    print("  mean of training set  " + " ".join(f"{m:+.3f}" for m in checks["mean_samples"]))
    if "reload_identical" in checks:
        print(f"  saved to {args.output}; reloaded flow identical: {checks['reload_identical']}")
    ok = (checks["round_trip_max_err"] < 1e-8 and checks["edges_finite_and_inside"]
          and abs(checks["normalisation"] - 1) < 4 * checks["normalisation_err"] + 1e-3)
    return 0 if ok else 1


def _read_chains(root):

    import anesthetic

    try:
        return anesthetic.read_chains(root)
    except FileNotFoundError:
        raise FileNotFoundError(f"expected chains at {root!r} (any format anesthetic reads); found none") from None
    except (ValueError, OSError) as exc:
        if not any(os.path.exists(root + ext) for ext in ("", ".txt", ".csv", "_dead-birth.txt")):
            raise FileNotFoundError(f"expected chains at {root!r}; found none") from None
        raise FlowpriorValueError(f"could not read chains at {root!r}: {exc}") from None


def _check_output(path):
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None:
        return
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise FlowpriorValueError(f"expected -o to name a file; got the directory {path}")
    if not os.path.isdir(directory):
        raise FlowpriorValueError(f"expected -o in an existing directory; got {path} ({directory} does not exist)")
    if not os.access(directory, os.W_OK):
        raise FlowpriorValueError(f"expected -o in a writable directory; got {path} ({directory} is not writable)")


def _held_out(history):
    """One line on a training history, whatever it holds (no validation split, no epochs)."""
    best = history.get("best_epoch")
    val = history.get("val_loss") or []
    loss = history.get("loss") or []
    if val and best is not None and 0 <= best < len(val):
        return f"held-out loss {val[best]:.4f} at epoch {best + 1} of {history.get('epochs_run', len(val))}"
    if loss:
        return f"no held-out split; final training loss {loss[-1]:.4f} after {len(loss)} epochs"
    return "no training history"


def _parse_bounds(text, params):

    pairs = [item.split(":") for item in text.split(",")]
    if len(pairs) != len(params) or any(len(p) != 2 for p in pairs):
        raise FlowpriorValueError(f"expected --bounds as lo:hi for each of {len(params)} parameters, comma-separated; "
                         f"got {text!r}")
    try:
        lower, upper = zip(*((float(a), float(b)) for a, b in pairs))
    except ValueError:
        raise FlowpriorValueError(f"expected numbers in --bounds; got {text!r}") from None
    return UniformPrior(lower, upper, params=params)


def _parse_hidden(text):
    try:
        hidden = tuple(int(h) for h in text.split(","))
    except ValueError:
        raise FlowpriorValueError(f"expected --hidden as comma-separated layer widths, such as 50,50; got "
                                  f"{text!r}") from None
    return hidden


def _train(args):


    _check_output(args.output)
    options = {"progress": not args.quiet}
    if args.hidden is not None:
        options["hidden_layers"] = _parse_hidden(args.hidden)
    for name, value in (("epochs", args.epochs), ("number_networks", args.networks)):
        if value is not None:
            options[name] = value
    training_options(options)  # every option checked before the chains are read
    params = args.params.split(",") if args.params else None
    if args.bounds and params is None:
        raise FlowpriorValueError("expected --params together with --bounds")
    prior = _parse_bounds(args.bounds, params) if args.bounds else None
    samples = _read_chains(args.chains)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoundsEstimatedWarning)
        flow = MAF.fit(samples, params=params, prior=prior, seed=args.seed, **options)
    for w in caught:
        print(f"flowprior: warning: {w.message}", file=sys.stderr)
    flow.save(args.output)
    print(f"trained {flow!r}")
    print(f"{_held_out(flow.history)} (NLL per sample, Gaussianised cube)")
    print(f"saved to {args.output}")
    return 0


def _info(args):

    flow = load(args.flow)
    print(repr(flow))
    h = getattr(flow, "history", None)
    if h:
        print(_held_out(h))
    if hasattr(flow, "blocks"):
        info = flow.fit_info or {}
        if "link_threshold" in info:
            print(f"blocks found by mutual information above {info['link_threshold']:.4f} nats "
                  f"(effective sample size {info.get('effective_sample_size', float('nan')):.0f}):")
        for block, kind in zip(flow.blocks, flow.kinds):
            print(f"  {kind:9s}{', '.join(block)}")
    return 0


def _sample(args):
    _check_output(args.output)


    flow = load(args.flow)
    x = flow.sample(args.n, seed=args.seed)
    np.savetxt(args.output, x, delimiter=",", header=",".join(flow.params), comments="")
    print(f"wrote {args.n} samples of {list(flow.params)} to {args.output}")
    return 0


def _stats(args):

    members = [load(path) for path in args.flow.split(",")]
    prior = load(args.prior) if args.prior else None
    st = marginal_stats(members if len(members) > 1 else members[0], prior=prior, nsamples=args.n, seed=args.seed)
    against = args.prior or "the flow's base prior"
    print(f"{members[0]!r}" + (f" and {len(members) - 1} more ensemble members" if len(members) > 1 else ""))
    print(f"against {against}, {st.nsamples} Monte Carlo samples" + (" per member:" if len(members) > 1 else ":"))
    print(f"  D_KL = {st.D_KL:.4f} +- {st.D_KL_err:.4f} nats")
    print(f"  d_G  = {st.d_G:.4f} +- {st.d_G_err:.4f}")
    if len(members) == 1:
        print("  (Monte Carlo errors only: give bootstrap ensemble members comma-separated to include the "
              "flow's training error)")
    return 0


def _joint(args):
    _check_output(args.output)


    if len(args.logZ) != len(args.flows):
        raise FlowpriorValueError(f"expected one --logZ per flow ({len(args.flows)}); got {len(args.logZ)}")
    errs = args.logZerr if args.logZerr is not None else [0.0] * len(args.flows)
    if len(errs) != len(args.flows):
        raise FlowpriorValueError(f"expected one --logZerr per flow ({len(args.flows)}); got {len(errs)}")
    members = [[load(path) for path in spec.split(",")] for spec in args.flows]
    prior = load(args.prior) if args.prior else members[0][0].prior
    likes = [NuisanceFreeLikelihood(m, z, prior=prior, logZerr=e) for m, z, e in zip(members, args.logZ, errs)]
    j = joint(*likes)
    res = run(j, prior, nlive=args.nlive, seed=args.seed)
    ev = j.evidence(res)
    print(f"joint analysis of {len(likes)} experiment(s) on {list(j.params)}: dynesty, nlive {args.nlive}, "
          f"{res.ncall} likelihood calls")
    print(f"  logZ_joint = {ev.logZ:.4f} +- {ev.logZerr:.4f}  (sampling {ev.sampling_err:.4f}, "
          f"density estimate {ev.density_err:.4f}, inputs {ev.inputs_err:.4f})")
    if ev.density_err == 0:
        print("  (one flow per experiment: no density-estimate error; pass ensemble members as A1.fpz,A2.fpz)")
    if args.output:
        x = res.samples[list(j.params)].to_numpy()
        w = res.samples.get_weights()
        np.savetxt(args.output, np.column_stack([w / w.sum(), x]), delimiter=",",
                   header=",".join(["weight", *j.params]), comments="")
        print(f"  weighted posterior samples written to {args.output}")
    return 0


def _plot(args):
    _check_output(args.output)

    flow = load(args.flow)
    chains = _read_chains(args.chains) if args.chains else None
    written = [plot_flow(args.output, flow, chains, n=args.n, seed=args.seed)]
    if getattr(flow, "history", None):
        written.append(plot_history(sibling(args.output, "_loss"), flow.history))
    print("wrote " + ", ".join(written))
    return 0


#: Every command's seed unless ``--seed`` is given: the same command repeats its output.
SEED = 0


def _add_seed(parser):
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")


def _parser():
    parser = argparse.ArgumentParser(prog="flowprior", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    parser.add_argument("--version", action="version", version=f"flowprior {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="two-stage nested sampling of an embedded problem against a single run")
    _add_seed(demo)
    demo.add_argument("--nlive-low", type=int, default=50)
    demo.add_argument("--nlive-high", type=int, default=500)
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    demo.add_argument("--plot", default="flowprior_demo.png",
                      help="posterior comparison to write (default flowprior_demo.png; '' for none)")
    demo.set_defaults(func=_demo)

    check = sub.add_parser("check", help="train a flow prior on embedded samples and print its exactness checks")
    _add_seed(check)
    check.add_argument("--epochs", type=int, default=200)
    check.add_argument("-o", "--output", default=None, help="also save the flow here and reload it")
    check.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    check.set_defaults(func=_check)

    train = sub.add_parser("train", help="train a flow prior on chains anesthetic can read")
    train.add_argument("chains", help="chains root, as for anesthetic.read_chains")
    train.add_argument("--params", help="comma-separated parameter names (default: all parameters)")
    train.add_argument("--bounds", help="base uniform prior, lo:hi per parameter, comma-separated "
                                        "(default: a box estimated from the samples)")
    train.add_argument("-o", "--output", required=True, help="flow file to write (.fpz)")
    defaults = TrainingOptions()
    train.add_argument("--epochs", type=int, help=f"epoch budget (default {defaults.epochs})")
    train.add_argument("--networks", type=int, help=f"number of MADEs (default {defaults.number_networks})")
    train.add_argument("--hidden", help="hidden layers of each MADE, comma-separated (default "
                                        f"{','.join(map(str, defaults.hidden_layers))})")
    _add_seed(train)
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    info = sub.add_parser("info", help="describe a saved flow")
    info.add_argument("flow")
    info.set_defaults(func=_info)

    sample = sub.add_parser("sample", help="draw samples from a saved flow into a CSV file")
    sample.add_argument("flow")
    sample.add_argument("-n", type=int, default=10_000)
    sample.add_argument("-o", "--output", required=True)
    _add_seed(sample)
    sample.set_defaults(func=_sample)

    stats = sub.add_parser("stats", help="D_KL and d_G of a saved flow against a prior, with errors")
    stats.add_argument("flow", help="flow file, or ensemble members comma-separated")
    stats.add_argument("--prior", help="saved prior (.fpz); default: the flow's base prior")
    stats.add_argument("-n", type=int, default=10_000, help="Monte Carlo samples")
    _add_seed(stats)
    stats.set_defaults(func=_stats)

    joint = sub.add_parser("joint", help="joint evidence and posterior from nuisance-free marginal flows")
    joint.add_argument("flows", nargs="+",
                       help="one flow file per experiment; comma-separate files for an ensemble (A1.fpz,A2.fpz)")
    joint.add_argument("--logZ", type=float, nargs="+", required=True, help="each experiment's log-evidence")
    joint.add_argument("--logZerr", type=float, nargs="+", help="their errors (default 0)")
    joint.add_argument("--prior", help="saved prior on the core parameters (default: the flows' base prior)")
    joint.add_argument("--nlive", type=int, default=500)
    _add_seed(joint)
    joint.add_argument("-o", "--output", help="CSV of weighted joint posterior samples")
    joint.set_defaults(func=_joint)

    plot = sub.add_parser("plot", help="corner plot of flow samples (over the chains) and the loss curve")
    plot.add_argument("flow")
    plot.add_argument("--chains", help="chains root to draw underneath")
    plot.add_argument("-o", "--output", required=True, help="PNG; the loss curve goes to <stem>_loss.png")
    plot.add_argument("-n", type=int, default=5000)
    _add_seed(plot)
    plot.set_defaults(func=_plot)
    return parser


def _join_negative_values(argv):
    """``--bounds -1:1,...`` as ``--bounds=-1:1,...``: argparse reads a value starting with '-' as an option."""
    out = []
    for arg in argv:
        if out and out[-1] in _NEGATIVE_OK and len(arg) > 1 and arg[0] == "-" and (arg[1].isdigit() or arg[1] == "."):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


#: Options whose value may start with a minus sign.
_NEGATIVE_OK = ("--bounds",)


def main(argv=None):
    argv = _join_negative_values(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except (FlowpriorError, OSError, ValueError, KeyError) as exc:
        print(f"flowprior: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
