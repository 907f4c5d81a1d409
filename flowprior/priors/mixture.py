r"""Mixtures of priors on the same parameters, :class:`Mixture`.

The hypercube transform of a mixture is exact and deterministic: the first cube coordinate
is split into intervals of length :math:`w_k`; the interval it falls in picks the component,
the coordinate is rescaled to [0, 1] within it, and that component's own transform is
applied.  Uniform :math:`u` then gives component :math:`k` with exactly its weight and,
within it, that component's distribution.  This keeps the dimension (an extra choice
coordinate would add a parameter the sampler must explore) at the cost of
:math:`\log_2(1/w_k)` bits of that coordinate's resolution.  A mixture maps several cube
points to each :math:`\theta`, so it has no inverse transform.
"""

import numpy as np

from .. import _registry
from ..errors import FlowpriorTypeError, FlowpriorValueError, NotBijectiveError
from ..kernels.logsumexp import logsumexp
from .base import Prior

__all__ = ["Mixture"]


def _check_weights(weights, n):
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise FlowpriorValueError(f"expected {n} non-negative weights with a positive sum; got {w.tolist()}")
    return w / w.sum()


@_registry.register
class Mixture(Prior):
    r"""Mixture :math:`\sum_k w_k p_k` of priors on the same parameters.

    Parameters
    ----------
    components : sequence of Prior
        Priors with equal ``ndims`` (and ``params``, which the mixture takes).
    weights : array_like
        Non-negative, normalised here.  Components of weight zero are kept
        (for bookkeeping) but never drawn.

    Examples
    --------
    >>> import flowprior as fp
    >>> mix = fp.Mixture([fp.UniformPrior([0], [1]), fp.GaussianPrior([0.5], [0.01])], [0.5, 0.5])
    >>> mix.prior_transform([[0.25], [0.75]]).round(3)
    array([[0.5],
           [0.5]])
    """

    def __init__(self, components, weights):
        components = list(components)
        if not components or not all(isinstance(c, Prior) for c in components):
            raise FlowpriorTypeError("expected a non-empty sequence of flowprior priors")
        ndims = {c.ndims for c in components}
        if len(ndims) != 1:
            raise FlowpriorValueError(f"expected components of equal ndims; got {sorted(ndims)}")
        params = components[0].params
        for c in components[1:]:
            if c.params != params:
                raise FlowpriorValueError(f"expected components with the same params {list(params)}; got "
                                          f"{list(c.params)}")
        self.components = components
        self.weights = _check_weights(weights, len(components))
        self.ndims = components[0].ndims
        self.params = params
        self._edges = np.r_[0.0, np.cumsum(self.weights)]
        self._edges[-1] = 1.0
        with np.errstate(divide="ignore"):
            self._log_w = np.log(self.weights)

    def _prior_transform(self, u):
        k = np.clip(np.searchsorted(self._edges, u[:, 0], side="right") - 1, 0, len(self.weights) - 1)
        # u = 1 falls past the last edge; zero-weight components are empty intervals.
        out = np.empty_like(u)
        for j in np.unique(k):
            rows = k == j
            sub = u[rows].copy()
            sub[:, 0] = np.clip((sub[:, 0] - self._edges[j]) / self.weights[j], 0.0, 1.0)
            out[rows] = self.components[j]._prior_transform(sub)
        return out

    def component_log_probs(self, theta):
        """``log w_k + log p_k(theta)``, shape ``(n, n_components)``; -inf outside a support.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``
        """
        t2 = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        return np.column_stack([lw + c._log_prob_all(t2) for lw, c in zip(self._log_w, self.components)])

    def responsibilities(self, theta):
        r"""Component probabilities :math:`w_k p_k(\theta) / \sum_j w_j p_j(\theta)`, shape ``(n, n_components)``.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``
        """
        comp = self.component_log_probs(theta)
        return np.exp(comp - logsumexp(comp, axis=1, keepdims=True))

    def _log_prob_all(self, theta):
        return logsumexp(self.component_log_probs(theta), axis=1)

    def _log_prob(self, theta):
        return self._log_prob_all(theta)

    def _in_support(self, theta):
        return np.any([c._in_support(theta) for c in self.components], axis=0)

    def _inverse_prior_transform(self, theta):
        raise NotBijectiveError(
            "expected a bijective prior for inverse_prior_transform; a mixture maps several u to each theta"
        )

    def _state(self):
        configs, arrays = [], {"weights": self.weights}
        for k, c in enumerate(self.components):
            cfg, arr = _registry.dump(c, prefix=f"component{k}/")
            configs.append(cfg)
            arrays.update(arr)
        return {"components": configs}, arrays

    @classmethod
    def _from_state(cls, config, arrays):
        comps = [_registry.build(cfg, arrays, prefix=f"component{k}/") for k, cfg in enumerate(config["components"])]
        return cls(comps, arrays["weights"])
