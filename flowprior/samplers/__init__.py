"""Thin adapters from a flowprior prior and a log-likelihood to each sampler.

Each adapter takes ``(loglikelihood, prior, nlive, seed, options)``, where
``loglikelihood`` is already wrapped for counting, and returns
``(samples, raw, info)``: anesthetic NestedSamples with columns named by
``prior.params`` (weighted ``Samples`` for nautilus, an importance
sampler), the sampler's own result object, and a dict whose ``stopped_by``
names the rule that ended the run; under MPI also ``ncall``, the calls of
every rank, and ``comm``; where the samples are not nested, ``logZ`` and
``logZerr``.
"""

#: Samplers :func:`flowprior.run` drives.
SAMPLERS = ("dynesty", "polychord", "nautilus")
#: Those whose result is nested samples (dead points), which ``two_stage`` needs.
NESTED_SAMPLERS = ("dynesty", "polychord")
#: Those that take ``npool`` and a user's ``pool``.
POOLED_SAMPLERS = ("dynesty", "nautilus")
