"""Run under ``mpirun -np N``: fp.two_stage with PolyChord, no base_dir.

Rank 0 prints one JSON line per rank, gathered so that the ranks' output cannot interleave: its
rank, logZ, logZerr, ncall, the calls it made itself and a digest of the proposal's density.
"""

import hashlib
import json
import warnings

import numpy as np
from mpi4py import MPI

import flowprior as fp
from flowprior.problems import GaussianProblem

PROBLEM = GaussianProblem(3, half_width=5.0)
calls = 0


def loglike(theta):
    global calls
    calls += 1
    return PROBLEM.loglikelihood(theta)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    tw = fp.two_stage(loglike, PROBLEM.prior, sampler="polychord", nlive_low=50, nlive_high=200, n_flows=1, seed=2,
                      flow_options={"hidden_layers": (16, 16), "number_networks": 2, "epochs": 100})
# The proposal's density at fixed points: bit-identical only if every rank trained the same flows.
points = np.random.default_rng(0).uniform(-2.0, 2.0, size=(200, 3))
digest = hashlib.sha256(np.ascontiguousarray(tw.repartitioned.prior.log_prob(points)).tobytes())
row = {"rank": MPI.COMM_WORLD.Get_rank(), "logZ": tw.logZ, "logZerr": tw.logZerr, "ncall": tw.ncall,
       "own_calls": calls, "truth": PROBLEM.logZ, "flows": digest.hexdigest()}
rows = MPI.COMM_WORLD.gather(row, root=0)
if MPI.COMM_WORLD.Get_rank() == 0:
    print("\n".join(json.dumps(r) for r in rows), flush=True)
