"""Exact likelihood-call counting, also across process pools.

Samplers report their own call counts with their own conventions (dynesty's
``ncall`` includes or excludes the initial live points depending on the
version; PolyChord reports per-rank numbers).  flowprior counts calls itself
in a wrapper.  In a process pool the wrapper is pickled into each worker, so
the count lives in a shared integer that the pool's initializer hands to
every worker (shared memory may only pass to a process as it starts).
"""

__all__ = ["CountedLikelihood", "init_worker"]

_WORKER_COUNTER = None


def init_worker(counter):
    """Pool initializer: give this worker the run's shared call counter."""
    global _WORKER_COUNTER
    _WORKER_COUNTER = counter


class CountedLikelihood:
    """Wrap ``loglikelihood(theta) -> float`` and count every call.

    Parameters
    ----------
    loglikelihood : callable
    counter : multiprocessing.Value, optional
        Shared counter for pooled runs; a plain integer is used otherwise.
    """

    def __init__(self, loglikelihood, counter=None):
        if not callable(loglikelihood):
            raise TypeError(f"expected a callable loglikelihood; got {type(loglikelihood).__name__}")
        self.loglikelihood = loglikelihood
        self._counter = counter
        self._local = 0

    def __call__(self, theta):
        counter = _WORKER_COUNTER if _WORKER_COUNTER is not None else self._counter
        if counter is None:
            self._local += 1
        else:
            with counter.get_lock():
                counter.value += 1
        return float(self.loglikelihood(theta))

    @property
    def ncall(self):
        """Calls so far, in this process and (for pooled runs) every worker."""
        return self._local + (0 if self._counter is None else int(self._counter.value))

    def __getstate__(self):
        # Shared memory cannot be pickled into a running worker; workers get
        # the counter from the pool initializer instead.
        return {"loglikelihood": self.loglikelihood, "_counter": None, "_local": 0}
