"""marginal_stats: D_KL and d_G against closed forms."""

import numpy as np
import pytest

import flowprior as fp
from .nested_checks import Z_TOL, assert_within

BOX = fp.UniformPrior([-5.0, -5.0, -5.0], [5.0, 5.0, 5.0])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])


def closed_form_D_KL(cov, volume):
    return np.log(volume) - 0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1]


def test_gaussian_posterior_matches_closed_forms():
    st = fp.marginal_stats(fp.GaussianPrior([0.1, 0.2, 0.3], COV), prior=BOX, nsamples=50_000, seed=0)
    assert_within(st.D_KL, closed_form_D_KL(COV, 1000.0), st.D_KL_err)
    assert_within(st.d_G, 3.0, st.d_G_err)
    assert st.D_KL_err < 0.01 and st.d_G_err < 0.05


def test_errors_match_the_spread_over_seeds():
    post = fp.GaussianPrior([0.0, 0.0, 0.0], COV)
    runs = [fp.marginal_stats(post, prior=BOX, nsamples=2000, seed=s) for s in range(40)]
    for name in ("D_KL", "d_G"):
        spread = np.std([getattr(r, name) for r in runs], ddof=1)
        reported = np.mean([getattr(r, name + "_err") for r in runs])
        assert reported == pytest.approx(spread, rel=0.35)


def test_trained_flow_is_close_to_the_closed_form(flow2, box2):
    from .conftest import COV2

    st = fp.marginal_stats(flow2, nsamples=20_000, seed=1)
    # The flow's own density error (a tiny test flow) adds a few hundredths of a nat.
    assert abs(st.D_KL - closed_form_D_KL(COV2, 9.0)) < Z_TOL * st.D_KL_err + 0.05
    assert abs(st.d_G - 2.0) < Z_TOL * st.d_G_err + 0.1


def test_flow_outside_the_prior_raises():
    with pytest.raises(ValueError, match="expected the flow's samples inside the prior's support"):
        fp.marginal_stats(fp.GaussianPrior([4.9, 0.0, 0.0], COV), prior=BOX, nsamples=1000, seed=0)


def test_non_flow_raises():
    with pytest.raises(TypeError, match="expected flow to be a flowprior prior or flow; got list"):
        fp.marginal_stats([1, 2], prior=BOX)


def test_missing_prior_raises():
    with pytest.raises(ValueError, match="expected a prior: this flow has no base prior"):
        fp.marginal_stats(fp.GaussianPrior([0.0], [1.0]))


def test_non_prior_raises():
    with pytest.raises(TypeError, match="expected prior to be a flowprior Prior; got str"):
        fp.marginal_stats(fp.GaussianPrior([0.0], [1.0]), prior="flat")


def test_dimension_mismatch_raises():
    with pytest.raises(ValueError, match="expected a prior with 1 dimensions; got 3"):
        fp.marginal_stats(fp.GaussianPrior([0.0], [1.0]), prior=BOX)


def test_too_few_samples_raise():
    with pytest.raises(ValueError, match="expected nsamples >= 2; got 1"):
        fp.marginal_stats(fp.GaussianPrior([0.0, 0.0, 0.0], COV), prior=BOX, nsamples=1)
