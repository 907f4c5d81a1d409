"""Train a flow prior on weighted samples, check it, save it and load it back.

    python examples/train_flow_prior.py [--epochs 200] [--out flow.fpz]

The samples are a weighted, curved 3-D distribution inside a uniform box; replace
them with ``anesthetic.read_chains(root)`` and ``params=[...]`` for real chains.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import flowprior as fp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--out", default=None, help="where to save the flow (default: a temporary file)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1)
    theta = rng.normal([0.0, 0.0, 1.0], [0.4, 0.2, 0.3], size=(5000, 3))
    theta[:, 1] += theta[:, 0] ** 2
    weights = rng.uniform(0.5, 1.0, size=len(theta))
    prior = fp.UniformPrior([-3, -2, -1], [3, 6, 3], params=["x", "y", "z"])

    flow = fp.MAF.fit(theta, weights, prior=prior, seed=0, epochs=args.epochs)
    u = rng.random((1000, 3))
    err = np.max(np.abs(flow.inverse_prior_transform(flow.prior_transform(u)) - u))
    print(f"trained for {flow.history['epochs_run']} epochs; best held-out NLL {min(flow.history['val_loss']):.3f}")
    print(f"round trip u -> theta -> u: max error {err:.1e}")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "flow.fpz"
    flow.save(out)
    again = fp.load(out)
    same = np.array_equal(again.prior_transform(u), flow.prior_transform(u))
    print(f"saved to {out}; reloaded flow gives identical outputs: {same}")
    return flow


if __name__ == "__main__":
    main()
