r"""Flows on independent groups of parameters: :class:`BlockFlow`.

A posterior in which the parameters fall into groups that do not depend on one another
(a cosmological core and the nuisance parameters of each experiment, say) is the product
of its groups' marginals,

.. math::

    P(\theta) = \prod_b P_b(\theta_b), \qquad
    \log p(\theta) = \sum_b \log p_b(\theta_b),

and a base prior that is itself a product over parameters (a box, a diagonal or
block-diagonal Gaussian) splits the same way, cube coordinates and all.  Each group then
gets its own density in its own marginal base prior, and the hypercube transform is the
product of theirs, :math:`\theta_b = T_b(u_b)`: exact, bijective and normalised whenever
each is.  A flow on 6 parameters learns far better from the same samples than one on 30
("normalizing flows struggle to learn high dimensional distributions", Bevins et al. 2023,
who propose exploiting the independence of subspaces).

:meth:`BlockFlow.fit` finds the groups from the samples (:mod:`flowprior.flows.dependence`) or
takes them from the user, and gives each group the simplest density that describes it
(:func:`choose_kind`): the base prior itself where the samples do not tell the group from
it, a Gaussian in the group's Gaussianised cube where they do not tell it from a Gaussian,
otherwise a :class:`~flowprior.MAF` (a :class:`~flowprior.KDE` for a single non-Gaussian
parameter, which a MAF would describe as a Gaussian).
"""

import logging

import numpy as np

from .. import _registry
from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..kernels.normal import ndtri_clipped
from ..priors.base import Prior, _check_params, check_prior
from ..priors.cube import CubeGaussian, fit_cube_gaussian
from ..priors.simple import GaussianPrior, LogUniformPrior, UniformPrior
from ..training.options import split_fit_options
from .data import effective_sample_size, prepare, systematic_resample
from .dependence import DEPENDENCE_THRESHOLD, find_blocks
from .kde import KDE
from .maf import MAF

__all__ = ["BlockFlow", "marginal_prior", "choose_kind", "KINDS"]

logger = logging.getLogger(__name__)

#: What a group's density can be.
KINDS = ("prior", "gaussian", "maf", "kde")
#: A KDE's cost per call is linear in its points: a one-parameter block keeps at most this many.
KDE_MAX_POINTS = 2000
#: Standard errors within which sample moments count as those of a Gaussian, or of the base prior.
MOMENT_TOLERANCE = 4.0


def marginal_prior(prior, columns, params=None):
    """The base prior of ``columns`` alone; it must not couple them to the other columns.

    Parameters
    ----------
    prior : UniformPrior, LogUniformPrior or GaussianPrior
    columns : sequence of int
    params : sequence of str, optional
        Names of the columns; the prior's own by default.
    """
    idx = np.asarray(columns, dtype=np.int64)
    names = [prior.params[i] for i in idx] if params is None else list(params)
    if type(prior) in (UniformPrior, LogUniformPrior):
        return type(prior)(prior.lower[idx], prior.upper[idx], params=names)
    if type(prior) is GaussianPrior:
        rest = np.setdiff1d(np.arange(prior.ndims), idx)
        if np.any(prior.cov[np.ix_(idx, rest)] != 0):
            raise FlowpriorValueError(f"expected a base prior that does not correlate {names} with the other "
                                      "parameters; "
                             "got a GaussianPrior that does (put them in one block)")
        return GaussianPrior(prior.mean[idx], prior.cov[np.ix_(idx, idx)], params=names)
    raise FlowpriorTypeError("expected a base prior that is a product over parameters (UniformPrior, LogUniformPrior "
                             "or "
                    f"GaussianPrior); got {type(prior).__name__}")


def _coupled_by_prior(prior):
    """Pairs a base prior couples, which must share a block."""
    if type(prior) is GaussianPrior:
        return prior.cov != 0
    return np.zeros((prior.ndims, prior.ndims), bool)


def _fit_kde(theta, weights, prior, params, seed):
    """A KDE on at most :data:`KDE_MAX_POINTS` distinct rows, systematically resampled by weight."""
    if len(weights) > KDE_MAX_POINTS:
        rows, counts = np.unique(systematic_resample(weights, np.random.default_rng(seed), KDE_MAX_POINTS),
                                 return_counts=True)
        theta, weights = theta[rows], counts.astype(np.float64)
    return KDE.fit(theta, weights, prior=prior, params=params)


def choose_kind(x, weights):
    r"""The simplest density for samples ``x`` of a group, in its Gaussianised cube.

    ``"prior"`` if the weighted mean and covariance of :math:`x = \Phi^{-1}(u)` are those of
    :math:`\mathcal{N}(0, I)`, the base prior's own, within ``MOMENT_TOLERANCE`` standard
    errors; ``"gaussian"`` if every coordinate's skewness and excess kurtosis, and every pair's
    product moments :math:`\langle z_i^2 z_j\rangle` and :math:`\langle z_i^2 z_j^2\rangle - 1`
    of the whitened :math:`z`, are within that many standard errors of a Gaussian's
    (:math:`\sqrt{6/n}`, :math:`\sqrt{24/n}`, :math:`\sqrt{2/n}`, :math:`\sqrt{8/n}` for
    effective sample size :math:`n`); otherwise ``"maf"``, or ``"kde"`` for one parameter.
    """
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    n = 1.0 / np.sum(w**2)
    d = x.shape[1]
    tol = MOMENT_TOLERANCE
    mean = w @ x
    r = x - mean
    cov = (r * w[:, None]).T @ r
    off = cov - np.diag(np.diag(cov))
    if (np.all(np.abs(mean) < tol / np.sqrt(n)) and np.all(np.abs(np.diag(cov) - 1) < tol * np.sqrt(2 / n))
            and np.all(np.abs(off) < tol / np.sqrt(n))):
        return "prior"
    z = r @ np.linalg.inv(np.linalg.cholesky(cov + 1e-300 * np.eye(d))).T
    skew, kurt = w @ z**3, w @ z**4 - 3.0
    gaussian = np.all(np.abs(skew) < tol * np.sqrt(6 / n)) and np.all(np.abs(kurt) < tol * np.sqrt(24 / n))
    for i in range(d):
        for j in range(d):
            if i != j and gaussian:
                gaussian = (abs(w @ (z[:, i] ** 2 * z[:, j])) < tol * np.sqrt(2 / n)
                            and abs(w @ (z[:, i] ** 2 * z[:, j] ** 2) - 1.0) < tol * np.sqrt(8 / n))
    if gaussian:
        return "gaussian"
    return "kde" if d == 1 else "maf"


def _check_blocks(blocks, params):
    """User-given blocks as lists of names: a partition of ``params``."""
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__iter__"):
        raise FlowpriorTypeError(f"expected blocks='auto' or a list of lists of parameter names; got {blocks!r}")
    out = []
    for block in blocks:
        if isinstance(block, (str, bytes)) or not hasattr(block, "__iter__"):
            raise FlowpriorTypeError(f"expected each block as a list of parameter names; got {block!r}")
        out.append([str(p) for p in block])
    names = [p for b in out for p in b]
    unknown = sorted(set(names) - set(params))
    missing = [p for p in params if p not in names]
    repeated = sorted({p for p in names if names.count(p) > 1})
    if unknown or missing or repeated or any(len(b) == 0 for b in out):
        raise FlowpriorValueError(f"expected blocks that hold each of {list(params)} exactly once; got {out} (unknown "
                         f"{unknown}, missing {missing}, repeated {repeated})")
    return out


def _merged_parts(components, columns, prior, params):
    """The blocks as evaluated: those that are the base prior merged into one marginal base prior, and
    the Gaussian ones into one block-diagonal Gaussian (the same product, fewer calls on the sampler's
    path); the others as they are.  ``[(component, columns)]``."""
    parts, flat, gauss = [], [], []
    for c, cols in zip(components, columns):
        if type(c) in (UniformPrior, LogUniformPrior, GaussianPrior):
            flat.append(cols)
        elif type(c) is CubeGaussian:
            gauss.append((c, cols))
        else:
            parts.append((c, cols))
    if flat:
        cols = np.concatenate(flat)
        parts.append((marginal_prior(prior, cols, params=[params[i] for i in cols]), cols))
    if len(gauss) == 1:
        parts.append(gauss[0])
    elif gauss:
        cols = np.concatenate([g[1] for g in gauss])
        sizes = [len(g[1]) for g in gauss]
        mean = np.concatenate([g[0].mean for g in gauss])
        cov = np.zeros((len(cols), len(cols)))
        start = 0
        for (g, _), k in zip(gauss, sizes):
            cov[start:start + k, start:start + k] = g.cov
            start += k
        base = marginal_prior(prior, cols, params=[params[i] for i in cols])
        parts.append((CubeGaussian(base, mean, cov), cols))
    return parts


@_registry.register
class BlockFlow(Prior):
    """A product of densities over groups of parameters (see module docs).

    Build one with :meth:`BlockFlow.fit` or :func:`flowprior.load`.

    Parameters
    ----------
    components : sequence of Prior
        One per block, on that block's parameters, each in the block's marginal base prior.
    blocks : sequence of sequence of str
        A partition of ``params``.
    prior : Prior
        The base prior of all the parameters (a product over the blocks).
    params : sequence of str, optional
        The base prior's by default.
    fit_info : dict, optional
        What :meth:`fit` found (the dependence estimates and the link threshold), saved with it.

    Attributes
    ----------
    blocks : list of list of str
    kinds : list of str
        Each block's density: ``"prior"``, ``"gaussian"``, ``"maf"`` or ``"kde"``.
    """

    def __init__(self, components, blocks, *, prior, params=None, fit_info=None):
        check_prior(prior)
        self.prior = prior
        self.ndims = prior.ndims
        self.params = _check_params(prior.params if params is None else params, self.ndims)
        self.blocks = _check_blocks(blocks, self.params)
        components = list(components)
        if len(components) != len(self.blocks) or not all(isinstance(c, Prior) for c in components):
            raise FlowpriorTypeError(f"expected one flowprior prior per block ({len(self.blocks)}); got {components!r}")
        for c, b in zip(components, self.blocks):
            if c.ndims != len(b):
                raise FlowpriorValueError(f"expected a component of {len(b)} dimensions for block {b}; got {c.ndims}")
        self.components = components
        self._columns = [np.array([self.params.index(p) for p in b], dtype=np.int64) for b in self.blocks]
        self._parts = _merged_parts(self.components, self._columns, self.prior, self.params)
        self.fit_info = fit_info

    @property
    def kinds(self):
        """Each block's density: ``"prior"``, ``"gaussian"``, ``"maf"`` or ``"kde"``."""
        names = {"UniformPrior": "prior", "LogUniformPrior": "prior", "GaussianPrior": "prior",
                 "CubeGaussian": "gaussian", "MAF": "maf", "KDE": "kde"}
        return [names.get(type(c).__name__, type(c).__name__) for c in self.components]

    @classmethod
    def fit(cls, samples, weights=None, *, prior, params=None, blocks="auto", seed=None,
            threshold=DEPENDENCE_THRESHOLD, **flow_options):
        """Find the blocks (or take them), and fit each its density.

        Parameters
        ----------
        samples, weights, params
            As for :meth:`flowprior.MAF.fit`.
        prior : UniformPrior, LogUniformPrior or GaussianPrior
            The base prior, a product over the blocks.
        blocks : "auto" or list of list of str
            ``"auto"`` finds them (:func:`flowprior.flows.dependence.find_blocks`).
        seed : int, optional
            Seeds every block's training.
        threshold : float
            Mutual information (nats) above which two parameters share a block.
        **flow_options
            Passed to :meth:`flowprior.MAF.fit` for the blocks that get a MAF; unknown ones
            raise ``TypeError`` before any work.

        Returns
        -------
        BlockFlow
        """

        split_fit_options(flow_options, extra=("backend",), name="flow options")
        check_prior(prior)
        marginal_prior(prior, range(prior.ndims))  # a product prior, or a clear error now
        if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold >= 0):
            raise FlowpriorValueError(f"expected threshold >= 0 (nats); got {threshold!r}")
        data = prepare(samples, weights, prior=prior, params=params)
        x = ndtri_clipped(data.prior._inverse_prior_transform(data.theta))
        fit_info = {"threshold": float(threshold)}
        if isinstance(blocks, str) and blocks == "auto":
            groups, mi, limit = find_blocks(x, data.weights, threshold=threshold,
                                            must_link=_coupled_by_prior(data.prior))
            named = [[data.params[i] for i in g] for g in groups]
            fit_info.update(mutual_information=mi.tolist(), link_threshold=limit)
        else:
            named = _check_blocks(blocks, data.params)
            for g in named:  # a block the base prior couples to another is refused here
                marginal_prior(data.prior, [data.params.index(p) for p in g])
        seeds = np.random.SeedSequence(seed).generate_state(len(named))
        components = []
        for k, names in enumerate(named):
            cols = [data.params.index(p) for p in names]
            sub = marginal_prior(data.prior, cols, params=names)
            kind = choose_kind(x[:, cols], data.weights)
            theta = data.theta[:, cols]
            if kind == "prior":
                comp = sub
            elif kind == "gaussian":
                comp = fit_cube_gaussian(theta, data.weights, sub)
            elif kind == "kde":
                comp = _fit_kde(theta, data.weights, sub, names, int(seeds[k]))
            else:
                comp = MAF.fit(theta, data.weights, prior=sub, params=names, seed=int(seeds[k]), **flow_options)
            logger.info("BlockFlow: block %s (%d parameters): %s", names, len(names), kind)
            components.append(comp)
        fit_info["effective_sample_size"] = effective_sample_size(data.weights)
        return cls(components, named, prior=data.prior, params=data.params, fit_info=fit_info)

    def widened(self, scale):
        r"""The same product with each block's flow (and Gaussian) widened by ``scale``.

        MAF blocks as :meth:`flowprior.MAF.widened`, Gaussian blocks with covariance times
        :math:`s^2`; blocks that are the base prior or a KDE are kept as they are.

        Parameters
        ----------
        scale : float
        """
        out = []
        for c in self.components:
            if hasattr(c, "widened"):
                c = c.widened(scale)
            elif isinstance(c, CubeGaussian):
                c = CubeGaussian(c.base, c.mean, c.cov * float(scale) ** 2)
            out.append(c)
        return type(self)(out, self.blocks, prior=self.prior, params=self.params, fit_info=self.fit_info)

    # --- evaluation: each block on its own columns ----------------------------------
    def _prior_transform(self, u):
        out = np.empty_like(u)
        for c, cols in self._parts:
            out[:, cols] = c._prior_transform(np.ascontiguousarray(u[:, cols]))
        return out

    def _inverse_prior_transform(self, theta):
        out = np.empty_like(theta)
        for c, cols in self._parts:
            out[:, cols] = c._inverse_prior_transform(np.ascontiguousarray(theta[:, cols]))
        return out

    def _log_prob(self, theta):
        return self._log_prob_all(theta)

    def _log_prob_all(self, theta):
        total = np.zeros(theta.shape[0])
        for c, cols in self._parts:
            total += c._log_prob_all(np.ascontiguousarray(theta[:, cols]))
        return total

    def _in_support(self, theta):
        return self.prior._in_support(theta)

    def _state(self):
        prior_config, arrays = _registry.dump(self.prior, prefix="prior/")
        configs = []
        for k, c in enumerate(self.components):
            cfg, arr = _registry.dump(c, prefix=f"block{k}/")
            configs.append(cfg)
            arrays.update(arr)
        return {"params": list(self.params), "blocks": self.blocks, "components": configs, "prior": prior_config,
                "fit_info": self.fit_info}, arrays

    @classmethod
    def _from_state(cls, config, arrays):
        prior = _registry.build(config["prior"], arrays, prefix="prior/")
        components = [_registry.build(cfg, arrays, prefix=f"block{k}/") for k, cfg in enumerate(config["components"])]
        return cls(components, config["blocks"], prior=prior, params=config["params"],
                   fit_info=config.get("fit_info"))

    def __repr__(self):
        return (f"BlockFlow(ndims={self.ndims}, blocks={self.blocks}, kinds={self.kinds}, "
                f"prior={self.prior!r})")
