"""Thin adapters from a flowprior prior and a log-likelihood to each sampler.

Each adapter takes ``(loglikelihood, prior, nlive, seed, options)``, where
``loglikelihood`` is already wrapped for counting, and returns
``(samples, raw)``: anesthetic NestedSamples with columns named by
``prior.params``, and the sampler's own result object.
"""

SAMPLERS = ("dynesty", "polychord")
