"""Two-stage nested sampling (:func:`flowprior.two_stage`) and the search for the modes stage 1 lost."""

from .result import TwoStageResult
from .workflow import two_stage

__all__ = ["TwoStageResult", "two_stage"]
