"""A stand-in for ``pypolychord`` that follows its calling contract exactly.

``run(loglikelihood, nDims, nlive=..., prior=..., base_dir=..., file_root=...,
read_resume=..., seed=..., paramnames=..., **settings)`` writes PolyChord's
chain files into ``base_dir`` and returns ``anesthetic.read_chains`` of them,
as pypolychord 1.22 does: ``<root>_dead-birth.txt`` (params, logL, logL_birth,
-1e30 for a birth in the prior), ``<root>_dead.txt``, ``<root>.txt``,
``<root>_equal_weights.txt``, ``<root>.stats``, ``<root>.paramnames`` and
``clusters/`` (one cluster); not the resume, live-point and prior files.  Like PolyChord's compiled core it calls ``prior`` one point at
a time, passing a read-only cube, and copies the result into its own array
(``theta[:] = prior(cube)``), and accepts a likelihood returning ``logL`` or ``(logL, derived)``.  The
sampler is a plain constrained random walk in the unit cube: good enough for
the smooth unimodal test problems, not a replacement for PolyChord.
"""

import os

import numpy as np
from anesthetic import NestedSamples

CALLS = {"prior": 0, "prior_shapes": set()}


def _theta(prior, cube, ndims):
    theta = np.empty(ndims)
    CALLS["prior"] += 1
    CALLS["prior_shapes"].add(np.shape(cube))
    cube.setflags(write=False)  # real PolyChord passes a read-only view of its own array
    theta[:] = prior(cube)
    return theta


def _logL(loglikelihood, theta):
    value = loglikelihood(theta)
    try:
        value, _ = value
    except TypeError:
        pass
    return float(value)


def run(loglikelihood, nDims, *, nlive=None, prior=None, base_dir="chains", file_root="test",
        read_resume=True, seed=-1, paramnames=None, num_repeats=None, precision_criterion=1e-3,
        feedback=1, nDerived=0, **settings):
    ncall0 = CALLS["prior"]
    nlive = nlive or 25 * nDims
    num_repeats = num_repeats or 5 * nDims
    rng = np.random.default_rng(None if seed is None or seed < 0 else seed)
    os.makedirs(base_dir, exist_ok=True)
    live_u = rng.random((nlive, nDims))
    live_t = np.array([_theta(prior, u.copy(), nDims) for u in live_u])
    live_L = np.array([_logL(loglikelihood, t) for t in live_t])
    live_b = np.full(nlive, -np.inf)
    dead_t, dead_L, dead_b = [], [], []
    logX = 0.0
    logZ = -np.inf
    while True:
        i = int(np.argmin(live_L))
        Lmin = live_L[i]
        dead_t.append(live_t[i].copy())
        dead_L.append(Lmin)
        dead_b.append(live_b[i])
        logZ = np.logaddexp(logZ, Lmin + logX + np.log1p(-np.exp(-1.0 / nlive)))
        logX -= 1.0 / nlive
        if np.logaddexp.reduce(live_L) + logX - np.log(nlive) - logZ < np.log(precision_criterion):
            break
        # Start from another live point: the dying one sits on the contour.
        j = int(rng.integers(nlive - 1))
        j += j >= i
        u = live_u[j].copy()
        step = live_u.std(axis=0) + 1e-12
        t, L = live_t[j].copy(), live_L[j]
        for _ in range(num_repeats):
            trial = u + step * rng.normal(size=nDims)
            if np.any((trial < 0) | (trial > 1)):
                continue
            tt = _theta(prior, trial.copy(), nDims)
            LL = _logL(loglikelihood, tt)
            if LL > Lmin:
                u, t, L = trial, tt, LL
        live_u[i], live_t[i], live_L[i], live_b[i] = u, t, L, Lmin
    order = np.argsort(live_L)
    theta = np.vstack([np.array(dead_t)[:-1], live_t[order]])
    logL = np.r_[dead_L[:-1], live_L[order]]
    birth = np.r_[dead_b[:-1], live_b[order]]
    # The last dead point is still live in the arrays above; keep it once.
    write_chains(os.path.join(base_dir, file_root), theta, logL, birth, logZ, paramnames, ncall=CALLS["prior"] - ncall0)
    from anesthetic import read_chains

    return read_chains(os.path.join(base_dir, file_root))


def write_chains(root, theta, logL, birth, logZ, paramnames, *, ncall):
    """PolyChord's text files for dead points ``theta`` with ``logL`` and birth contours ``birth``."""
    fmt = "%24.15E"
    nested = NestedSamples(data=theta, logL=logL, logL_birth=birth)
    w = nested.get_weights()
    post = np.column_stack([w / w.sum(), -2 * logL, theta])
    np.savetxt(root + "_dead-birth.txt", np.column_stack([theta, logL, np.where(np.isfinite(birth), birth, -1e30)]),
               fmt=fmt)
    np.savetxt(root + "_dead.txt", np.column_stack([logL, theta]), fmt=fmt)
    np.savetxt(root + ".txt", post, fmt=fmt)
    keep = np.random.default_rng(0).random(len(w)) < w / w.max()
    np.savetxt(root + "_equal_weights.txt", np.column_stack([np.ones(keep.sum()), -2 * logL[keep], theta[keep]]),
               fmt=fmt)
    os.makedirs(os.path.join(os.path.dirname(root), "clusters"), exist_ok=True)
    np.savetxt(os.path.join(os.path.dirname(root), "clusters", os.path.basename(root) + "_1.txt"), post, fmt=fmt)
    with open(root + ".stats", "w") as fh:
        fh.write(f"Evidence estimates:\n===================\n\nGlobal evidence:\n----------------\n\n"
                 f"log(Z)       = {logZ:24.15E} +/- {0.0:24.15E}\n\n ndead: {len(logL):10d}\n nlike: {ncall:10d}\n")
    if paramnames:
        with open(root + ".paramnames", "w") as fh:
            fh.writelines(f"{name}   {latex}\n" for name, latex in paramnames)
