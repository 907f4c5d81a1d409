"""Compiled (numba) versions of :func:`flowprior.kernels.made.forward` and ``inverse``.

Imported only when a flow is evaluated with ``backend="numba"``.  The
weights are flattened into one float64 vector with offset tables, so one
compiled function serves every architecture.  Both directions share one
loop, because the network always reads the data-side vector ``x``: when
sampling, ``x`` is filled in coordinate by coordinate; when computing
densities it is known from the start.  Results agree with the NumPy path to
rounding (summation order differs from BLAS), which the tests check.
"""

import math

import numpy as np
from numba import njit

from .normal import Z_MAX

__all__ = ["NumbaKernel"]

_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "softplus": 3, "elu": 4}


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True)
def _halley(x, f, dens):
    dx = f / dens
    return x - dx / (1.0 + 0.5 * x * dx)


@njit(cache=True)
def _ndtri(u):
    """Standard normal quantile, clipped to [-Z_MAX, Z_MAX].

    Our own: a starting point from Abramowitz & Stegun 26.2.23 (error
    < 4.5e-4) and Halley steps on Phi(x) = u, posed where they keep relative
    precision: around the centre on erf(x / sqrt 2) / 2 = u - 1/2 (exact for
    u in [1/4, 3/4]), in the tails on the lower tail via erfc.  Agrees with
    scipy.special.ndtri to 1e-15 relative for u >= 1e-300 (tested).
    """
    if not (u > 0.0):
        return -Z_MAX if u == 0.0 else np.nan
    if not (u < 1.0):
        return Z_MAX if u == 1.0 else np.nan
    w = u - 0.5
    if abs(w) <= 0.25:
        x = w / _INV_SQRT_2PI
        for _ in range(4):
            x = _halley(x, 0.5 * math.erf(x / _SQRT2) - w, math.exp(-0.5 * x * x) * _INV_SQRT_2PI)
        return x
    p = u if w < 0.0 else 1.0 - u
    t = math.sqrt(-2.0 * math.log(p))
    x = -(t - (2.515517 + t * (0.802853 + t * 0.010328))
          / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    for _ in range(3):
        x = _halley(x, 0.5 * math.erfc(-x / _SQRT2) - p, math.exp(-0.5 * x * x) * _INV_SQRT_2PI)
    x = max(x, -Z_MAX)
    return x if w < 0.0 else -x


@njit(cache=True)
def _ndtr(x):
    """Standard normal CDF, by erf near 0 and erfc in the tails (as Cephes does)."""
    z = x / _SQRT2
    if abs(z) < 1.0 / _SQRT2:
        return 0.5 + 0.5 * math.erf(z)
    if z > 0.0:
        return 1.0 - 0.5 * math.erfc(z)
    return 0.5 * math.erfc(-z)


@njit(cache=True)
def _tanh(a):
    # libm's tanh costs twice this here; expm1 of a non-positive argument is
    # accurate near zero and cannot overflow.
    t = math.expm1(-2.0 * abs(a))
    r = -t / (2.0 + t)
    return r if a >= 0.0 else -r


@njit(cache=True)
def _act(code, a):
    if code == 0:
        return _tanh(a)
    if code == 1:
        return a if a > 0.0 else 0.0
    if code == 2:
        return 0.5 * (1.0 + _tanh(0.5 * a))
    if code == 3:
        return max(a, 0.0) + math.log1p(math.exp(-abs(a)))
    return a if a > 0.0 else math.expm1(a)


# Reassociation lets LLVM vectorise the dot products (the strict left-to-right
# sums are latency-bound); the result stays a deterministic function of one
# point, and NaN/inf semantics are untouched.
_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=_FAST)
def _hidden_units(k, m, x, h, flat, woff, boff, sizes, ptr, act):
    """MADE ``k``'s hidden units of degree ``m``, which depend on ``x[:m]`` only, into ``h``."""
    for layer in range(ptr.shape[1]):
        lo = ptr[k, layer, m - 1] if m > 0 else 0
        hi = ptr[k, layer, m]
        w = woff[k, layer]
        b = boff[k, layer]
        n_in = sizes[layer]
        if layer == 0:
            for u in range(lo, hi):
                acc = 0.0
                row = w + u * n_in
                for v in range(m):
                    acc += x[v] * flat[row + v]
                h[0, u] = _act(act, acc + flat[b + u])
        else:
            nprev = ptr[k, layer - 1, m]
            for u in range(lo, hi):
                acc = 0.0
                row = w + u * n_in
                for v in range(nprev):
                    acc += h[layer - 1, v] * flat[row + v]
                h[layer, u] = _act(act, acc + flat[b + u])


@njit(cache=True, fastmath=_FAST)
def _shift_and_log_scale(k, m, h, flat, woff, boff, sizes, ptr):
    """MADE ``k``'s output ``m`` from its last hidden layer."""
    nhid = ptr.shape[1]
    wo = woff[k, nhid]
    bo = boff[k, nhid]
    shift = 0.0
    log_scale = 0.0
    n_last = sizes[nhid]
    row_s = wo + 2 * m * n_last
    row_l = row_s + n_last
    for v in range(ptr[k, nhid - 1, m]):
        hv = h[nhid - 1, v]
        shift += hv * flat[row_s + v]
        log_scale += hv * flat[row_l + v]
    return shift + flat[bo + 2 * m], log_scale + flat[bo + 2 * m + 1]


@njit(cache=True, fastmath=_FAST)
def _made(k, x, y, h, flat, woff, boff, sizes, ptr, act, sample):
    """One MADE: ``x`` from ``y`` when sampling (d sequential outputs), else ``y`` from ``x`` (one pass);
    returns its log-determinant contribution (inverse direction)."""
    ld = 0.0
    for m in range(x.shape[0]):
        _hidden_units(k, m, x, h, flat, woff, boff, sizes, ptr, act)
        shift, log_scale = _shift_and_log_scale(k, m, h, flat, woff, boff, sizes, ptr)
        if sample:
            x[m] = y[m] * math.exp(log_scale) + shift
        else:
            y[m] = (x[m] - shift) * math.exp(-log_scale)
            ld -= log_scale
    return ld


@njit(cache=True, fastmath=_FAST)
def _outside(inp, i, lower, upper):
    for c in range(inp.shape[1]):
        if not (lower[c] <= inp[i, c] <= upper[c]):
            return True
    return False


@njit(cache=True, fastmath=_FAST)
def _run(inp, flat, woff, boff, sizes, ptr, perms, act, sample, cube, box, lower, upper, out, logdet):
    n, d = inp.shape
    nmade = woff.shape[0]
    nhid = ptr.shape[1]
    hmax = 1
    for layer in range(nhid):
        hmax = max(hmax, sizes[layer + 1])
    h = np.zeros((nhid, hmax))
    x = np.empty(d)
    y = np.empty(d)
    t = np.empty(d)
    for i in range(n):
        ld = 0.0
        sq = 0.0
        if box and not sample and _outside(inp, i, lower, upper):
            for c in range(d):
                out[i, c] = np.nan
            logdet[i] = -np.inf
            continue
        for c in range(d):
            a = inp[i, c]
            if box and not sample:
                a = min(max((a - lower[c]) / (upper[c] - lower[c]), 0.0), 1.0)
            if cube:
                a = _ndtri(a)
            if sample:
                y[c] = a
            else:
                x[c] = a
                sq += a * a
        for step in range(nmade):
            k = step if sample else nmade - 1 - step
            if not sample and k < nmade - 1:
                # Undo the permutation that followed MADE k when sampling.
                for c in range(d):
                    t[perms[k, c]] = x[c]
                for c in range(d):
                    x[c] = t[c]
            ld += _made(k, x, y, h, flat, woff, boff, sizes, ptr, act, sample)
            if sample:
                for c in range(d):
                    y[c] = x[perms[k, c]] if k < nmade - 1 else x[c]
            else:
                for c in range(d):
                    x[c] = y[c]
        for c in range(d):
            a = y[c] if sample else x[c]
            if cube:
                a = _ndtr(a)
            if box and sample:
                # Convex combination, so v = 1 lands exactly on the upper edge.
                a = lower[c] * (1.0 - a) + upper[c] * a
            out[i, c] = a
        if not sample:
            # log N(z) - log N(x): the density ratio the cube prior needs.
            for c in range(d):
                sq -= x[c] * x[c]
            ld += 0.5 * sq
        logdet[i] = ld


class NumbaKernel:
    """Evaluate a :class:`~flowprior.kernels.made.PackedMAF` with the compiled loop."""

    def __init__(self, packed):
        d = packed.ndims
        parts, woff, boff = [], [], []
        offset = 0
        for ks, bs in zip(packed.kernels, packed.biases):
            wrow, brow = [], []
            for k, b in zip(ks, bs):
                wrow.append(offset)
                # Transposed, so each unit's incoming weights are contiguous.
                parts.append(np.ascontiguousarray(k.T).ravel())
                offset += k.size
                brow.append(offset)
                parts.append(b)
                offset += b.size
            woff.append(wrow)
            boff.append(brow)
        self._flat = np.concatenate(parts)
        self._woff = np.asarray(woff, dtype=np.int64)
        self._boff = np.asarray(boff, dtype=np.int64)
        hidden = packed.hidden_layers
        self._sizes = np.asarray((d, *hidden, 2 * d), dtype=np.int64)
        self._ptr = np.ascontiguousarray(packed.ptr, dtype=np.int64)
        perms = packed.perms if len(packed.perms) else np.zeros((1, d), dtype=np.int64)
        self._perms = np.ascontiguousarray(perms, dtype=np.int64)
        self._act = _CODES[packed.activation]
        self._no_box = np.zeros(d)

    def _call(self, arr, sample, cube=False, box=None):
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        out = np.empty_like(arr)
        logdet = np.empty(arr.shape[0])
        lower, upper = (self._no_box, self._no_box) if box is None else box
        _run(arr, self._flat, self._woff, self._boff, self._sizes, self._ptr, self._perms,
             self._act, sample, cube, box is not None, lower, upper, out, logdet)
        return out, logdet

    def forward(self, z):
        return self._call(z, True)[0]

    def inverse(self, x):
        """``(z, log|det dz/dx| + log N(z) - log N(x))``."""
        return self._call(x, False)

    def forward_cube(self, u, box=None):
        """``v = Phi(MAF(Phi^-1(u)))``; with ``box=(lower, upper)``, the point of that box."""
        return self._call(u, True, True, box)[0]

    def inverse_cube(self, v, box=None):
        """``(u, log q_cube(v))``; with ``box``, ``v`` is a point of the box and
        rows outside it give ``(nan, -inf)``."""
        return self._call(v, False, True, box)
