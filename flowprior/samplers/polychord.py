"""PolyChord adapter (optional: pypolychord is installed from PolyChordLite).

PolyChord calls the prior one point at a time from compiled code
(``theta[:] = prior(cube)``), so ``prior.prior_transform`` is passed as it
is.  Output files go to ``base_dir``: a fresh temporary directory, removed
once the dead points are read back, unless the user names one (kept), never
the working directory by surprise.  PolyChord is silent (``feedback=-1``)
unless asked.

Under MPI (``mpirun -np N python script.py``, with mpi4py and an MPI build of
PolyChord), every rank calls :func:`flowprior.run` alike and builds its own
prior (for a flow: ``fp.load(path)`` on each rank).  Rank 0 makes the one
temporary directory and tells the others; rank 0 reads the run back and
broadcasts it, so every rank returns the same samples (a node-local
``/tmp`` on the other ranks does not matter); ``ncall`` is summed over the
ranks.  An exception on any rank prints its traceback and aborts the whole
job (``MPI_Abort``): the other ranks would otherwise wait for it forever.
"""

import ctypes
import shutil
import sys
import tempfile
import traceback

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError, MissingDependencyError
from ._checks import check_values, count_or_auto, fraction, non_negative, positive, positive_int
from .mpi import mpi_comm

__all__ = ["OPTIONS", "run_polychord"]

OPTIONS = ("num_repeats", "nprior", "nfail", "do_clustering", "feedback", "precision_criterion",
           "logzero", "max_ndead", "boost_posterior", "posteriors", "equals", "cluster_posteriors",
           "write_resume", "write_paramnames", "read_resume", "write_stats", "write_live",
           "write_dead", "write_prior", "maximise", "compression_factor", "synchronous",
           "base_dir", "file_root", "grade_frac", "grade_dims", "nlives")
#: Values checked before the run (``num_repeats=0`` ends the process through Fortran's STOP).
RULES = {"num_repeats": positive_int, "precision_criterion": positive, "nprior": count_or_auto,
         "nfail": count_or_auto, "max_ndead": count_or_auto, "compression_factor": fraction,
         "boost_posterior": non_negative}


def _import_pypolychord():
    try:
        # An MPI build of PolyChord needs MPI initialised by mpi4py, or its second run aborts.
        import mpi4py.MPI  # noqa: F401
    except ImportError:
        pass
    try:
        import pypolychord
    except ImportError:
        raise MissingDependencyError(
            "sampler='polychord' needs pypolychord, which is not on PyPI: install it from "
            "https://github.com/PolyChord/PolyChordLite (pip install . in a clone, needs a "
            "Fortran compiler), or use sampler='dynesty'"
        ) from None
    return pypolychord


def _restore_callback_references(exc):
    """Give back the references pypolychord 1.22 drops when a callback raises.

    Its C++ ``run`` releases the likelihood and prior callbacks on that path but keeps pointing at them,
    and the next ``pypolychord.run`` releases them again: a use after free that crashed a later run at
    random (a segfault in CI).  Taking one reference for each, from pypolychord's own ``run`` frame in
    the traceback, restores what the pointers own; the next run then releases them as it should.
    """
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        # Only an exception from inside a callback (a frame below pypolychord's run) took that path.
        if (tb.tb_next is not None and frame.f_code.co_name == "run"
                and "pypolychord" in frame.f_code.co_filename.replace("\\", "/").split("/")
                and {"wrap_loglikelihood", "wrap_prior"} <= set(frame.f_locals)):
            for name in ("wrap_loglikelihood", "wrap_prior"):
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(frame.f_locals[name]))
            return
        tb = tb.tb_next


def run_polychord(loglikelihood, prior, *, nlive, seed, options):
    """Run PolyChord's ``pypolychord.run``; see :func:`flowprior.run`."""
    options = dict(options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise FlowpriorTypeError(f"polychord does not accept option(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(OPTIONS)}")
    # Results are read back from the dead points under the prior's names, which flowprior writes.
    if options.get("write_dead", True) is not True:
        raise FlowpriorValueError("expected write_dead=True (flowprior reads the run back from its dead points; "
                         f"name a base_dir to keep the files); got write_dead={options['write_dead']!r}")
    if options.get("write_paramnames", False) is not False:
        raise FlowpriorValueError("expected write_paramnames=False (flowprior writes the .paramnames file with the "
                         "prior's params; PolyChord's own would rename them theta1, theta2, ...); got "
                         f"write_paramnames={options['write_paramnames']!r}")
    check_values("polychord", options, RULES)
    if "precision_criterion" in options and options["precision_criterion"] is None:
        del options["precision_criterion"]  # None: PolyChord's own default, as for dynesty
    pypolychord = _import_pypolychord()
    comm = mpi_comm()
    rank = 0 if comm is None else comm.Get_rank()
    temporary = "base_dir" not in options
    if temporary:
        path = tempfile.mkdtemp(prefix="flowprior-polychord-") if rank == 0 else None
        options["base_dir"] = path if comm is None else comm.bcast(path, root=0)
    options.setdefault("file_root", "flowprior")
    options.setdefault("read_resume", False)
    options.setdefault("feedback", -1)
    if seed is not None:
        # PolyChord takes positive integer seeds only.
        options["seed"] = int(seed) % (2**31 - 1) + 1

    # PolyChord passes views of its own Fortran buffers; an exception's traceback would keep them past
    # the run, and touching them then crashes the process. Each callback rebinds its argument to a copy.
    def like(theta):
        theta = np.array(theta)
        return loglikelihood(theta)

    def transform(cube):
        cube = np.array(cube)
        return prior.prior_transform(cube)

    def go():
        try:
            return pypolychord.run(like, prior.ndims, nlive=nlive, prior=transform,
                                   paramnames=[(p, p) for p in prior.params], **options)
        except BaseException as exc:
            _restore_callback_references(exc)
            raise

    if comm is None:
        try:
            samples = go()
        finally:
            if temporary:
                shutil.rmtree(options["base_dir"], ignore_errors=True)
        return samples, samples, {"stopped_by": "the sampler's own rules"}
    try:
        try:
            samples = go()
        except FileNotFoundError:
            if rank == 0:
                raise
            samples = None  # this rank cannot see rank 0's files; rank 0 sends the run below
        samples = comm.bcast(samples if rank == 0 else None, root=0)
        ncall = comm.allreduce(int(loglikelihood.ncall))
        comm.Barrier()
    except BaseException:
        sys.stderr.write(f"flowprior: PolyChord failed on MPI rank {rank}; aborting every rank\n")
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)
    if temporary and rank == 0:
        shutil.rmtree(options["base_dir"], ignore_errors=True)
    return samples, samples, {"stopped_by": "the sampler's own rules", "ncall": ncall, "comm": comm}
