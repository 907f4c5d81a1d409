r"""Nuisance-free likelihoods and joint analyses without nuisance parameters.

An experiment constrains core parameters :math:`\theta` and nuisance
parameters :math:`\alpha`.  From its posterior samples and evidence
:math:`Z`, a density estimate :math:`P(\theta)` of the :math:`\theta`-marginal
gives the nuisance-free likelihood (Bevins et al. 2023, margarine)

.. math::

    \mathcal{L}(\theta) = \frac{P(\theta)\, Z}{\pi(\theta)},

which, for a prior that factorises as :math:`\pi(\theta)\pi(\alpha|\theta)`
with the same :math:`\pi(\theta)` in every experiment (marginal
consistency), equals :math:`\int \mathcal{L}(\theta,\alpha)\pi(\alpha|\theta)\,d\alpha`.
A joint analysis then samples

.. math::

    \log\mathcal{L}_{AB}(\theta) = \log\mathcal{L}_A(\theta) + \log\mathcal{L}_B(\theta)

under :math:`\pi(\theta)` alone; its evidence is :math:`Z_{AB}` and its
posterior the joint one, without sampling :math:`\alpha_A, \alpha_B` again.

Errors.  margarine does not propagate the density-estimation error.  Here
:meth:`NuisanceFreeLikelihood.fit` trains an *ensemble* of ``n_flows`` flows,
each on a bootstrap resample of the samples (row counts drawn from a
multinomial, multiplying the weights) with its own seed; the likelihood
uses the ensemble-mean density :math:`\bar P = \frac1M\sum_m P_m`.
:meth:`JointLikelihood.evidence` reports

.. math::

    \sigma^2_{\log Z_{AB}} = \sigma^2_\text{sampling} + \sigma^2_\text{density}
        + \sum_X \sigma^2_{\log Z_X},

with :math:`\sigma_\text{sampling}` the joint run's own error,
:math:`\sigma_\text{density}` the standard deviation over members :math:`m`
of :math:`\log Z^{(m)}_{AB}`, each obtained from the joint run by importance
reweighting, :math:`\log Z^{(m)}_{AB} = \log Z_{AB} + \log\sum_i p_i
\exp[\log\mathcal{L}^{(m)}_{AB}(\theta_i) - \log\mathcal{L}_{AB}(\theta_i)]`
(:math:`p_i` the posterior weights; member :math:`m` of every input
together), and :math:`\sigma_{\log Z_X}` the inputs' evidence errors.  The
member spread is the error of one bootstrap fit, so it is conservative for
the ensemble mean.
"""

import logging
from dataclasses import dataclass

import numpy as np

from .. import _registry
from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..flows.ensemble import bootstrap_ensemble, check_ensemble
from ..kernels.logsumexp import logsumexp
from ..priors.base import Prior, check_prior
from ..samplers.results import logZ_error

__all__ = ["NuisanceFreeLikelihood", "JointLikelihood", "JointEvidence", "joint"]

logger = logging.getLogger(__name__)



def _same_prior(a, b):
    if a is b:
        return True
    ca, aa = _registry.dump(a)
    cb, ab = _registry.dump(b)
    return ca == cb and aa.keys() == ab.keys() and all(np.array_equal(aa[k], ab[k]) for k in aa)


class NuisanceFreeLikelihood:
    r"""The likelihood :math:`\log\mathcal{L}(\theta) = \log\bar P(\theta) + \log Z - \log\pi(\theta)`.

    Parameters
    ----------
    flow : Prior or sequence of Prior
        Density estimate(s) of the :math:`\theta`-marginal posterior (MAF,
        PiecewiseMAF, KDE); several are an ensemble, averaged in density.
    logZ : float
        Log-evidence of the experiment.
    prior : Prior
        :math:`\pi(\theta)`.  When it is not analytic, a flow trained on
        samples of the prior's :math:`\theta`-marginal serves.
    logZerr : float
        Error of ``logZ``, carried into joint evidences.

    Examples
    --------
    >>> import flowprior as fp
    >>> prior = fp.UniformPrior([-5, -5], [5, 5], params=["a", "b"])
    >>> P = fp.GaussianPrior([0.0, 1.0], [0.1, 0.1], params=["a", "b"])
    >>> L = fp.NuisanceFreeLikelihood(P, -3.2, prior=prior)
    >>> round(L([0.0, 1.0]) - (P.log_prob([0.0, 1.0]) - 3.2 - prior.log_prob([0.0, 1.0])), 12)
    0.0
    """

    def __init__(self, flow, logZ, *, prior, logZerr=0.0):
        flows = [flow] if isinstance(flow, Prior) else list(flow)
        if not flows or not all(isinstance(f, Prior) for f in flows):
            raise FlowpriorTypeError("expected a flowprior flow or a non-empty sequence of them")
        check_prior(prior)
        for f in flows:
            if f.ndims != prior.ndims:
                raise FlowpriorValueError(f"expected flows with the prior's {prior.ndims} dimensions; got {f.ndims}")
            if f.params != prior.params:
                raise FlowpriorValueError(f"expected flows on the prior's params {list(prior.params)}; got "
                                          f"{list(f.params)}")
        if not np.isfinite(logZ):
            raise FlowpriorValueError(f"expected a finite logZ; got {logZ}")
        if not (np.isfinite(logZerr) and logZerr >= 0):
            raise FlowpriorValueError(f"expected a finite, non-negative logZerr; got {logZerr}")
        self.flows = flows
        self.logZ = float(logZ)
        self.logZerr = float(logZerr)
        self.prior = prior
        self.params = prior.params
        self.ndims = prior.ndims

    @property
    def n_flows(self):
        """Members of the ensemble."""
        return len(self.flows)

    @classmethod
    def fit(cls, samples, weights=None, *, logZ=None, logZerr=None, prior, params=None, n_flows=3, flow="maf",
            seed=None, flow_options=None):
        r"""Train the :math:`\theta`-marginal ensemble on an experiment's samples.

        Parameters
        ----------
        samples : anesthetic samples, or array ``(n, ndims)``
            Posterior samples of the experiment; columns chosen by ``params``
            (nuisance columns are ignored: that is the marginalisation).
        weights : array_like ``(n,)``, optional
            Weights of array samples, as for :meth:`flowprior.MAF.fit`.
        logZ : float, optional
            Taken from the samples (``samples.logZ()``) when they are
            anesthetic ``NestedSamples``; its error then comes from a seeded
            simulation of the shrinkages (:func:`flowprior.samplers.results.logZ_error`).
        prior : Prior
            :math:`\pi(\theta)`; the flows live in its cube.
        params : sequence of str, optional
            The core parameters (the prior's by default).
        logZerr : float, optional
        n_flows : int
            Ensemble members, each on a bootstrap resample with its own seed;
            ``1`` trains one flow on the samples as they are (no error estimate).
        flow : {"maf", "piecewise", "kde", "block"}
        seed : int, optional
        flow_options : dict, optional
            Passed to the flow class's ``fit`` (unknown keys raise).

        Returns
        -------
        NuisanceFreeLikelihood
        """

        check_ensemble(flow, n_flows, flow_options)
        check_prior(prior)
        if logZ is None and not (hasattr(samples, "logZ") and hasattr(samples, "logL")):
            raise FlowpriorValueError("expected logZ, or anesthetic NestedSamples to take it from; got neither")
        params = list(prior.params if params is None else params)
        seeds = np.random.SeedSequence(seed).generate_state(2)
        if logZ is None:
            logZ = float(samples.logZ())
            if logZerr is None:
                logZerr = logZ_error(samples, seed=int(seeds[0]))
        logZerr = 0.0 if logZerr is None else float(logZerr)
        flows = bootstrap_ensemble(samples, weights, prior=prior, params=params, n_flows=n_flows, flow=flow,
                                   seed=seeds[1], flow_options=flow_options)
        return cls(flows, logZ, prior=prior, logZerr=logZerr)

    def log_density(self, theta):
        r"""Ensemble-mean :math:`\log\bar P(\theta)`; array for a batch.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``
        """
        logs = np.array([f.log_prob(theta) for f in self.flows])
        return logsumexp(logs, axis=0) - np.log(len(self.flows))

    def member_loglikelihoods(self, theta):
        """``log L`` from each ensemble member alone, shape ``(n_flows,)`` or ``(n_flows, n)``.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``
        """
        logs = np.array([f.log_prob(theta) for f in self.flows])
        return logs + self.logZ - np.asarray(self.prior.log_prob(theta))

    def loglikelihood(self, theta):
        """:math:`\\log\\mathcal{L}(\\theta)`; ``-inf`` outside the prior's support.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)`` or ``(n, ndims)``
        """
        log_pi = self.prior.log_prob(theta)
        if np.ndim(log_pi) == 0:
            if log_pi == -np.inf:
                return -np.inf
            return float(self.log_density(theta) + self.logZ - log_pi)
        out = np.full(np.shape(log_pi), -np.inf)
        inside = log_pi > -np.inf
        out[inside] = self.log_density(np.asarray(theta)[inside]) + self.logZ - log_pi[inside]
        return out

    def __call__(self, theta):
        return self.loglikelihood(theta)

    def __repr__(self):
        return (f"NuisanceFreeLikelihood(params={list(self.params)}, logZ={self.logZ:.4f} +- {self.logZerr:.4f}, "
                f"n_flows={self.n_flows})")


@dataclass(frozen=True)
class JointEvidence:
    """What :meth:`JointLikelihood.evidence` returns; errors are one sigma.

    Parameters
    ----------
    logZ, logZerr : float
        The joint evidence and its whole error.
    sampling_err, density_err, inputs_err : float
        Its parts: the joint run's sampling error, the spread over the flows' members, and the
        input evidences' errors.
    member_logZ : tuple of float
        The joint evidence with each member of the ensembles in turn.
    """

    logZ: float
    logZerr: float
    sampling_err: float
    density_err: float
    inputs_err: float
    member_logZ: tuple


class JointLikelihood:
    r""":math:`\log\mathcal{L}_{AB}(\theta) = \sum_X \log\mathcal{L}_X(\theta)`, made by :func:`joint`.

    Parameters
    ----------
    likelihoods : sequence of NuisanceFreeLikelihood
        On the same prior.
    """

    def __init__(self, likelihoods):
        self.likelihoods = likelihoods
        self.prior = likelihoods[0].prior
        self.params = self.prior.params
        self.ndims = self.prior.ndims

    def loglikelihood(self, theta):
        """The sum of the experiments' nuisance-free log-likelihoods.

        Parameters
        ----------
        theta : array_like, shape ``(ndims,)``
        """
        total = 0.0
        for L in self.likelihoods:
            total = total + L.loglikelihood(theta)
        return total

    def __call__(self, theta):
        return self.loglikelihood(theta)

    @property
    def inputs_err(self):
        """Error of the joint logZ from the inputs' logZ errors alone."""
        return float(np.sqrt(sum(L.logZerr**2 for L in self.likelihoods)))

    def evidence(self, result):
        """Joint evidence with sampling, density-estimation and input errors (module docs).

        Parameters
        ----------
        result : RunResult
            Of ``flowprior.run(joint, prior, ...)``.
        """
        samples = result.samples
        theta = samples[list(self.params)].to_numpy()
        w = np.asarray(samples.get_weights(), dtype=np.float64)
        keep = w > 0
        theta, w = theta[keep], w[keep]
        with np.errstate(divide="ignore"):  # weights that underflow give -inf, which logsumexp drops
            log_p = np.log(w / w.sum())
        base = np.asarray(self.loglikelihood(theta))
        n_members = max(L.n_flows for L in self.likelihoods)
        member_logZ = []
        if n_members > 1:
            members = [L.member_loglikelihoods(theta) for L in self.likelihoods]
            for m in range(n_members):
                total = sum(ml[m % ml.shape[0]] for ml in members)
                member_logZ.append(float(result.logZ + logsumexp(log_p + total - base)))
        density_err = float(np.std(member_logZ, ddof=1)) if len(member_logZ) > 1 else 0.0
        total_err = float(np.sqrt(result.logZerr**2 + density_err**2 + self.inputs_err**2))
        return JointEvidence(logZ=float(result.logZ), logZerr=total_err, sampling_err=float(result.logZerr),
                             density_err=density_err, inputs_err=self.inputs_err,
                             member_logZ=tuple(member_logZ))

    def __repr__(self):
        return f"JointLikelihood(params={list(self.params)}, inputs={len(self.likelihoods)})"


def joint(*likelihoods):
    r"""Combine nuisance-free likelihoods: :math:`\log\mathcal{L}_{AB} = \log\mathcal{L}_A + \log\mathcal{L}_B + \dots`.

    Refuses inputs on different parameters or different priors: the sum is
    the joint likelihood only when every experiment uses the same
    :math:`\pi(\theta)`.

    Parameters
    ----------
    *likelihoods : NuisanceFreeLikelihood
        Two or more, one per experiment.

    Returns
    -------
    JointLikelihood
        A callable for :func:`flowprior.run` with ``prior=joint.prior``;
        :meth:`JointLikelihood.evidence` gives the full error budget.

    Examples
    --------
    >>> import flowprior as fp
    >>> prior = fp.UniformPrior([-5], [5], params=["a"])
    >>> LA = fp.NuisanceFreeLikelihood(fp.GaussianPrior([0.0], [1.0], params=["a"]), -1.0, prior=prior)
    >>> LB = fp.NuisanceFreeLikelihood(fp.GaussianPrior([1.0], [1.0], params=["a"]), -2.0, prior=prior)
    >>> round(fp.joint(LA, LB)([0.5]) - LA([0.5]) - LB([0.5]), 12)
    0.0
    """
    if not likelihoods:
        raise FlowpriorValueError("expected at least one NuisanceFreeLikelihood; got none")
    for L in likelihoods:
        if not isinstance(L, NuisanceFreeLikelihood):
            raise FlowpriorTypeError(f"expected NuisanceFreeLikelihood inputs; got {type(L).__name__}")
    first = likelihoods[0]
    for L in likelihoods[1:]:
        if L.params != first.params:
            raise FlowpriorValueError(f"expected likelihoods on the same params; got {list(first.params)} and "
                                      f"{list(L.params)}")
        if not _same_prior(L.prior, first.prior):
            raise FlowpriorValueError(f"expected likelihoods with the same prior; got {first.prior!r} and {L.prior!r}")
    return JointLikelihood(list(likelihoods))
