"""Shared checks: a finished static dynesty run, and statistical tolerances.

Statistical tolerance.  A check of one draw against the truth uses
``Z_TOL = 4`` standard errors: a Gaussian draw falls outside with
probability 6e-5, so the ~30 such checks in the suite fail spuriously about
once in 500 changes of seed or dependency version (at 3 they failed about
once in 12: one did, ``test_joint_evidence_matches_the_analytic_answer``, at
z = 3.3).  A real error (a missing Jacobian, a wrong normalisation, a lost
mode) moves an evidence by far more.  Claims about error bars themselves are
checked over many seeds (:func:`assert_calibrated`), never on one draw.
"""

import numpy as np

Z_TOL = 4.0


def live_to_dead_evidence_ratio(raw):
    """``X <L_live> / Z_dead`` where the run stopped (its final live points follow the ``niter`` dead ones)."""
    n = int(raw["niter"])
    return float(np.exp(raw["logvol"][n - 1] + np.log(np.mean(np.exp(raw["logl"][n:]))) - raw["logz"][n - 1]))


def assert_within(value, truth, err, n_sigma=Z_TOL):
    """``|value - truth| < n_sigma * err``, with a message giving z."""
    z = (value - truth) / err
    assert abs(z) < n_sigma, f"{value} vs {truth}: z = {z:.2f} (|z| must be < {n_sigma}; err {err})"


def assert_calibrated(z, *, max_rms=1.5, max_abs=4.0):
    """Standardised errors ``z`` of many independent runs: rms and largest within bounds.

    For n runs with honest errors the rms of z is 1 with a standard error of
    about 1/sqrt(2n) (0.16 at n = 20), so ``max_rms=1.5`` fails an honest
    estimator with probability below 1e-3 at n >= 20, and fails one whose
    errors are too small by half.
    """
    z = np.asarray(z, dtype=np.float64)
    rms = float(np.sqrt(np.mean(z**2)))
    assert rms <= max_rms and np.max(np.abs(z)) < max_abs, f"z = {np.round(z, 2).tolist()}, rms {rms:.2f}"


def first_seed(predicate, seeds):
    """The first seed whose draw satisfies ``predicate(seed)``.

    For tests of what happens when a run goes a particular way (loses a mode, stops early):
    which seeds do depends on the versions of dynesty and NumPy, so a test names the event it
    needs and searches for it, with enough seeds that none having it is itself a failure.
    """
    for seed in seeds:
        if predicate(seed):
            return seed
    raise AssertionError(f"no seed in {seeds} gave the run the test needs")


class Counter:
    """A likelihood that counts its own calls, to check a reported ``ncall`` against."""

    def __init__(self, loglikelihood):
        self.loglikelihood, self.n = loglikelihood, 0

    def __call__(self, theta):
        self.n += 1
        return self.loglikelihood(theta)
