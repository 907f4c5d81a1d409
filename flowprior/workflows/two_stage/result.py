"""What :func:`flowprior.two_stage` returns."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TwoStageResult", "posterior"]


@dataclass(frozen=True)
class TwoStageResult:
    r"""What :func:`two_stage` returns.

    ``logZ`` and ``logZerr`` come from stage 2 (exact for the original problem), combined with
    the importance stage's evidence when ``target_logZerr`` asked for one (``importance``, an
    :class:`~flowprior.ImportanceResult`, else None).  ``samples`` is stage 2's posterior as
    weighted anesthetic ``Samples`` whose ``logL`` is the original problem's log-likelihood
    (:math:`\log\tilde{\mathcal{L}} + \log\tilde\pi - \log\pi`, no new calls), so
    :attr:`D_KL` and :attr:`d_G` describe the problem; stage 2's own nested samples, whose
    ``logL`` is the repartitioned likelihood, are ``high.samples``.  ``ncall`` counts every
    likelihood call: stage 1, the search for lost modes and their local runs, the pilot, stage 2
    and the importance stage.  With PolyChord under MPI it is the total over the ranks: the
    sampler runs share their work, while the search, the pilot and the importance stage run
    alike on every rank.

    Parameters
    ----------
    logZ, logZerr : float
    ncall : int
    samples : anesthetic.Samples
    low, high : RunResult
        Stage 1 and stage 2.
    flow : Prior
        The flows trained on stage 1 (their equal mixture for ``n_flows > 1``).
    repartitioned : Repartitioned
        Stage 2's problem.
    diagnostics : dict
        ``docs/two_stage.rst``, "Diagnostics and warnings".
    recovered : tuple of RecoveredMode
        The local runs of modes stage 1 lost or split.
    importance : ImportanceResult or None
    """

    logZ: float
    logZerr: float
    ncall: int
    samples: object
    low: object
    high: object
    flow: object
    repartitioned: object = field(repr=False)
    diagnostics: dict = field(default_factory=dict)
    recovered: tuple = ()
    importance: object = None

    def _logL_moments(self):
        w = np.asarray(self.samples.get_weights(), dtype=np.float64)
        logL = self.samples.logL.to_numpy()
        mean = float(np.sum(w * logL) / w.sum())
        return mean, float(np.sum(w * (logL - mean) ** 2) / w.sum())

    @property
    def D_KL(self):
        r"""Kullback-Leibler divergence of the posterior from the prior,
        :math:`\langle\log\mathcal{L}\rangle_P - \log Z` (as anesthetic's ``D_KL``)."""
        return self._logL_moments()[0] - self.logZ

    @property
    def d_G(self):
        r"""Bayesian model dimensionality, :math:`2\,\mathrm{Var}_P(\log\mathcal{L})` (as anesthetic's ``d_G``)."""
        return 2.0 * self._logL_moments()[1]


def posterior(high, rp, prior):
    """Stage 2's posterior as weighted samples carrying the original problem's log-likelihood."""
    from anesthetic import Samples

    params = list(prior.params)
    theta = high.samples[params].to_numpy()
    w = np.asarray(high.samples.get_weights(), dtype=np.float64)
    keep = w > 0
    logL = high.samples.logL.to_numpy()[keep] + rp.prior.log_prob(theta[keep]) - prior.log_prob(theta[keep])
    return Samples(data=theta[keep], columns=params, weights=w[keep], logL=logL)
