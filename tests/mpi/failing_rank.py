"""Run under ``mpirun -np 2``: rank 1's likelihood raises after 50 calls; the job must end, not hang."""

import numpy as np
from mpi4py import MPI

import flowprior as fp

calls = 0


def loglike(theta):
    global calls
    calls += 1
    if MPI.COMM_WORLD.Get_rank() == 1 and calls > 50:
        raise ValueError("a likelihood that fails on one rank")
    return -0.5 * float(np.sum(theta**2))


fp.run(loglike, fp.UniformPrior([-5.0, -5.0], [5.0, 5.0]), sampler="polychord", nlive=50, seed=1)
fp.run(loglike, fp.UniformPrior([-5.0, -5.0], [5.0, 5.0]), sampler="polychord", nlive=50, seed=2)
