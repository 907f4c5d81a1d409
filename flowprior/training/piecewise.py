"""Training a piecewise flow's cluster flows, in this process or in fresh interpreters."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import FlowpriorRuntimeError

__all__ = ["train_mixture", "default_jobs"]


def _train_cluster(x, weights, options, seed):
    from .maf import train_maf

    return train_maf(x, weights, options=options, seed=seed)


def _train_cluster_in_child(job):
    """Train one cluster in a fresh interpreter (see :mod:`flowprior.training.worker`)."""
    from . import worker

    proc = subprocess.run([sys.executable, "-m", "flowprior.training.worker"],
                          input=worker.encode_job(*job), capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise FlowpriorRuntimeError(f"expected the training process to succeed; got exit code {proc.returncode}: "
                           + " | ".join(tail))
    return worker.decode_result(proc.stdout)


def train_mixture(x, weights, resp, options, seed, n_jobs):
    """Train one flow per column of ``resp`` on weights ``w_i r_ik``: a list of ``(weights, history)``."""
    k = resp.shape[1]
    train_seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(k)]
    jobs = []
    for j in range(k):
        # Rows a cluster barely owns cost training time and teach it nothing.
        rows = resp[:, j] >= 1e-3
        jobs.append((x[rows], weights[rows] * resp[rows, j], options, train_seeds[j]))
    if n_jobs == 1 or k == 1:
        trained = [_train_cluster(*job) for job in jobs]
    else:
        # Fresh interpreters, not fork (a forked child of a process that
        # has started TensorFlow's thread pools can deadlock) and not
        # multiprocessing's spawn (which re-imports the user's script).
        with ThreadPoolExecutor(max_workers=min(n_jobs, k)) as pool:
            trained = list(pool.map(_train_cluster_in_child, jobs))
    return trained


def default_jobs(n_clusters):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # Measured on 2 cores (eight Gaussians, K = 8): 54 s sequential, 65 s with
    # two processes.  TensorFlow already spreads one training over both cores,
    # and every child pays ~6 s to import TensorFlow and compile; so processes
    # only by default when there are cores to spare.
    if cores <= 2:
        return 1
    return max(1, min(n_clusters, cores))
