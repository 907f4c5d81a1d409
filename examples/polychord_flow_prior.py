"""Use a saved flow prior in PolyChord, directly and through fp.run.

    python examples/polychord_flow_prior.py FLOW.fpz [--nlive 200]
    mpirun -n 4 python examples/polychord_flow_prior.py FLOW.fpz   # with an MPI build

pypolychord is not on PyPI: install it from PolyChordLite (``pip install .``
in its source; the MPI build needs an MPI library and mpi4py).  Under MPI
every rank runs this script and loads the flow file itself: loading needs
neither TensorFlow nor communication, and the transform is deterministic, so
all ranks agree.  fp.run shares one temporary directory between the ranks
and removes it; the direct call writes PolyChord's files into ``chains/``.
"""

import argparse

import numpy as np

import flowprior as fp


def loglike(theta):
    return -0.5 * float(np.sum((theta - 0.4) ** 2 / 0.05))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flow", help="a flow saved with flow.save(...)")
    parser.add_argument("--nlive", type=int, default=200)
    parser.add_argument("--base-dir", default=None, help="PolyChord output directory (default: temporary)")
    args = parser.parse_args(argv)

    flow = fp.load(args.flow)          # every MPI rank does this

    # 1. Directly: flow.prior_transform is a PolyChord prior (one point at a time).
    import pypolychord

    kwargs = {} if args.base_dir is None else {"base_dir": args.base_dir}
    direct = pypolychord.run(loglike, flow.ndims, nlive=args.nlive, prior=flow.prior_transform,
                             read_resume=False, paramnames=[(p, p) for p in flow.params],
                             **({"base_dir": args.base_dir + "_direct"} if args.base_dir else {}))

    # 2. Through fp.run: same sampler, plus an exact call count and seeded errors.
    res = fp.run(loglike, flow, sampler="polychord", nlive=args.nlive, seed=1, **kwargs)
    print(f"PolyChord directly: logZ = {float(direct.logZ()):.3f}")
    print(f"fp.run:             logZ = {res.logZ:.3f} +- {res.logZerr:.3f}, {res.ncall} likelihood calls")
    return res


if __name__ == "__main__":
    main()
