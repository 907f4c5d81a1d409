"""The one table of flow kinds that ``flow=`` names, and the options each kind's ``fit`` takes."""

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..training.options import split_fit_options
from .block import BlockFlow
from .kde import KDE
from .maf import MAF
from .piecewise import PiecewiseMAF

__all__ = ["FLOW_KINDS", "flow_class", "check_fit_options"]

_CLASSES = {"maf": MAF, "piecewise": PiecewiseMAF, "kde": KDE, "block": BlockFlow}
#: ``flow=`` names, in every function that takes one.
FLOW_KINDS = tuple(_CLASSES)
#: Keywords each kind's ``fit`` takes besides the training options (the KDE takes no training options).
_EXTRA = {"maf": ("backend",),
          "piecewise": ("backend", "n_clusters", "max_clusters", "min_silhouette", "min_cluster_size", "n_jobs",
                        "refine"),
          "block": ("backend", "blocks", "threshold"),
          "kde": ("bandwidth",)}


def flow_class(name, allowed=FLOW_KINDS):
    """The class ``flow=name`` means, or a ``ValueError`` naming the ``allowed`` kinds."""
    if not isinstance(name, str) or name not in allowed:
        raise FlowpriorValueError(f"expected flow in {tuple(allowed)}; got {name!r}")
    return _CLASSES[name]


def check_fit_options(flow, options, *, extra=(), name="flow_options"):
    """Refuse, before any work, options that ``flow``'s ``fit`` would not take (and bad training values)."""
    options = dict(options or {})
    if flow == "kde":
        unknown = sorted(set(options) - set(_EXTRA["kde"]) - set(extra))
        if unknown:
            raise FlowpriorTypeError(f"expected {name} among {sorted(set(_EXTRA['kde']) | set(extra))}; got {unknown}")
        return
    split_fit_options(options, extra=_EXTRA[flow] + tuple(extra), name=name)
