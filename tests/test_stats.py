"""marginal_stats: D_KL and d_G against closed forms."""

import numpy as np
import pytest

import flowprior as fp

from .helpers import Z_TOL, assert_within

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
    from .helpers import COV2

    st = fp.marginal_stats(flow2, nsamples=20_000, seed=1)
    # The flow's own density error (a tiny test flow) adds a few hundredths of a nat.
    assert abs(st.D_KL - closed_form_D_KL(COV2, 9.0)) < Z_TOL * st.D_KL_err + 0.05
    assert abs(st.d_G - 2.0) < Z_TOL * st.d_G_err + 0.1


def test_flow_outside_the_prior_raises():
    with pytest.raises(ValueError, match="expected the flow's samples inside the prior's support"):
        fp.marginal_stats(fp.GaussianPrior([4.9, 0.0, 0.0], COV), prior=BOX, nsamples=1000, seed=0)


def test_non_flow_raises():
    with pytest.raises(TypeError, match="expected flow to be a flowprior prior or flow, or a non-empty list of them; got list"):
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


# --- the density's own error: bootstrap ensembles ---------------------------------------------------
SIG2 = np.array([0.1, 0.2, 0.3])
TRUE_D_KL = closed_form_D_KL(np.diag(SIG2), 1000.0)
SMALL = {"hidden_layers": (16, 16), "number_networks": 2, "epochs": 150, "patience": 15}


def _weighted_gaussian(seed, n=1200, scale=1.5):
    """Importance-weighted draws of N(0, diag(SIG2)) from a wider Gaussian: ESS ~ 700 of 1200."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * np.sqrt(SIG2) * scale
    logw = -0.5 * np.sum(x**2 / SIG2, axis=1) * (1 - scale**-2)
    return x, np.exp(logw - logw.max())


def test_an_ensemble_of_identical_members_has_the_monte_carlo_error_of_their_mean():
    post = fp.GaussianPrior([0.0, 0.0, 0.0], COV)
    one = fp.marginal_stats(post, prior=BOX, nsamples=4000, seed=1)
    two = fp.marginal_stats([post, post], prior=BOX, nsamples=4000, seed=1)
    assert two.n_flows == 2 and one.n_flows == 1
    assert two.D_KL_err == pytest.approx(one.D_KL_err / np.sqrt(2), rel=0.1)
    assert_within(two.D_KL, closed_form_D_KL(COV, 1000.0), two.D_KL_err)


@pytest.mark.slow
def test_the_bootstrap_spread_enters_the_error_and_makes_it_honest_over_seeds():
    z_ens, z_mc = [], []
    for seed in range(8):
        x, w = _weighted_gaussian(seed)
        # The default 5 members: the spread of 3 has 2 degrees of freedom, so one seed in 16 gets an
        # error bar a quarter of its real size, and over 8 seeds the rms of z is then often above 1.5.
        members = fp.bootstrap_ensemble(x, w, prior=BOX, seed=seed, flow_options=SMALL)
        ens = fp.marginal_stats(members, nsamples=5000, seed=seed)
        z_ens.append([(ens.D_KL - TRUE_D_KL) / ens.D_KL_err, (ens.d_G - 3.0) / ens.d_G_err])
        single = fp.marginal_stats(members[0], nsamples=5000, seed=seed)
        z_mc.append((single.D_KL - TRUE_D_KL) / single.D_KL_err)
    rms = np.sqrt(np.mean(np.square(z_ens), axis=0))
    assert np.all(rms <= 1.5), rms
    # Monte Carlo noise alone is far too small for a density trained on ~700 effective samples.
    assert np.sqrt(np.mean(np.square(z_mc))) > 3
