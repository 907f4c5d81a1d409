"""MPI helpers: the world communicator when a job has several ranks, and work done once for all.

mpi4py is optional; without it, or with one rank, every helper is a no-op.
"""

__all__ = ["mpi_comm", "on_root"]


def mpi_comm():
    """mpi4py's ``COMM_WORLD`` when more than one rank runs, else None."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


def on_root(work, comm):
    """``work()`` run on rank 0 only, its result broadcast to every rank.

    Used where ranks must hold the same bits (trained flows): training alike on every rank is
    deterministic on one machine but not promised across a cluster's nodes.  An exception on
    rank 0 is raised on every rank, so none waits for a broadcast that never comes.
    """
    if comm is None:
        return work()
    result, error = None, None
    if comm.Get_rank() == 0:
        try:
            result = work()
        except Exception as exc:  # sent to the other ranks, then raised on all
            error = exc
    result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result
