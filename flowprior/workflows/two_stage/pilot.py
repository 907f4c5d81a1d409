"""The pilot: an importance sample from the proposal that measures each cluster's posterior share.

Stage 1 weighs modes badly at low nlive (a 60 % mode at 17 %, say); a pilot importance sample from
the proposal measures each cluster's posterior share, and the proposal takes those shares.  The
draws are independent of stage 2's, so the proposal stays fixed before stage 2 starts and its
evidence stays exact.
"""

import numpy as np

from ...flows.data import effective_sample_size
from ...priors.cube import fit_cube_gaussian
from ...samplers.counting import CountedLikelihood
from ..repartition import repartition
from .proposal import _with_floor

__all__ = ["run_pilot", "PILOT_DRAWS", "PILOT_ROUNDS", "PILOT_REFIT_EFFICIENCY"]

#: Pilot draws per cluster that measure the clusters' posterior shares before stage 2.
PILOT_DRAWS = 100
#: At most this many pilot rounds (each refits the Gaussians of clusters too small for a flow).
PILOT_ROUNDS = 3
#: A small cluster's Gaussians are refitted when its pilot draws' effective fraction is below this.
PILOT_REFIT_EFFICIENCY = 0.5


def pilot_shares(loglikelihood, prior, components, weights, owner, n_clusters, beta, n, rng):
    r"""Each cluster's posterior share, by importance sampling from the defensive proposal.

    With :math:`\theta_i \sim \tilde\pi` and weights :math:`\tilde{\mathcal{L}}_i = \mathcal{L}\pi/\tilde\pi`,
    cluster :math:`k`'s share is :math:`\sum_i \tilde{\mathcal{L}}_i r_k(\theta_i) / \sum_i \tilde{\mathcal{L}}_i`,
    :math:`r_k` the responsibility of its components.  The draws are independent of stage 2's, so the
    proposal stays fixed before stage 2 starts and its evidence stays exact.
    """
    counted = CountedLikelihood(loglikelihood)
    rp = repartition(counted, prior, components, beta=beta, weights=weights)
    theta = rp.prior.sample(int(n), seed=rng)
    logw = np.array([rp.loglikelihood(t) for t in theta])
    finite = np.isfinite(logw)
    resp = rp.prior.responsibilities(theta[finite])[:, 1:]
    w = np.exp(logw[finite] - np.max(logw[finite])) if finite.any() else np.zeros(0)
    by_cluster = np.column_stack([resp[:, owner == k].sum(axis=1) for k in range(n_clusters)])
    share = (w[:, None] * by_cluster).sum(axis=0)
    total = share.sum()
    return {"share": share / total if total > 0 else np.full(n_clusters, 1.0 / n_clusters),
            "ncall": counted.ncall, "theta": theta[finite], "weights": w, "responsibility": by_cluster}


def run_pilot(loglikelihood, prior, proposal, clusters, flow_clusters, modelike, floor, cshare, beta, rng):
    """Pilot rounds until no small cluster needs its Gaussians refitted: ``(pilot, shares, calls)``.

    A cluster too small for a flow has Gaussians fitted to a few stage-1 samples, often from the
    mode's outskirts; refitted to the pilot's weighted draws they move onto the mode (one step of
    population Monte Carlo), and the next round measures the shares again.  ``proposal`` is updated
    in place.
    """
    pilot, ncall = None, 0
    for _ in range(PILOT_ROUNDS):
        pilot = pilot_shares(loglikelihood, prior, proposal.components, proposal.weights(cshare), proposal.owner,
                             clusters.n, beta, PILOT_DRAWS * int(modelike.sum()), rng)
        ncall += pilot["ncall"]
        cshare = _with_floor(np.maximum(pilot["share"], 1e-12), modelike, floor)
        refit = False
        for k in range(clusters.n):
            rk = pilot["responsibility"][:, k]
            wk = pilot["weights"] * rk
            if wk.sum() <= 0 or k in flow_clusters or not modelike[k]:
                continue
            # Refit only a poor fit (its draws' weights uneven) with enough weighted draws to fit.
            ess_k = effective_sample_size(wk)
            if ess_k >= prior.ndims + 1 and ess_k < PILOT_REFIT_EFFICIENCY * rk.sum():
                for i in np.where(proposal.owner == k)[0]:
                    proposal.components[i] = fit_cube_gaussian(pilot["theta"], wk, prior,
                                                               inflation=proposal.inflation[i])
                refit = True
        if not refit:
            break
    return pilot, cshare, ncall
