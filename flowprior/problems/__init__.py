"""Test problems with exact evidences: the project's own (:mod:`flowprior.problems.toy`) and the
published ones of the nested-sampling literature (:mod:`flowprior.problems.published`), each by
name through :func:`named`."""

from ..errors import FlowpriorValueError
from .published import (
    PUBLISHED,
    AsymmetricGaussian,
    BetaProblem,
    EggBox,
    Funnel,
    GaussianShells,
    LogGamma,
    PlanckLike,
    PublishedProblem,
    Rosenbrock,
    SpikeSlab,
)
from .toy import (
    NAMES,
    BananaProblem,
    BimodalProblem,
    BlockProblem,
    GaussianProblem,
    LinearGaussianPair,
    MixtureProblem,
    MoreDataPair,
    _correlation_cov,  # noqa: F401  (the tests build covariances as the problems do)
)

__all__ = ["GaussianProblem", "BananaProblem", "MixtureProblem", "BimodalProblem", "BlockProblem", "LinearGaussianPair",
           "MoreDataPair", "PublishedProblem", "Funnel", "LogGamma", "SpikeSlab", "EggBox", "GaussianShells",
           "Rosenbrock", "AsymmetricGaussian", "BetaProblem", "PlanckLike", "named", "NAMES", "PUBLISHED"]


def named(spec):
    """A problem by name, ``"family-d"``.

    The project's own families (:data:`~flowprior.problems.toy.NAMES`): ``gauss``, ``banana``,
    ``bimodal`` (0.7 / 0.3), ``unequal`` (0.75 / 0.25, the minor mode 0.7 times as wide),
    ``trimodal`` (0.6 / 0.3 / 0.1) and ``pair`` (0.75 / 0.25, equal widths); the published ones
    (:data:`~flowprior.problems.published.PUBLISHED`): ``funnel``, ``loggamma``, ``spikeslab``,
    ``eggbox`` (2 only), ``shells``, ``rosenbrock`` (2 only), ``asymgauss``, ``beta`` and ``planck``
    (6 only).  For example ``named("unequal-5")`` or
    ``named("funnel-10")``.
    """
    name, _, d = str(spec).partition("-")
    families = {**NAMES, **PUBLISHED}
    if name not in families or not d.isdigit() or int(d) < 1:
        raise FlowpriorValueError(f"expected a problem name family-d with family in {sorted(families)}; got {spec!r}")
    return families[name](int(d))
