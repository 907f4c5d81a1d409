"""Exceptions and warnings raised by flowprior.

Every exception flowprior raises on purpose derives from :class:`FlowpriorError` *and* from
the builtin type a caller would naturally catch (``ValueError``, ``TypeError``,
``ImportError``, ...), so ``except ValueError`` keeps working for code that does not know
flowprior, and ``except FlowpriorError`` catches all of them.  The file system's own errors
(``FileNotFoundError`` and the other ``OSError``) pass through as they are.  A test
(``tests/test_errors.py``) reads every ``raise`` in the package and holds it to this.
"""

__all__ = [
    "FlowpriorError",
    "FlowpriorValueError",
    "FlowpriorTypeError",
    "FlowpriorRuntimeError",
    "MissingDependencyError",
    "NotBijectiveError",
    "TrainingDivergedError",
    "FlowFileError",
    "FlowFormatVersionError",
    "TrainingDataError",
    "LikelihoodValueError",
    "WorkerDiedError",
    "SamplerStalledError",
    "BoundsEstimatedWarning",
]


class FlowpriorError(Exception):
    """Base class of every exception raised on purpose by flowprior."""


class FlowpriorValueError(FlowpriorError, ValueError):
    """An argument, option or input has a value flowprior cannot use ("expected ...; got ...")."""


class FlowpriorTypeError(FlowpriorError, TypeError):
    """An argument, option or input has a type flowprior cannot use, or an unknown name."""


class FlowpriorRuntimeError(FlowpriorError, RuntimeError):
    """Something flowprior started failed on the way (a training process, an unexpected network layout)."""


class MissingDependencyError(FlowpriorError, ImportError):
    """An optional package a chosen feature needs (dynesty, PolyChord, nautilus, numba) is not installed."""


class NotBijectiveError(FlowpriorError, NotImplementedError):
    """An inverse transform was asked of a prior that has none (a mixture maps several cube points to each theta)."""


class TrainingDivergedError(FlowpriorError, FloatingPointError):
    """Training gave a non-finite loss from the start (try a smaller learning rate)."""


class FlowFileError(FlowpriorError, ValueError):
    """A saved flow file is truncated, corrupted or not a flowprior file."""


class FlowFormatVersionError(FlowFileError):
    """A saved flow file was written by a newer, unknown format version."""


class TrainingDataError(FlowpriorError, ValueError):
    """Samples or weights given for training cannot be used as they are."""


class LikelihoodValueError(FlowpriorError, ValueError):
    """A log-likelihood returned NaN, +inf or something that is not a number.

    Raised by flowprior's counting wrapper for every sampler, before the value
    reaches the sampler (PolyChord's core crashes on NaN; dynesty stops with
    an error of its own; nautilus's networks train on it).
    """


class WorkerDiedError(FlowpriorError, RuntimeError):
    """A worker of flowprior's process pool died while running a task.

    The run cannot continue (its task is lost); the other workers are stopped.
    """


class SamplerStalledError(FlowpriorRuntimeError):
    """A sampler stopped making progress: its proposals are no longer accepted, and it would loop for ever.

    Raised instead of hanging (a bound that no longer overlaps the unit cube is drawn from without
    end); the message says where the run was.
    """


class BoundsEstimatedWarning(UserWarning):
    """No base prior was given, so a box was estimated from the samples.

    The flow's density is then normalised inside that box only.
    """
