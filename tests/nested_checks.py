"""Checks on a finished static dynesty run, shared by the sampler and two-stage tests."""

import numpy as np


def live_to_dead_evidence_ratio(raw):
    """``X <L_live> / Z_dead`` where the run stopped (its final live points follow the ``niter`` dead ones)."""
    n = int(raw["niter"])
    return float(np.exp(raw["logvol"][n - 1] + np.log(np.mean(np.exp(raw["logl"][n:]))) - raw["logz"][n - 1]))
