"""Compiled (numba) versions of :func:`flowprior.made.forward` and ``inverse``.

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

__all__ = ["NumbaKernel"]

_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "softplus": 3, "elu": 4}


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
@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _run(inp, flat, woff, boff, sizes, ptr, perms, act, sample, out, logdet):
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
        if sample:
            for c in range(d):
                y[c] = inp[i, c]
        else:
            for c in range(d):
                x[c] = inp[i, c]
                sq += x[c] * x[c]
        for step in range(nmade):
            k = step if sample else nmade - 1 - step
            if not sample and k < nmade - 1:
                # Undo the permutation that followed MADE k when sampling.
                for c in range(d):
                    t[perms[k, c]] = x[c]
                for c in range(d):
                    x[c] = t[c]
            wo = woff[k, nhid]
            bo = boff[k, nhid]
            for m in range(d):
                # Hidden units of degree m depend on x[:m] only: compute them now.
                for layer in range(nhid):
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
                shift = 0.0
                log_scale = 0.0
                n_last = sizes[nhid]
                row_s = wo + 2 * m * n_last
                row_l = row_s + n_last
                for v in range(ptr[k, nhid - 1, m]):
                    hv = h[nhid - 1, v]
                    shift += hv * flat[row_s + v]
                    log_scale += hv * flat[row_l + v]
                shift += flat[bo + 2 * m]
                log_scale += flat[bo + 2 * m + 1]
                if sample:
                    x[m] = y[m] * math.exp(log_scale) + shift
                else:
                    y[m] = (x[m] - shift) * math.exp(-log_scale)
                    ld -= log_scale
            if sample:
                if k < nmade - 1:
                    for c in range(d):
                        y[c] = x[perms[k, c]]
                else:
                    for c in range(d):
                        y[c] = x[c]
            else:
                for c in range(d):
                    x[c] = y[c]
        for c in range(d):
            out[i, c] = y[c] if sample else x[c]
        if not sample:
            # log N(z) - log N(x): the density ratio the cube prior needs.
            for c in range(d):
                sq -= x[c] * x[c]
            ld += 0.5 * sq
        logdet[i] = ld


class NumbaKernel:
    """Evaluate a :class:`~flowprior.made.PackedMAF` with the compiled loop."""

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

    def _call(self, arr, sample):
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        out = np.empty_like(arr)
        logdet = np.empty(arr.shape[0])
        _run(arr, self._flat, self._woff, self._boff, self._sizes, self._ptr,
             self._perms, self._act, sample, out, logdet)
        return out, logdet

    def forward(self, z):
        return self._call(z, True)[0]

    def inverse(self, x):
        """``(z, log|det dz/dx| + log N(z) - log N(x))``."""
        return self._call(x, False)
