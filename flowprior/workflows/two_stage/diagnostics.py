"""What :func:`flowprior.two_stage` reports about its run, and the warnings it finds in that."""

import logging
import warnings

import numpy as np

from ...flows.block import BlockFlow
from ...flows.maf import MAF
from ...flows.piecewise import PiecewiseMAF
from ...samplers.termination import FINITE_RATE, TAIL_TOLERANCE, missed_tail

__all__ = ["diagnostics", "UNIF_EVIDENCE_DIMS"]

logger = logging.getLogger(__name__)

#: From this many dimensions, a stage 1 sampled uniformly in its ellipsoids at nlive_low has too
#: tight bounds for its own evidence to mean anything (its samples still serve).
UNIF_EVIDENCE_DIMS = 10
#: The proposal's outermost share by its own density: where :math:`\log q` is below this quantile of
#: :math:`\log q` under :math:`q` itself.
EDGE_QUANTILE = 0.01
#: Warn when more of the stage-2 posterior than this lies in the proposal's outermost ``EDGE_QUANTILE``.
EDGE_LIMIT = 0.05
#: Draws from the proposal that fix the quantile.
EDGE_DRAWS = 4000


def proposal_edge_fraction(proposal, theta, weights, seed):
    r"""The share of ``weights`` at ``theta`` in the proposal's outermost :data:`EDGE_QUANTILE`.

    :math:`\sum_i p_i\,[\log q(\theta_i) < t]` with :math:`t` the :data:`EDGE_QUANTILE` quantile of
    :math:`\log q` over draws from :math:`q`: about that quantile when the posterior is the proposal,
    less when the proposal is wider.  Much more means the posterior reaches past the proposal, where
    stage 2 finds mass only as an ordinary nested-sampling run would.
    """
    draws = proposal.sample(EDGE_DRAWS, seed=seed)
    threshold = np.quantile(proposal.log_prob(draws), EDGE_QUANTILE)
    p = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    return float(np.sum(p[proposal.log_prob(theta) < threshold]))


def diagnostics(low, high, rp, prior, info, nlive_low, seed=None):
    """Numbers about the run (``tw.diagnostics``), then the warnings :func:`_warnings` finds in them."""
    params = list(prior.params)
    t2 = high.samples[params].to_numpy()
    w2 = np.asarray(high.samples.get_weights(), dtype=np.float64)
    keep = w2 > 0
    t2, w2 = t2[keep], w2[keep]
    p2 = w2 / w2.sum()
    # log(P / q) of the proposal q (all but the prior branch) over the stage-2 posterior, where
    # log L + log pi = log L~ + log pi~ needs no new likelihood call.
    log_pi_tilde = rp.prior.log_prob(t2)
    log_ratio = high.samples.logL.to_numpy()[keep] + log_pi_tilde - high.logZ - info["proposal"].log_prob(t2)
    missed = np.any(np.isposinf(log_ratio))
    # exp(-D_KL(P || q)), and the effective sample size per draw of importance sampling from q,
    # 1 / E_q[(P/q)^2] = 1 / E_P[P/q].
    exp_minus_kl = 0.0 if missed else float(np.exp(-np.sum(p2 * log_ratio)))
    ess_fraction = 0.0 if missed else float(1.0 / np.sum(p2 * np.exp(log_ratio)))
    complete = low.stopped_by != "min_efficiency" and not (info["stage1_sample"] == "unif"
                                                          and prior.ndims >= UNIF_EVIDENCE_DIMS)
    dlogZ = (high.logZ - low.logZ) / np.hypot(high.logZerr, low.logZerr) if complete else np.nan

    resp = rp.prior.responsibilities(t2)
    fractions = (p2[:, None] * resp).sum(axis=0)
    owner = info["owner"]
    is_flow = np.array([isinstance(c, (MAF, PiecewiseMAF, BlockFlow)) for c in rp.prior.components[1:]])
    prop_w = rp.prior.weights[1:] / rp.prior.weights[1:].sum()
    recovery = info["recovery"]
    clusters = []
    for k in range(len(info["share"])):
        mine = owner == k
        clusters.append({
            "source": info["kinds"][k],
            "training_share": float(info["share"][k]),
            "effective_samples": float(info["ess"][k]),
            "has_flow": info["flow_clusters"] is None or k in info["flow_clusters"],
            "pilot_share": float(info["pilot"]["share"][k]) if info["pilot"] else None,
            "proposal_share": float(prop_w[mine].sum()),
            "posterior_share": float(fractions[1:][mine].sum()),
        })
    diag = {
        "proposal_exp_minus_D_KL": exp_minus_kl,
        "importance_ess_fraction": ess_fraction,
        "logZ_stage_difference_sigma": float(dlogZ),
        "stage1_stopped_by": low.stopped_by,
        "posterior_fraction_prior_branch": float(fractions[0]),
        "posterior_fraction_flow_branch": float(fractions[1:][is_flow].sum()),
        "posterior_fraction_gaussian_branch": float(fractions[1:][~is_flow].sum()),
        # How far stage 2 compressed: D_KL(P || pi~) of its own run, near 0 for pi~ = P.
        "proposal_D_KL": float(high.samples.D_KL()),
        "posterior_fraction_proposal_edge": proposal_edge_fraction(info["proposal"], t2, w2, seed),
        **dict(zip(("stage2_tail_rate", "stage2_missed_tail"), map(float, missed_tail(high.samples)))),
        "logZ_stage1": float(low.logZ), "logZerr_stage1": float(low.logZerr),
        "logZ_stage2": float(high.logZ), "logZerr_stage2": float(high.logZerr),
        "n_clusters": len(clusters),
        "n_clusters_with_flow": len(clusters) if info["flow_clusters"] is None else len(info["flow_clusters"]),
        "clusters": clusters,
        "recovered_modes": [{"kind": m.kind, "level": m.island.level, "peak_logL": m.peak_logL,
                             "log_mass": m.log_mass, "estimated_log_mass": m.estimated_log_mass,
                             "ncall": m.result.ncall}
                            for m in (recovery.modes if recovery else [])],
        "lost_mode_candidates_skipped": [{"level": isl.level, "reason": why, "estimated_fraction": frac}
                                         for isl, why, frac in (recovery.skipped if recovery else [])],
        "ncall_low": int(low.ncall),
        "ncall_search": int(info["ncall_search"]),
        "ncall_pilot": int(info["ncall_pilot"]),
        "ncall_high": int(high.ncall),
    }
    problems, notes = _warnings(diag, nlive_low)
    diag["warnings"] = problems + notes
    small = [k for k, c in enumerate(clusters) if not c["has_flow"]]
    if small:
        logger.info("two_stage: %d of %d clusters had too few effective samples for a flow (Gaussians only)",
                    len(small), len(clusters))
    for msg in problems:
        warnings.warn(f"two_stage: {msg}", RuntimeWarning, stacklevel=3)
    if notes:
        warnings.warn(f"two_stage: the proposal looks poor: {'; '.join(notes)}. Stage 2 compressed "
                      f"{diag['proposal_D_KL']:.1f} nats where a good proposal needs about 0.5: it did the work of an "
                      "ordinary nested-sampling run at nlive_high, at that cost, and its logZ is only as reliable as "
                      "such a run (mass it did not reach is missing, and its error bar does not include it)",
                      RuntimeWarning, stacklevel=3)
    return diag


def _warnings(diag, nlive_low):
    """``(problems, notes)``: where the evidence may be wrong, and where stage 2 was only costly (module docs)."""
    problems, notes = [], []
    if diag["posterior_fraction_prior_branch"] > 0.01:
        problems.append(
            f"stage 2 found {diag['posterior_fraction_prior_branch']:.1%} of the posterior where only the original "
            "prior proposed points: the proposal missed that mass, and stage 2 finds such mass only by chance, so "
            "more may be missing and logZ may be too low; rerun with a larger nlive_low")
    for k, c in enumerate(diag["clusters"]):
        if c["source"] == "recovered" and c["posterior_share"] > 0.01:
            problems.append(
                f"stage 1 lost a mode that holds {c['posterior_share']:.0%} of the posterior; a local run found it "
                f"again and logZ includes it, but stage 1 (nlive_low={nlive_low}) was at the limit of its mode "
                "finding, and a mode it never held two live points in cannot be recovered: rerun with a larger "
                "nlive_low to be sure")
        elif c["posterior_share"] > 0.02 and c["posterior_share"] > 5 * c["proposal_share"]:
            problems.append(
                f"the proposal under-weighted cluster {k}: {c['posterior_share']:.0%} of the posterior against "
                f"{c['proposal_share']:.1%} of the proposal; stage 2 corrected it, but its error bar assumes it "
                "found all such mass")
    # What stage 2's end may have left out matters where its live points cannot stand for it (a slow fall) and it
    # is beyond its error bar (within it, the warning fired on easy runs that were right: gauss-2, 0.02 nats against
    # 0.029); NaN: too few dead points to tell.
    tail = diag.get("stage2_missed_tail", 0.0)
    slow = not diag.get("stage2_tail_rate", np.inf) >= FINITE_RATE
    if slow and not np.log1p(tail) <= max(diag.get("logZerr_stage2", 0.0), TAIL_TOLERANCE):
        size = ("is not bounded: its weights still rose" if not np.isfinite(tail) else
                f"may be {tail:.1%} of the evidence, so logZ may be low by up to {np.log1p(tail):.2f} nats")
        problems.append(f"stage 2 ended before its posterior weights had fallen: what lies beyond its last live points "
                        f"{size}; rerun with a stricter stopping rule (high_options)")
    edge = diag.get("posterior_fraction_proposal_edge", 0.0)
    if edge > EDGE_LIMIT:
        problems.append(f"{edge:.0%} of the stage-2 posterior lies where the proposal is in its outermost "
                        f"{EDGE_QUANTILE:.0%}: the posterior reaches past the proposal, where stage 2 finds mass only "
                        "as an ordinary nested-sampling run does, so logZ may be lower than its error bar allows")
    for cand in diag["lost_mode_candidates_skipped"]:
        frac = cand["estimated_fraction"]
        if frac is not None and frac > 0.01:
            problems.append(f"stage 1 lost a mode estimated to hold {frac:.0%} of the evidence that was not run "
                            f"again ({cand['reason']}); logZ may be too low")
    if diag["proposal_exp_minus_D_KL"] < 0.2:
        notes.append(f"exp(-KL) of the posterior from the proposal is only {diag['proposal_exp_minus_D_KL']:.2f}")
    if abs(diag["logZ_stage_difference_sigma"]) > 4:
        gap = abs(diag.get("logZ_stage2", np.nan) - diag.get("logZ_stage1", np.nan))
        problems.append(f"stage 1's and stage 2's logZ differ by {diag['logZ_stage_difference_sigma']:.1f} sigma "
                        f"({gap:.2f} nats): one of them missed mass or was biased by its sampler, and logZ may be "
                        f"off by that much")
    # Clusters too small for a flow are proposed from by Gaussians by design: judge the flows on the rest.
    flowed = sum(c["posterior_share"] for c in diag["clusters"] if c.get("has_flow", True)) if diag["clusters"] else 1.0
    if diag["posterior_fraction_flow_branch"] < 0.3 * flowed:
        notes.append(f"only {diag['posterior_fraction_flow_branch']:.0%} of the posterior lies in the flow branch "
                     f"(of {flowed:.0%} in clusters with a flow)")
    return problems, notes
