"""Learned priors: the MAF, piecewise and block flows, the KDE, and what they are fitted from."""

from .block import BlockFlow
from .ensemble import bootstrap_ensemble
from .kde import KDE
from .maf import MAF
from .piecewise import PiecewiseMAF

__all__ = ["BlockFlow", "KDE", "MAF", "PiecewiseMAF", "bootstrap_ensemble"]
