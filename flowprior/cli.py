"""The ``flowprior`` command line.

Every failure the user can cause (a missing file, a bad flow file, a bad
argument) ends with one line on stderr and exit code 2, without a traceback.
"""

import argparse
import logging
import sys

from .errors import FlowpriorError

__all__ = ["main"]


def _demo(args):
    from .demo import run_demo

    flow, checks = run_demo(seed=args.seed, epochs=args.epochs, path=args.output, progress=not args.quiet)
    print(f"flowprior demo: {flow!r}")
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


def _parser():
    parser = argparse.ArgumentParser(prog="flowprior", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a flow prior on embedded samples and print its checks")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=200)
    demo.add_argument("-o", "--output", default=None, help="also save the flow here and reload it")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except (FlowpriorError, FileNotFoundError, ValueError) as exc:
        print(f"flowprior: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
