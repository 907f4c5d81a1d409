"""Exact likelihood-call counting, also across process pools.

Samplers report their own call counts with their own conventions (dynesty's
``ncall`` includes or excludes the initial live points depending on the
version; PolyChord reports per-rank numbers).  flowprior counts calls itself
in a wrapper.  In a process pool the wrapper is pickled into each worker, so
the count lives in a shared integer that the pool's initializer hands to
every worker (shared memory may only pass to a process as it starts).

A pool the user made (an ``mpi4py.futures.MPIPoolExecutor``, a schwimmbad
``MPIPool``, any object with ``map``) started its workers without that
counter, so :class:`CountingPool` counts per task instead: each mapped task
tallies the calls it makes in its own process (thread) and returns the tally
with its result, and the parent adds it up.
"""

import math
import threading

import numpy as np

from ..errors import FlowpriorTypeError, LikelihoodValueError

__all__ = ["CountedLikelihood", "CountingPool", "init_worker"]

_WORKER_COUNTER = None
#: While a :class:`CountingPool` task runs in this thread, ``_TASK.calls`` is its tally.
_TASK = threading.local()


def init_worker(counter):
    """Pool initializer: give this worker the run's shared call counter."""
    global _WORKER_COUNTER
    _WORKER_COUNTER = counter


class CountedLikelihood:
    """Wrap ``loglikelihood(theta) -> float``, count every call and check every value.

    A value must be a real number, finite or ``-inf`` (zero likelihood); NaN,
    ``+inf`` or a non-number raise :class:`~flowprior.errors.LikelihoodValueError`
    naming the point, for every sampler alike.

    Parameters
    ----------
    loglikelihood : callable
    counter : multiprocessing.Value, optional
        Shared counter for pooled runs; a plain integer is used otherwise.
    """

    def __init__(self, loglikelihood, counter=None):
        if not callable(loglikelihood):
            raise FlowpriorTypeError(f"expected a callable loglikelihood; got {type(loglikelihood).__name__}")
        self.loglikelihood = loglikelihood
        self._counter = counter
        self._local = 0

    def __call__(self, theta):
        counter = _WORKER_COUNTER if _WORKER_COUNTER is not None else self._counter
        if getattr(_TASK, "calls", None) is not None:
            _TASK.calls += 1
        elif counter is None:
            self._local += 1
        else:
            with counter.get_lock():
                counter.value += 1
        return checked(self.loglikelihood(theta), theta)

    @property
    def ncall(self):
        """Calls so far, in this process and (for pooled runs) every worker."""
        return self._local + (0 if self._counter is None else int(self._counter.value))

    def __getstate__(self):
        # Shared memory cannot be pickled into a running worker; workers get
        # the counter from the pool initializer instead.
        return {"loglikelihood": self.loglikelihood, "_counter": None, "_local": 0}


def checked(value, theta):
    """``value`` as a float if it is a usable log-likelihood (finite or -inf), else an error naming ``theta``."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    try:
        logl = None if isinstance(value, (str, bytes, np.ndarray)) else float(value)
    except (TypeError, ValueError):
        logl = None
    if logl is None:
        raise LikelihoodValueError(f"expected loglikelihood(theta) to return a float; got {type(value).__name__} "
                                   f"{value!r:.80} at theta = {np.asarray(theta).tolist()}") from None
    if math.isnan(logl) or logl == math.inf:
        raise LikelihoodValueError(f"expected a finite log-likelihood or -inf (zero likelihood); got {logl} at "
                                   f"theta = {np.asarray(theta).tolist()}")
    return logl


class _CountedTask:
    """``f(x) -> (f(x), calls of any CountedLikelihood while it ran)``, picklable if ``f`` is."""

    def __init__(self, f):
        self.f = f

    def __call__(self, x):
        outer = getattr(_TASK, "calls", None)
        _TASK.calls = 0
        try:
            return self.f(x), _TASK.calls
        finally:
            _TASK.calls = outer


class CountingPool:
    """A user's pool whose tasks' likelihood calls are added to ``counted``.

    Parameters
    ----------
    pool : object with ``map(f, iterable)``
        Processes, threads or MPI ranks; results may come back in any container.
    counted : CountedLikelihood
        Receives the calls made in every task.
    size : int
        Tasks the sampler queues at once (dynesty's ``queue_size``).
    """

    def __init__(self, pool, counted, size):
        self.pool, self.counted, self.size = pool, counted, int(size)

    def map(self, f, iterable):
        out = list(self.pool.map(_CountedTask(f), iterable))
        self.counted._local += sum(n for _, n in out)
        return [result for result, _ in out]


def pool_size(pool):
    """Workers of a user's pool, read the way dynesty, multiprocessing, concurrent.futures and mpi4py
    expose them; None if it does not say."""
    for name in ("size", "_processes", "_max_workers", "num_workers"):
        n = getattr(pool, name, None)
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return n
    return None
