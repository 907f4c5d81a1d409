r"""The masked autoregressive flow prior, :class:`MAF`.

The flow lives in the unit hypercube of a base prior :math:`\pi`:

.. math::

    u \xrightarrow{\Phi^{-1}} z \xrightarrow{\text{MAF}} x
      \xrightarrow{\Phi} v \xrightarrow{\pi\text{'s transform}} \theta,

a bijection of :math:`[0,1]^d` onto the support of :math:`\pi`.  Its
density is exact and normalised,

.. math::

    \log p(\theta) = \log q_\text{cube}(v) + \log \pi(\theta), \qquad
    \log q_\text{cube}(v) = \log \mathcal{N}(z) + \log\left|\det
        \frac{\partial z}{\partial x}\right| - \log \mathcal{N}(x),

with :math:`x = \Phi^{-1}(v)` and :math:`z` the MAF's inverse of :math:`x`.

References
----------
G. Papamakarios, T. Pavlakou and I. Murray (2017), "Masked Autoregressive Flow for Density
Estimation", NeurIPS, arXiv:1705.07057.

H. T. J. Bevins, W. J. Handley, P. Lemos, P. H. Sims, E. de Lera Acedo, A. Fialkov and J. Alsing
(2022), "Removing the fog of war: marginal Bayesian statistics with masked autoregressive flows"
(margarine), arXiv:2205.12841.
"""

import logging

import numpy as np

from .. import _registry
from ..errors import FlowpriorValueError, MissingDependencyError
from ..kernels import made
from ..kernels.normal import ndtri_clipped
from ..priors.base import Prior, _check_params, check_prior
from ..priors.simple import UniformPrior
from ..training.options import BACKENDS, check_backend, training_options
from .data import prepare

__all__ = ["MAF", "BACKENDS"]

logger = logging.getLogger(__name__)



def _kernel(packed, backend):
    check_backend(backend)
    if backend in ("auto", "numba"):
        try:
            from ..kernels._numba import NumbaKernel
        except ImportError:
            if backend == "numba":
                raise MissingDependencyError("backend='numba' needs numba: pip install numba") from None
            logger.debug("numba not importable; evaluating flows with NumPy")
        else:
            return NumbaKernel(packed), "numba"
    return made.NumpyKernel(packed), "numpy"


def _rebuild(dumped, backend):
    config, arrays = dumped
    return MAF._from_state(config, arrays, backend=backend)


@_registry.register
class MAF(Prior):
    """A masked autoregressive flow used as a unit-hypercube prior.

    Build one with :meth:`MAF.fit` or :func:`flowprior.load`.  It answers the
    prior protocol (``prior_transform``, ``inverse_prior_transform``,
    ``log_prob``, ``sample``), evaluated in float64 from the trained weights
    without TensorFlow.

    Parameters
    ----------
    kernels, biases, masks : lists over MADEs of lists over layers
        Weights in the layout of TFP's ``AutoregressiveNetwork`` (kernels
        ``(n_in, n_out)``, output units interleaved shift/log-scale).
    perms : array_like of int, shape ``(number_networks - 1, ndims)``
        Permutation applied after each MADE but the last, when sampling.
    activation : str
        Hidden-layer activation.
    prior : Prior
        The base prior whose unit cube the flow lives in.
    params : sequence of str, optional
        Parameter names; the base prior's by default.
    history : dict, optional
        Training history, kept for inspection and saved with the flow.
    backend : {"auto", "numba", "numpy"}
        Evaluation kernel; "auto" takes numba when it imports.  Both give the
        same numbers up to rounding.

    Examples
    --------
    >>> import numpy as np, flowprior as fp
    >>> rng = np.random.default_rng(0)
    >>> samples = rng.normal([0.3, 0.6], 0.05, size=(2000, 2))
    >>> flow = fp.MAF.fit(samples, prior=fp.UniformPrior([0, 0], [1, 1]),
    ...                   seed=0, epochs=20)                       # doctest: +SKIP
    >>> theta = flow.prior_transform([0.5, 0.5])                   # doctest: +SKIP
    """

    def __init__(self, kernels, biases, masks, perms, *, activation, prior, params=None,
                 history=None, backend="auto"):
        check_prior(prior)
        self._packed = made.pack(kernels, biases, masks, perms, activation)
        if self._packed.ndims != prior.ndims:
            raise FlowpriorValueError(
                f"expected a base prior with {self._packed.ndims} dimensions; got {prior.ndims}"
            )
        self._raw = {
            "kernels": [[np.asarray(k, np.float64) for k in ks] for ks in kernels],
            "biases": [[np.asarray(b, np.float64) for b in bs] for bs in biases],
            "masks": [[np.asarray(m, bool) for m in ms] for ms in masks],
            "perms": self._packed.perms,
        }
        self.prior = prior
        self.ndims = prior.ndims
        self.params = _check_params(prior.params if params is None else params, self.ndims)
        self.activation = activation
        self.history = history
        self._set_kernel(backend)

    def _set_kernel(self, backend):
        self._kernel, self.backend = _kernel(self._packed, backend)
        # With a uniform base prior the compiled kernel also does the box
        # mapping and support check: one call per point on the sampler's path.
        fuse = self.backend == "numba" and type(self.prior) is UniformPrior
        self._box = (self.prior.lower, self.prior.upper) if fuse else None

    @property
    def hidden_layers(self):
        """Hidden units of each MADE."""
        return self._packed.hidden_layers

    @property
    def number_networks(self):
        """MADEs in the chain."""
        return self._packed.number_networks

    @property
    def n_parameters(self):
        """Trainable parameters: unmasked kernel entries plus biases of every MADE."""
        return int(sum(int(m.sum()) + b.size for ms, bs in zip(self._raw["masks"], self._raw["biases"])
                       for m, b in zip(ms, bs)))

    @classmethod
    def fit(cls, samples, weights=None, *, prior=None, params=None, seed=None, backend="auto", **options):
        """Train a flow on weighted samples and return it.

        Parameters
        ----------
        samples : array_like ``(n, ndims)`` or anesthetic samples
            Columns of anesthetic samples are chosen by name (``params``);
            their weights are used.
        weights : array_like ``(n,)``, optional
            Non-negative sample weights for array input.
        prior : Prior, optional
            Base prior.  Without one, a box is estimated from the samples
            and a :class:`~flowprior.errors.BoundsEstimatedWarning` issued.
        params : sequence of str, optional
            Parameter names (columns to select, for frames).
        seed : int, optional
            Makes training deterministic.
        backend : {"auto", "numba", "numpy"}
            Evaluation kernel of the returned flow.
        **options
            Training options: ``hidden_layers``, ``number_networks``, ``activation``,
            ``permutations``, ``epochs``, ``learning_rate``, ``batch_size``,
            ``validation_fraction``, ``patience``, ``resample``, ``schedule``, ``progress``
            (:class:`flowprior.TrainingOptions`, which holds their defaults); an unknown name or
            a bad value raises before any work.

        Returns
        -------
        MAF
            With the training history in ``flow.history``.
        """
        from ..training.maf import train_maf

        opts = training_options(options)
        check_backend(backend)
        data = prepare(samples, weights, prior=prior, params=params)
        x = ndtri_clipped(data.prior._inverse_prior_transform(data.theta))
        weights_, history = train_maf(x, data.weights, options=opts, seed=seed)
        return cls(**weights_, activation=opts.activation, prior=data.prior, params=data.params,
                   history=history, backend=backend)

    # --- evaluation (NumPy/numba, no TensorFlow) -------------------------------
    def _prior_transform(self, u):
        if self._box is not None:
            return self._kernel.forward_cube(u, self._box)
        return self.prior._prior_transform(self._kernel.forward_cube(u))

    def _inverse_prior_transform(self, theta):
        if self._box is not None:
            return self._kernel.inverse_cube(theta, self._box)[0]
        return self._kernel.inverse_cube(self.prior._inverse_prior_transform(theta))[0]

    def _log_prob(self, theta):
        _, log_q_cube = self._kernel.inverse_cube(self.prior._inverse_prior_transform(theta))
        return log_q_cube + self.prior._log_prob(theta)

    def _log_prob_all(self, theta):
        if self._box is not None:
            # The kernel returns -inf for rows outside the box.
            return self._kernel.inverse_cube(theta, self._box)[1] + self.prior._log_density
        return super()._log_prob_all(theta)

    def _in_support(self, theta):
        return self.prior._in_support(theta)

    def with_backend(self, backend):
        """The same flow evaluated with another kernel (shares the weights).

        Parameters
        ----------
        backend : {"auto", "numba", "numpy"}
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._set_kernel(backend)
        return new

    def widened(self, scale):
        r"""The same flow with its base distribution widened to :math:`\mathcal{N}(0, s^2 I)`.

        The result is a :class:`MAF` (the scale is folded into the weights by
        :func:`flowprior.kernels.made.widen_base`) whose samples are the images of
        :math:`s\,\varepsilon`: the flow's shape with heavier tails.  Used
        as a defensive proposal by :func:`flowprior.two_stage`.

        Parameters
        ----------
        scale : float
            :math:`s`, the base's standard deviation.

        Examples
        --------
        >>> wide = flow.widened(2.0)          # doctest: +SKIP
        """
        kernels, biases = made.widen_base(self._raw["kernels"], self._raw["biases"], scale)
        return type(self)(kernels, biases, self._raw["masks"], self._raw["perms"],
                          activation=self.activation, prior=self.prior, params=self.params,
                          history=self.history, backend=self.backend)

    def tfp_distribution(self):
        """The same network as a TFP distribution on the Gaussianised cube ``x``.

        Imports TensorFlow; meant for cross-checks and further training, not
        for the sampler's hot path.
        """
        from ..training import _tfp

        dist, mades = _tfp.build_distribution(
            ndims=self.ndims, hidden_layers=self.hidden_layers,
            number_networks=self.number_networks, activation=self.activation,
            perms=self._raw["perms"], seed=0,
        )
        _tfp.set_network_weights(mades, self._raw["kernels"], self._raw["biases"])
        return dist

    # --- persistence --------------------------------------------------------------
    def _state(self):
        prior_config, arrays = _registry.dump(self.prior, prefix="prior/")
        for k, (ks, bs, ms) in enumerate(zip(self._raw["kernels"], self._raw["biases"], self._raw["masks"])):
            for layer, (w, b, m) in enumerate(zip(ks, bs, ms)):
                arrays[f"made{k}/kernel{layer}"] = w
                arrays[f"made{k}/bias{layer}"] = b
                arrays[f"made{k}/mask{layer}"] = m
        arrays["perms"] = self._raw["perms"]
        history = None
        if self.history is not None:
            history = {key: (list(map(float, val)) if isinstance(val, list) else val)
                       for key, val in self.history.items()}
        config = {
            "params": list(self.params),
            "activation": self.activation,
            "number_networks": self.number_networks,
            "layers": len(self.hidden_layers) + 1,
            "prior": prior_config,
            "history": history,
        }
        return config, arrays

    @classmethod
    def _from_state(cls, config, arrays, backend="auto"):
        nets, layers = int(config["number_networks"]), int(config["layers"])
        kernels = [[arrays[f"made{k}/kernel{i}"] for i in range(layers)] for k in range(nets)]
        biases = [[arrays[f"made{k}/bias{i}"] for i in range(layers)] for k in range(nets)]
        masks = [[arrays[f"made{k}/mask{i}"] for i in range(layers)] for k in range(nets)]
        prior = _registry.build(config["prior"], arrays, prefix="prior/")
        return cls(kernels, biases, masks, arrays["perms"], activation=config["activation"],
                   prior=prior, params=config["params"], history=config.get("history"),
                   backend=backend)

    def __reduce__(self):
        # Pickle as the file holds it, and keep the evaluation backend chosen (a process pool gets the same).
        return (_rebuild, (_registry.dump(self), self.backend))

    def __repr__(self):
        return (f"MAF(ndims={self.ndims}, params={list(self.params)}, "
                f"number_networks={self.number_networks}, hidden_layers={list(self.hidden_layers)}, "
                f"backend={self.backend!r}, prior={self.prior!r})")
