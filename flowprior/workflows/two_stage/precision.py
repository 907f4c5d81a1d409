r"""The precision stage of :func:`flowprior.two_stage`: from stage 2's error to ``target_logZerr``, the cheaper way.

With a target, stage 2 runs at ``CROSSCHECK_NLIVE_FACTOR * nlive_low`` live points, a rough
estimate :math:`\log Z_2 \pm \sigma_2` (as reliable as its nested-sampling run: the
repartitioning leaves the evidence unchanged, the run may still miss mass).  A second,
independent estimate brings the two combined by inverse variance to the target,

.. math::

    \log Z = \frac{\log Z_2/\sigma_2^2 + \log Z_3/\sigma_3^2}{1/\sigma_2^2 + 1/\sigma_3^2}, \qquad
    \sigma_3 = (\text{target}^{-2} - \sigma_2^{-2})^{-1/2},

from one of two routes, whichever costs fewer calls per unit of precision:

* **importance sampling** from the proposal stage 2 ran on (the defensive mixture
  :math:`\tilde\pi`).  A draw's weight is :math:`\tilde{\mathcal{L}}`, so its relative variance
  is :math:`v = \mathbb{E}_P[\tilde{\mathcal{L}}]/Z - 1` (:func:`stage2_relative_variance`), which
  stage 2's posterior gives without a call: :math:`v/\sigma_3^2` draws;
* **nested sampling** again, a second stage 2 at as many live points as its first run's cost
  per unit precision, :math:`c_2 = n_\mathrm{call}\,\sigma_2^2`, asks for: :math:`c_2/\sigma_3^2` calls.

Importance sampling wins when the proposal is close to the posterior (:math:`v` of a few, where
stage 2 costs tens per unit precision).  Where the proposal is thin somewhere the posterior is
not, :math:`v` is large; importance draws reach those places only by chance, and until they do,
their own sample variance is too small: on ``funnel-10`` they gave z = -4.2 with Pareto
:math:`\hat k` = 0.43.  So the importance error is the larger of the weights' own and
:math:`\sqrt{v/N}`, and when :math:`v > c_2` the second nested run is taken instead (the same
funnel: 905,286 importance calls for what a nested run does in tens of thousands).
"""

import warnings

import numpy as np

from ..importance import importance

__all__ = ["stage2_relative_variance", "precision_stage", "IMPORTANCE_MAX_DRAWS"]

#: At most this many draws of the importance route, whatever its predicted variance asks for.
IMPORTANCE_MAX_DRAWS = 1_000_000


def stage2_relative_variance(high):
    r"""Relative variance of a weight drawn from stage 2's proposal, :math:`\mathbb{E}_P[\tilde{\mathcal{L}}]/Z - 1`.

    Averaged over stage 2's own weighted posterior (module docs): stage 2 compresses into the
    places where the proposal is thin and :math:`\tilde{\mathcal{L}}` peaks, which importance draws
    reach only by chance.
    """
    w = np.asarray(high.samples.get_weights(), dtype=np.float64)
    logl = high.samples.logL.to_numpy()
    keep = (w > 0) & np.isfinite(logl)
    p = w[keep] / w[keep].sum()
    return max(float(np.sum(p * np.exp(logl[keep] - high.logZ))) - 1.0, 0.0)


def precision_stage(loglikelihood, prior, proposal, beta, high, target, *, rng, run_nested, diag):
    """The second estimate (module docs): ``(logZ, logZerr, importance result or None, nested run or None)``.

    ``run_nested(nlive)`` runs stage 2 again with another seed; ``diag`` gains the stage's numbers
    (``precision_route``, ``logZ_stage2``, ...) and any warning.
    """
    need = 1.0 / np.sqrt(1.0 / target**2 - 1.0 / high.logZerr**2)
    rel_var = stage2_relative_variance(high)
    cost_nested = high.ncall * high.logZerr**2
    diag.update(importance_relative_variance_stage2=rel_var, nested_cost_per_precision=float(cost_nested),
                logZ_stage2=float(high.logZ), logZerr_stage2=float(high.logZerr))
    imp, again = None, None
    if rel_var <= cost_nested:
        imp = importance(loglikelihood, prior, proposal, target_logZerr=float(need), beta=beta, seed=rng,
                         min_draws=int(min(max(np.ceil(rel_var / need**2), 1), IMPORTANCE_MAX_DRAWS)))
        logZ3 = imp.logZ
        err3 = max(imp.logZerr, float(np.sqrt(rel_var / imp.diagnostics["ndraws"])))
        diag.update(precision_route="importance", logZ_importance=float(imp.logZ), logZerr_importance=float(err3),
                    logZerr_importance_own=float(imp.logZerr))
        name = "the importance stage"
    else:
        nlive = int(np.ceil(high.samples.nlive.max() * (high.logZerr / need) ** 2))
        again = run_nested(nlive)
        logZ3, err3 = again.logZ, again.logZerr
        diag.update(precision_route="nested", logZ_second_stage2=float(again.logZ),
                    logZerr_second_stage2=float(again.logZerr), nlive_second_stage2=nlive)
        name = "the second stage 2"
    w2, w3 = high.logZerr**-2, err3**-2
    logZ = (w2 * high.logZ + w3 * logZ3) / (w2 + w3)
    apart = (high.logZ - logZ3) / np.hypot(high.logZerr, err3)
    diag["stage2_precision_difference_sigma"] = float(apart)
    if abs(apart) > 4:
        msg = (f"stage 2 and {name} disagree by {apart:.1f} sigma (logZ {high.logZ:.3f} +- {high.logZerr:.3f} and "
               f"{logZ3:.3f} +- {err3:.3f}): the proposal may miss mass, and logZ may be off by "
               f"{abs(high.logZ - logZ3):.2f} nats or more")
        diag["warnings"].append(msg)
        warnings.warn(f"two_stage: {msg}", RuntimeWarning, stacklevel=3)
    return float(logZ), float((w2 + w3) ** -0.5), imp, again
