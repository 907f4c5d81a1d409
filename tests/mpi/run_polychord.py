"""Run under ``mpirun -np N``: one fp.run with PolyChord and a saved flow prior, no base_dir.

Rank 0 prints one JSON line per rank, gathered so that the ranks' output cannot interleave: its
rank, logZ, logZerr, ncall and the calls it made itself.
"""

import json
import sys

import numpy as np
from mpi4py import MPI
from scipy.stats import multivariate_normal

import flowprior as fp

calls = 0


def loglike(theta):
    global calls
    calls += 1
    return multivariate_normal.logpdf(theta, [0.35, 0.55], np.diag([0.08, 0.1]))


flow = fp.load(sys.argv[1])
res = fp.run(loglike, flow, sampler="polychord", nlive=100, seed=5, num_repeats=4)
row = {"rank": MPI.COMM_WORLD.Get_rank(), "logZ": res.logZ, "logZerr": res.logZerr, "ncall": res.ncall,
       "own_calls": calls, "rows": len(res.samples)}
rows = MPI.COMM_WORLD.gather(row, root=0)
if MPI.COMM_WORLD.Get_rank() == 0:
    print("\n".join(json.dumps(r) for r in rows), flush=True)
