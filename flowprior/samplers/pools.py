"""The process pool behind ``fp.run(..., npool=N)``: it raises when a worker dies and ends on Ctrl-C.

``multiprocessing.Pool`` replaces a worker that dies (``os._exit``, a segfault in C code, the
kernel's OOM killer) and waits forever for the task it lost; ``close(); join()`` after Ctrl-C
waits for tasks that will never finish.  This pool runs on ``concurrent.futures``, which notices
a dead worker and fails every pending task, and on any error it terminates its workers rather
than waiting for them.
"""

import contextlib
import logging
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import WorkerDiedError
from .counting import init_worker

__all__ = ["ProcessPool", "closed_after"]

logger = logging.getLogger(__name__)


class ProcessPool:
    """``n`` worker processes with ``map`` and ``size`` for dynesty and nautilus.

    Parameters
    ----------
    n : int
        Workers.
    context : multiprocessing context
        Its start method (fork, spawn, forkserver) starts the workers.
    counter : multiprocessing.Value or None
        The run's shared call counter, handed to every worker as it starts.
    """

    def __init__(self, n, context, counter):
        self.size = int(n)
        self._executor = ProcessPoolExecutor(self.size, mp_context=context, initializer=init_worker,
                                             initargs=(counter,))

    def map(self, f, iterable, chunksize=1):
        """``[f(x) for x in iterable]`` on the workers, in order, ``chunksize`` items per task."""
        try:
            return list(self._executor.map(f, iterable, chunksize=chunksize))
        except BrokenProcessPool:
            raise WorkerDiedError("expected every pool worker to finish its task; got a worker that died "
                                  "(killed, out of memory, or crashed in compiled code) while evaluating the "
                                  "likelihood or the prior") from None

    def close(self, *, failed=False):
        """Wait for the workers to finish, or, after an error or Ctrl-C, terminate them at once."""
        if not failed:
            self._executor.shutdown(wait=True)
            return
        # A second Ctrl-C (a terminal sends one to every process of the group, and workers send their own
        # KeyboardInterrupt back first) must not cut the clean-up short and leave workers or a feeder
        # thread behind; it is delivered once the workers are gone.
        with _interrupts_held():
            self._terminate()

    def _terminate(self):
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        # Tasks still queued for the dead workers must not hold up this process's exit: without this, the
        # queue's feeder thread is joined at exit while it waits to write into a pipe nobody reads.
        call_queue = getattr(self._executor, "_call_queue", None)
        if call_queue is not None:
            call_queue.cancel_join_thread()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                logger.warning("pool worker %s did not stop on SIGTERM; killing it", process.pid)
                process.kill()
                process.join(timeout=5)


@contextlib.contextmanager
def _interrupts_held():
    """Hold Ctrl-C back for the block, and hand it to the handler it was meant for after the block.

    Python runs signal handlers in the main thread whichever thread the signal reached, so a handler
    that only records the signal holds it back everywhere; elsewhere than the main thread handlers
    cannot be set, and the block runs unguarded, as it does under a handler installed outside Python.
    """
    # A handler installed outside Python (getsignal gives None) could not be put back: leave it alone.
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    held = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, None)  # the held Ctrl-C, to the handler it was meant for (Python's raises)


@contextlib.contextmanager
def closed_after(pool):
    """Close ``pool`` (if not ``None``) when the block ends; on an error or Ctrl-C, stop its workers
    at once rather than wait for their tasks."""
    try:
        yield pool
    except BaseException:
        if pool is not None:
            pool.close(failed=True)
        raise
    if pool is not None:
        pool.close()
