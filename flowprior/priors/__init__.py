"""Priors: the protocol every prior answers, the simple ones, mixtures, and priors in another's cube."""

from .base import Prior
from .cube import CubeBox, CubeGaussian, fit_cube_gaussian
from .mixture import Mixture
from .simple import GaussianPrior, LogUniformPrior, UniformPrior

__all__ = ["CubeBox", "CubeGaussian", "GaussianPrior", "LogUniformPrior", "Mixture", "Prior", "UniformPrior",
           "fit_cube_gaussian"]
