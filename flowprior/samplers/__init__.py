"""Thin adapters from a flowprior prior and a log-likelihood to each sampler.

Each adapter takes ``(loglikelihood, prior, nlive, seed, options)``, where
``loglikelihood`` is already wrapped for counting, and returns
``(samples, raw, info)``: anesthetic NestedSamples with columns named by
``prior.params``, the sampler's own result object, and a dict whose
``stopped_by`` names the rule that ended the run (under MPI also ``ncall``,
the calls of every rank, and ``comm``).
"""

SAMPLERS = ("dynesty", "polychord")
