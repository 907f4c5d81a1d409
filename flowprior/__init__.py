"""flowprior: trained normalizing flows as exact priors for nested sampling.

Importing flowprior imports neither TensorFlow nor numba and changes no
global setting; TensorFlow is imported only to train.
"""

import logging

from . import errors
from ._version import __version__
from .errors import *  # noqa: F403  (every exception and warning; errors.__all__ lists them once)
from .flows.block import BlockFlow
from .flows.ensemble import bootstrap_ensemble
from .flows.kde import KDE
from .flows.maf import MAF
from .flows.piecewise import PiecewiseMAF
from .io import load, save
from .priors.base import Prior
from .priors.mixture import Mixture
from .priors.simple import GaussianPrior, LogUniformPrior, UniformPrior
from .samplers.results import RunResult
from .samplers.run import run
from .training.options import TrainingOptions
from .workflows.importance import ImportanceResult, importance
from .workflows.nuisance import JointEvidence, JointLikelihood, NuisanceFreeLikelihood, joint
from .workflows.repartition import Repartitioned, repartition
from .workflows.reweight import reweight
from .workflows.stats import MarginalStats, marginal_stats
from .workflows.two_stage.workflow import TwoStageResult, two_stage

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
] + errors.__all__
