"""Child process that trains one cluster's flow (see :mod:`flowprior.piecewise`).

Run as ``python -m flowprior._train_worker``: it reads one pickled job from
stdin and writes the pickled result to stdout.  A fresh interpreter started
this way never re-imports the user's main script, so scripts and notebooks
need no ``if __name__ == "__main__"`` guard.  The pickles only ever pass
between a flowprior process and the child it started.
"""

import os
import pickle
import sys


def main():
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Anything the training stack prints must not corrupt the result stream.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    x, weights, options, seed = pickle.load(sys.stdin.buffer)
    from flowprior.training import train_maf

    result = train_maf(x, weights, seed=seed, **options)
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.close()


if __name__ == "__main__":
    main()
