"""Training in a fresh interpreter: a process that trains many flows keeps nothing TensorFlow allocates.

Every training builds new TensorFlow graphs and XLA programs, and TensorFlow keeps them for the
life of the process (``clear_session`` frees almost none of it): about 100 MB per MAF trained, so
one process running ``two_stage`` 20 times grew by gigabytes.  :func:`fit_isolated` trains a list
of flows in a child interpreter (``python -m flowprior.training.isolated``) that exits when done.
The job and the flows travel as files in a temporary directory: the base prior and the flows in
flowprior's own format (:mod:`flowprior.io`, no pickle), the samples and any array option in an
``.npz`` read with ``allow_pickle=False``, the other options as JSON.  The parent never imports
TensorFlow.  A fresh interpreter pays TensorFlow's import once per call (seconds), not per flow.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..errors import FlowpriorRuntimeError

__all__ = ["fit_isolated"]

logger = logging.getLogger(__name__)


def fit_isolated(kind, samples, weights, *, prior, seeds, **fit_options):
    """``[flow_class(kind).fit(samples, weights, prior=prior, seed=s, **fit_options) for s in seeds]``, trained
    in a child interpreter (see module docs).

    Parameters
    ----------
    kind : str
        A name of :data:`flowprior.flows.kinds.FLOW_KINDS`.
    samples, weights : ndarray
    prior : Prior
    seeds : sequence of int
    **fit_options
        The ``fit`` options: arrays travel in the ``.npz``, the rest must be JSON values.
    """
    from ..io import load

    arrays = {k: np.asarray(v) for k, v in fit_options.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in fit_options.items() if k not in arrays}
    with tempfile.TemporaryDirectory(prefix="flowprior-train-") as tmp:
        prior.save(os.path.join(tmp, "prior.fpz"))
        np.savez(os.path.join(tmp, "job.npz"), samples=np.asarray(samples, dtype=np.float64),
                 weights=np.asarray(weights, dtype=np.float64), **{f"option/{k}": v for k, v in arrays.items()})
        with open(os.path.join(tmp, "job.json"), "w") as f:
            json.dump({"kind": kind, "seeds": [int(s) for s in seeds], "options": plain}, f)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "flowprior.training.isolated", tmp, str(os.getpid())],
                              capture_output=True, check=False)
        logger.info("trained %d %s flow(s) in a fresh interpreter in %.1f s", len(seeds), kind,
                    time.perf_counter() - start)
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise FlowpriorRuntimeError(f"expected the training process to succeed; got exit code {proc.returncode}: "
                                        + " | ".join(tail))
        return [load(os.path.join(tmp, f"flow{k}.fpz")) for k in range(len(seeds))]


def _exit_with(parent):
    """End this process once ``parent`` is gone (killed outright, it cannot take its training child with it)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main(directory, parent):
    import threading

    from ..flows.kinds import flow_class
    from ..io import load

    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    with open(os.path.join(directory, "job.json")) as f:
        job = json.load(f)
    with np.load(os.path.join(directory, "job.npz"), allow_pickle=False) as npz:
        samples, weights = npz["samples"], npz["weights"]
        options = {**job["options"], **{k.split("/", 1)[1]: npz[k] for k in npz.files if k.startswith("option/")}}
    prior = load(os.path.join(directory, "prior.fpz"))
    cls = flow_class(job["kind"])
    for k, seed in enumerate(job["seeds"]):
        cls.fit(samples, weights, prior=prior, seed=seed, **options).save(os.path.join(directory, f"flow{k}.fpz"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
