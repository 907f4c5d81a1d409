"""flowprior: trained normalizing flows as exact priors for nested sampling.

Importing flowprior imports neither TensorFlow nor numba and changes no
global setting; TensorFlow is imported only to train.
"""

import logging

from ._version import __version__
from .errors import (
    BoundsEstimatedWarning,
    FlowFileError,
    FlowFormatVersionError,
    FlowpriorError,
    LikelihoodValueError,
    TrainingDataError,
    WorkerDiedError,
)
from ._options import TrainingOptions
from .block import BlockFlow
from .flow import MAF
from .importance import ImportanceResult, importance
from .io import load, save
from .kde import KDE
from .nuisance import JointEvidence, JointLikelihood, NuisanceFreeLikelihood, joint
from .piecewise import PiecewiseMAF
from .priors import GaussianPrior, LogUniformPrior, Prior, UniformPrior
from .repartition import Mixture, Repartitioned, repartition
from .results import RunResult
from .reweight import reweight
from .run import run
from .ensemble import bootstrap_ensemble
from .stats import MarginalStats, marginal_stats
from .two_stage import TwoStageResult, two_stage

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "Prior",
    "UniformPrior",
    "LogUniformPrior",
    "GaussianPrior",
    "MAF",
    "TrainingOptions",
    "PiecewiseMAF",
    "BlockFlow",
    "KDE",
    "load",
    "save",
    "run",
    "RunResult",
    "Mixture",
    "Repartitioned",
    "repartition",
    "two_stage",
    "TwoStageResult",
    "importance",
    "ImportanceResult",
    "reweight",
    "NuisanceFreeLikelihood",
    "joint",
    "JointLikelihood",
    "JointEvidence",
    "marginal_stats",
    "MarginalStats",
    "bootstrap_ensemble",
    "FlowpriorError",
    "FlowFileError",
    "FlowFormatVersionError",
    "TrainingDataError",
    "LikelihoodValueError",
    "WorkerDiedError",
    "BoundsEstimatedWarning",
]
