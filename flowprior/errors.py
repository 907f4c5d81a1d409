"""Exceptions and warnings raised by flowprior.

Every exception derives from :class:`FlowpriorError` *and* from the builtin
type a caller would naturally catch (``ValueError``, ``ImportError``), so
``except ValueError`` keeps working for code that does not know flowprior.
"""

__all__ = [
    "FlowpriorError",
    "FlowFileError",
    "FlowFormatVersionError",
    "TrainingDataError",
    "LikelihoodValueError",
    "WorkerDiedError",
    "BoundsEstimatedWarning",
]


class FlowpriorError(Exception):
    """Base class of every exception raised on purpose by flowprior."""


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


class BoundsEstimatedWarning(UserWarning):
    """No base prior was given, so a box was estimated from the samples.

    The flow's density is then normalised inside that box only.
    """
