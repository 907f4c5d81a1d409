r"""Masked autoregressive flows evaluated in float64 NumPy from trained weights.

This module is pure maths on arrays: no TensorFlow, no training, no files.
A MAF is a chain of MADE affine layers separated by fixed permutations.  For
one MADE with input :math:`y` and output :math:`x` (TFP's convention:
*forward samples, inverse gives densities*),

.. math::

    x_j = y_j\, e^{\alpha_j(x_{<j})} + \mu_j(x_{<j}), \qquad
    y_j = (x_j - \mu_j(x_{<j}))\, e^{-\alpha_j(x_{<j})},

so the inverse (density) direction is one network pass and
:math:`\log|\det \partial y / \partial x| = -\sum_j \alpha_j`.

The forward (sampling) direction is sequential.  Rather than the textbook
``d`` full network passes, hidden units are sorted by their *degree* (the
highest input they depend on) and each is computed exactly once, as soon as
its inputs are known; sampling then costs one network pass too.  Sorting the
units relabels them and leaves the function unchanged.

References
----------
M. Germain, K. Gregor, I. Murray and H. Larochelle (2015), "MADE: Masked Autoencoder for
Distribution Estimation", ICML, arXiv:1502.03509.

G. Papamakarios, T. Pavlakou and I. Murray (2017), "Masked Autoregressive Flow for Density
Estimation", NeurIPS, arXiv:1705.07057.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import FlowpriorValueError
from .normal import ndtr, ndtri_clipped

__all__ = ["ACTIVATIONS", "PackedMAF", "pack", "forward", "inverse", "NumpyKernel", "fold_standardisation",
           "widen_base"]

#: Hidden-layer activations the kernels evaluate (and training accepts).
ACTIVATIONS = ("tanh", "relu", "sigmoid", "softplus", "elu")


def _activate(name, a):
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * a))
    if name == "softplus":
        return np.logaddexp(0.0, a)
    # elu
    return np.where(a > 0.0, a, np.expm1(np.minimum(a, 0.0)))


@dataclass(frozen=True, eq=False)
class PackedMAF:
    """Weights of a MAF rearranged for evaluation.

    ``kernels[k][l]`` has shape ``(n_in, n_out)`` with masked entries zero and
    hidden units sorted by degree; ``ptr[k, l, m]`` counts the units of hidden
    layer ``l`` of MADE ``k`` whose degree is at most ``m``.  The last kernel
    of each MADE maps to ``2 * ndims`` outputs, interleaved as
    ``(shift_0, log_scale_0, shift_1, ...)`` like TFP's
    ``AutoregressiveNetwork(params=2)``.  ``perms[k]`` is applied after MADE
    ``k`` in the forward direction: ``y = x[..., perms[k]]``.
    """

    ndims: int
    activation: str
    kernels: tuple
    biases: tuple
    perms: np.ndarray
    ptr: np.ndarray

    @property
    def number_networks(self):
        return len(self.kernels)

    @property
    def hidden_layers(self):
        return tuple(w.shape[1] for w in self.kernels[0][:-1])


def _degrees(masks, ndims):
    """Effective degree of every hidden unit: the highest input it can see.

    Returns the list of hidden-layer degree arrays after checking that output
    ``j`` sees only inputs ``< j``, the autoregressive property that makes the
    Jacobian triangular.  Raises ValueError otherwise.
    """
    prev = np.arange(1, ndims + 1)
    hidden = []
    for mask in masks[:-1]:
        connected = np.where(mask, prev[:, None], 0)
        prev = connected.max(axis=0) if mask.shape[0] else np.zeros(mask.shape[1], int)
        hidden.append(prev)
    out_mask = masks[-1]
    seen = np.where(out_mask, prev[:, None], 0).max(axis=0)
    seen = seen.reshape(ndims, 2).max(axis=1)
    if np.any(seen > np.arange(ndims)):
        raise FlowpriorValueError(
            "expected autoregressive masks (output j sees inputs < j only); got masks that "
            f"let outputs {np.nonzero(seen > np.arange(ndims))[0].tolist()} see later inputs"
        )
    return hidden


def pack(kernels, biases, masks, perms, activation):
    """Check and rearrange raw MADE weights into a :class:`PackedMAF`.

    Parameters
    ----------
    kernels, biases, masks : list over MADEs of lists over layers
        Kernels of shape ``(n_in, n_out)`` as Keras stores them, biases of
        shape ``(n_out,)`` and boolean masks shaped like the kernels.  Masked
        kernel entries are zeroed here, whatever their stored value.
    perms : array_like of int, shape ``(number_networks - 1, ndims)``
    activation : str
        One of :data:`~flowprior.kernels.made.ACTIVATIONS`.
    """
    if activation not in ACTIVATIONS:
        raise FlowpriorValueError(f"expected activation in {ACTIVATIONS}; got {activation!r}")
    if not kernels:
        raise FlowpriorValueError("expected at least one MADE; got none")
    if min(len(ks) for ks in kernels) < 2:
        raise FlowpriorValueError(f"expected at least one hidden layer; got {min(len(ks) for ks in kernels) - 1}")
    ndims = np.shape(kernels[0][0])[0]
    perms = np.asarray(perms, dtype=np.int64).reshape(len(kernels) - 1, ndims)
    for p in perms:
        if not np.array_equal(np.sort(p), np.arange(ndims)):
            raise FlowpriorValueError(f"expected a permutation of 0..{ndims - 1}; got {p.tolist()}")
    packed_k, packed_b, ptrs = [], [], []
    for ks, bs, ms in zip(kernels, biases, masks):
        ks = [np.asarray(k, dtype=np.float64) for k in ks]
        bs = [np.asarray(b, dtype=np.float64) for b in bs]
        ms = [np.asarray(m, dtype=bool) for m in ms]
        shapes = [k.shape for k in ks]
        if (
            [m.shape for m in ms] != shapes
            or [b.shape for b in bs] != [(s[1],) for s in shapes]
            or shapes[0][0] != ndims
            or shapes[-1][1] != 2 * ndims
            or any(a[1] != b[0] for a, b in zip(shapes, shapes[1:]))
        ):
            raise FlowpriorValueError(f"expected a consistent chain of MADE layers for ndims={ndims}; got kernel "
                                      "shapes "
                             f"{shapes}")
        if not all(np.all(np.isfinite(a)) for a in ks + bs):
            raise FlowpriorValueError("expected finite weights; got NaN or inf")
        degrees = _degrees(ms, ndims)
        ks = [k * m for k, m in zip(ks, ms)]
        order_prev = np.arange(ndims)
        new_k, new_b, ptr = [], [], []
        for layer, deg in enumerate(degrees):
            order = np.argsort(deg, kind="stable")
            new_k.append(np.ascontiguousarray(ks[layer][np.ix_(order_prev, order)]))
            new_b.append(bs[layer][order].copy())
            ptr.append(np.searchsorted(deg[order], np.arange(ndims + 1), side="right"))
            order_prev = order
        new_k.append(np.ascontiguousarray(ks[-1][order_prev, :]))
        new_b.append(bs[-1].copy())
        packed_k.append(tuple(new_k))
        packed_b.append(tuple(new_b))
        ptrs.append(ptr)
    hidden = [tuple(k.shape[1] for k in ks[:-1]) for ks in packed_k]
    if len(set(hidden)) != 1:
        raise FlowpriorValueError(f"expected every MADE to have the same hidden layers; got {hidden}")
    return PackedMAF(
        ndims=ndims,
        activation=activation,
        kernels=tuple(packed_k),
        biases=tuple(packed_b),
        perms=perms,
        ptr=np.asarray(ptrs, dtype=np.int64),
    )


def _made_inverse(ks, bs, activation, x):
    h = x
    for k, b in zip(ks[:-1], bs[:-1]):
        h = _activate(activation, h @ k + b)
    out = h @ ks[-1] + bs[-1]
    shift, log_scale = out[:, 0::2], out[:, 1::2]
    return (x - shift) * np.exp(-log_scale), log_scale.sum(axis=1)


def _made_forward(ks, bs, ptr, activation, y):
    n, d = y.shape
    nlayers = len(ks) - 1
    hs = [np.zeros((n, k.shape[1])) for k in ks[:-1]]
    x = np.zeros_like(y)

    def fill(m):
        # Units of degree m (for m = 0, degree 0) become computable now.
        for layer in range(nlayers):
            lo = ptr[layer][m - 1] if m > 0 else 0
            hi = ptr[layer][m]
            if hi == lo:
                continue
            prev = x[:, :m] if layer == 0 else hs[layer - 1][:, : ptr[layer - 1][m]]
            w = ks[layer][: prev.shape[1], lo:hi]
            hs[layer][:, lo:hi] = _activate(activation, prev @ w + bs[layer][lo:hi])

    fill(0)
    wout, bout = ks[-1], bs[-1]
    for j in range(d):
        nh = ptr[-1][j]
        h = hs[-1][:, :nh]
        shift = h @ wout[:nh, 2 * j] + bout[2 * j]
        log_scale = h @ wout[:nh, 2 * j + 1] + bout[2 * j + 1]
        x[:, j] = y[:, j] * np.exp(log_scale) + shift
        if j + 1 < d:
            fill(j + 1)
    return x


def forward(packed, z):
    """Sampling direction, base space to data space; ``z`` of shape ``(n, ndims)``."""
    y = np.asarray(z, dtype=np.float64)
    for k in range(packed.number_networks):
        y = _made_forward(packed.kernels[k], packed.biases[k], packed.ptr[k], packed.activation, y)
        if k < len(packed.perms):
            y = y[:, packed.perms[k]]
    return y


def fold_standardisation(kernels, biases, mean, std):
    r"""Weights of the same flow on :math:`x`, from weights trained on :math:`x' = (x - m)/s`.

    Training on standardised data and folding the affine map back into the
    first MADE of the density direction (``kernels[-1]``) is exact:
    with :math:`y = (x' - \mu')e^{-\alpha'}`,

    .. math::

        y = (x - \mu)\,e^{-\alpha}, \qquad \mu = m + s\mu', \qquad \alpha = \alpha' + \log s,

    and the network's input :math:`x'` is absorbed by the first layer,
    :math:`W' = W / s`, :math:`b' = b - (m / s) W`.  Masked entries stay zero.
    Returns new lists; the arguments are not modified.
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    kernels = [list(ks) for ks in kernels]
    biases = [list(bs) for bs in biases]
    ks = [np.array(k, dtype=np.float64) for k in kernels[-1]]
    bs = [np.array(b, dtype=np.float64) for b in biases[-1]]
    bs[0] = bs[0] - (mean / std) @ ks[0]
    ks[0] = ks[0] / std[:, None]
    ks[-1][:, 0::2] *= std
    bs[-1][0::2] = mean + std * bs[-1][0::2]
    bs[-1][1::2] += np.log(std)
    kernels[-1], biases[-1] = ks, bs
    return kernels, biases


def widen_base(kernels, biases, scale):
    r"""Weights of the same flow with a base :math:`\mathcal{N}(0, s^2 I)` instead of :math:`\mathcal{N}(0, I)`.

    If :math:`z = f(x)` is the density direction, the widened flow samples
    :math:`x = f^{-1}(s\,\varepsilon)` and has density
    :math:`\mathcal{N}(f(x); 0, s^2 I)\,|\det \partial f / \partial x|`.
    It is again a MAF with a standard-normal base, for :math:`f_s = f / s`:
    the last MADE of the density direction (``kernels[0]``) computes
    :math:`z_j = (y_j - \mu_j)e^{-\alpha_j}`, and :math:`z_j / s` only adds
    :math:`\log s` to the bias of each :math:`\alpha_j`.  Exact; the
    arguments are not modified.
    """
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise FlowpriorValueError(f"expected a positive finite scale; got {scale}")
    kernels = [list(ks) for ks in kernels]
    biases = [list(bs) for bs in biases]
    b = np.array(biases[0][-1], dtype=np.float64)
    b[1::2] += np.log(scale)
    biases[0][-1] = b
    return kernels, biases


def inverse(packed, x):
    """Density direction: returns ``(z, log|det dz/dx|)`` for ``x`` of shape ``(n, ndims)``."""
    y = np.asarray(x, dtype=np.float64)
    logdet = np.zeros(y.shape[0])
    for k in reversed(range(packed.number_networks)):
        if k < len(packed.perms):
            y = y[:, np.argsort(packed.perms[k])]
        y, sum_log_scale = _made_inverse(packed.kernels[k], packed.biases[k], packed.activation, y)
        logdet -= sum_log_scale
    return y, logdet


class NumpyKernel:
    """Evaluate a :class:`PackedMAF` with vectorised NumPy (the reference path)."""

    def __init__(self, packed):
        self._packed = packed

    def forward(self, z):
        return forward(self._packed, z)

    def inverse(self, x):
        """``(z, log|det dz/dx| + log N(z) - log N(x))``, as the numba kernel returns."""
        z, logdet = inverse(self._packed, x)
        return z, logdet + 0.5 * (np.sum(x * x, axis=1) - np.sum(z * z, axis=1))

    def forward_cube(self, u):
        """``v = Phi(MAF(Phi^-1(u)))``, the flow as a map of the unit cube."""
        return ndtr(self.forward(ndtri_clipped(u)))

    def inverse_cube(self, v):
        """``(u, log q_cube(v))`` for points ``v`` of the unit cube."""
        z, log_q = self.inverse(ndtri_clipped(v))
        return ndtr(z), log_q
