"""dynesty adapter (static and dynamic nested sampling)."""

import numpy as np

from ..results import birth_contours, nested_samples

__all__ = ["OPTIONS", "run_dynesty"]

#: Options passed to the sampler's constructor.
_INIT = ("bound", "sample", "walks", "slices", "bootstrap", "enlarge", "update_interval",
         "first_update", "facc")
#: Options passed to ``run_nested``.
_RUN_STATIC = ("dlogz", "maxiter", "maxcall", "print_progress")
_RUN_DYNAMIC = ("dlogz_init", "nlive_batch", "maxbatch", "maxiter", "maxcall", "use_stop",
                "wt_kwargs", "print_progress")
OPTIONS = tuple(sorted(set(_INIT + _RUN_STATIC + _RUN_DYNAMIC + ("dynamic", "pool", "queue_size"))))


def run_dynesty(loglikelihood, prior, *, nlive, seed, options):
    """Run dynesty with ``prior.prior_transform``; see :func:`flowprior.run`."""
    try:
        import dynesty
    except ImportError:
        raise ImportError("sampler='dynesty' needs dynesty: pip install 'flowprior[dynesty]'") from None
    options = dict(options)
    dynamic = bool(options.pop("dynamic", False))
    run_keys = _RUN_DYNAMIC if dynamic else _RUN_STATIC
    run_kwargs = {k: options.pop(k) for k in run_keys if k in options}
    run_kwargs.setdefault("print_progress", False)
    init_kwargs = {k: options.pop(k) for k in _INIT + ("pool", "queue_size") if k in options}
    if options:
        unknown = ", ".join(sorted(options))
        kind = "dynamic" if dynamic else "static"
        raise TypeError(f"dynesty ({kind}) does not accept option(s) {unknown}; "
                        f"accepted: {', '.join(sorted(_INIT + run_keys + ('dynamic', 'pool', 'queue_size')))}")
    rstate = np.random.default_rng(seed)
    cls = dynesty.DynamicNestedSampler if dynamic else dynesty.NestedSampler
    sampler = cls(loglikelihood, prior.prior_transform, prior.ndims, nlive=nlive, rstate=rstate,
                  **init_kwargs)
    sampler.run_nested(**run_kwargs)
    res = sampler.results
    if dynamic:
        nlive_seq = res.samples_n
    else:
        # A static run: nlive throughout, then the final live points one by one.
        n, total = int(res.nlive), len(res.logl)
        nlive_seq = np.r_[np.full(total - n, n), np.arange(n, 0, -1)]
    birth = birth_contours(res.logl, nlive_seq)
    return nested_samples(res.samples, res.logl, prior.params, logL_birth=birth), res
