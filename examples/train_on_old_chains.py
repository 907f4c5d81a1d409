"""Train a flow prior on chains from an earlier run, read with anesthetic.

    python examples/train_on_old_chains.py CHAINS_ROOT --params a,b [--epochs 200]

Any format ``anesthetic.read_chains`` knows works (PolyChord, MultiNest,
Cobaya, GetDist, UltraNest, CSV written by anesthetic).  Columns are chosen by
name and the chains' weights are used.  Without a root, the script first makes
chains with a short dynesty run so that it runs anywhere.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from anesthetic import read_chains

import flowprior as fp


def make_chains(root):
    prior = fp.UniformPrior([-5, -5], [5, 5], params=["a", "b"])
    res = fp.run(lambda t: -0.5 * np.sum((t - [1.0, -1.0]) ** 2 / 0.2), prior, nlive=200, seed=0)
    res.samples.to_csv(f"{root}.csv")
    return prior


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=None)
    parser.add_argument("--params", default="a,b")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args(argv)

    root = args.root
    prior = None
    if root is None:
        root = str(Path(tempfile.mkdtemp()) / "old_run")
        prior = make_chains(root)
    chains = read_chains(root)
    params = args.params.split(",")
    flow = fp.MAF.fit(chains, params=params, prior=prior, seed=0, epochs=args.epochs)
    print(f"read {len(chains)} weighted samples ({type(chains).__name__}) from {root}")
    print(f"trained {flow!r}")
    post = chains[params].to_numpy()
    w = chains.get_weights()
    print("posterior mean of the chains:", np.round(np.average(post, axis=0, weights=w), 3).tolist())
    print("mean of the flow prior:      ", np.round(flow.sample(20_000, seed=1).mean(axis=0), 3).tolist())
    return flow, chains


if __name__ == "__main__":
    main()
