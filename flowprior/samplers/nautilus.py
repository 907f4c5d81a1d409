r"""nautilus adapter (importance nested sampling with neural-network bounds; Lange 2023).

nautilus maps the unit cube with ``prior.prior_transform`` in the main
process and calls the likelihood there or on its pool.  Its result is an
importance sample, not dead points: ``samples`` are anesthetic ``Samples``
with the importance weights and ``logL``, and the evidence is nautilus's own,

.. math::

    \hat Z = \sum_i w_i, \qquad
    \sigma_{\log Z} \simeq 1 / \sqrt{n_\mathrm{eff}}, \qquad
    n_\mathrm{eff} = (\textstyle\sum_i w_i)^2 / \sum_i w_i^2,

the relative error of an importance-sampling mean with that effective
sample size (nautilus: Lange 2023, MNRAS 525, 3181; its calibration against
analytic evidences is in ``docs/importance.rst``).

``discard_exploration`` defaults to True here, unlike in nautilus: with the
exploration phase kept, the estimate is biased (measured in
``docs/importance.rst``: z = -3 to -7 on multimodal and 10-D problems), and
a result that may be wrong must not carry a confident error bar.
"""

import numpy as np

from ..errors import FlowpriorTypeError, FlowpriorValueError, MissingDependencyError
from ._checks import (
    at_least_one,
    check_values,
    fraction,
    non_negative_int,
    positive,
    positive_int,
    positive_or_inf,
)

__all__ = ["OPTIONS", "run_nautilus"]

#: Options passed to ``nautilus.Sampler``.
_INIT = ("n_update", "enlarge_per_dim", "n_points_min", "split_threshold", "n_networks",
         "neural_network_kwargs", "n_batch", "n_like_new_bound", "pool")
#: Options passed to ``Sampler.run``.
_RUN = ("f_live", "n_shell", "n_eff", "n_like_max", "discard_exploration", "timeout", "verbose")
OPTIONS = tuple(sorted(_INIT + _RUN))
#: Values checked before the run.
RULES = {"n_eff": positive, "f_live": fraction, "n_shell": positive_int, "n_like_max": positive_or_inf,
         "timeout": positive_or_inf, "n_networks": non_negative_int, "enlarge_per_dim": at_least_one,
         "split_threshold": positive, "n_update": positive_int, "n_batch": positive_int,
         "n_like_new_bound": positive_int, "n_points_min": positive_int}


def run_nautilus(loglikelihood, prior, *, nlive, seed, options):
    """Run nautilus with ``prior.prior_transform`` and ``n_live=nlive``; see :func:`flowprior.run`."""
    options = dict(options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise FlowpriorTypeError(f"nautilus does not accept option(s) {', '.join(unknown)}; accepted: "
                                 f"{', '.join(OPTIONS)}")
    check_values("nautilus", options, RULES)
    if prior.ndims < 2:
        raise FlowpriorValueError(f"expected a prior of at least 2 dimensions for nautilus; got {prior.ndims}")
    try:
        import nautilus
    except ImportError:
        raise MissingDependencyError("sampler='nautilus' needs nautilus: pip install 'flowprior[nautilus]'") from None
    init_kwargs = {k: options.pop(k) for k in _INIT if k in options}
    run_kwargs = {"discard_exploration": True, "verbose": False, **options}
    if seed is not None:
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    sampler = nautilus.Sampler(prior.prior_transform, loglikelihood, n_dim=prior.ndims, n_live=nlive,
                               pass_dict=False, seed=seed, **init_kwargs)
    finished = sampler.run(**run_kwargs)
    points, log_w, log_l = sampler.posterior()
    samples = weighted_samples(points, log_w, log_l, prior.params)
    stopped_by = "the sampler's own rules" if finished else "n_like_max or timeout"
    return samples, sampler, {"stopped_by": stopped_by, "logZ": float(sampler.log_z),
                              "logZerr": float(1.0 / np.sqrt(sampler.n_eff))}


def weighted_samples(theta, log_w, logL, params):
    """anesthetic ``Samples`` with importance weights (normalised to a largest of 1) and ``logL``."""
    from anesthetic import Samples

    log_w = np.asarray(log_w, dtype=np.float64)
    return Samples(data=np.asarray(theta), columns=list(params), weights=np.exp(log_w - np.max(log_w)),
                   logL=np.asarray(logL))
