"""A uniform, total, fail-early API: each test here failed before the API sweep (issue 17)."""

import pickle

import numpy as np
import pytest

import flowprior as fp
from flowprior.cli import _parser
from flowprior.problems import GaussianProblem

from .helpers import assert_within

BOX2 = fp.UniformPrior([-3.0, -3.0], [3.0, 3.0], params=["a", "b"])
TINY = dict(hidden_layers=(8, 8), number_networks=2, epochs=15)


def two_modes(n, seed):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(-1.5, 0.2, (n, 2)), rng.normal(1.5, 0.2, (n // 2, 2))]


def no_call(theta):
    raise AssertionError("the likelihood was called")


@pytest.mark.slow
def test_nuisance_free_likelihood_takes_weights_second_and_logZ_by_keyword():
    x = np.random.default_rng(0).normal(0.2, 0.3, (800, 2))
    w = np.random.default_rng(1).uniform(0.5, 1.0, 800)
    L = fp.NuisanceFreeLikelihood.fit(x, w, logZ=-3.0, logZerr=0.1, prior=BOX2, n_flows=2, seed=0, flow_options=TINY)
    assert L.logZ == -3.0 and L.logZerr == 0.1 and L.n_flows == 2


def test_nuisance_free_likelihood_fails_before_training(monkeypatch):
    monkeypatch.setattr("flowprior.training.maf.train_maf", lambda *a, **k: pytest.fail("training started"))
    x = np.zeros((100, 2))
    with pytest.raises(ValueError, match="expected logZ, or anesthetic NestedSamples"):
        fp.NuisanceFreeLikelihood.fit(x, prior=BOX2)
    with pytest.raises(TypeError, match="expected flow_options among .*; got \\['epoch'\\]"):
        fp.NuisanceFreeLikelihood.fit(x, logZ=0.0, prior=BOX2, flow_options={"epoch": 3})
    with pytest.raises(TypeError, match="expected flow_options among \\['bandwidth'\\]; got \\['epochs'\\]"):
        fp.NuisanceFreeLikelihood.fit(x, logZ=0.0, prior=BOX2, flow="kde", flow_options={"epochs": 3})


@pytest.mark.parametrize("call", [
    lambda: fp.two_stage(no_call, BOX2, flow="kde"),
    lambda: fp.bootstrap_ensemble(np.zeros((50, 2)), prior=BOX2, flow="flow"),
    lambda: fp.NuisanceFreeLikelihood.fit(np.zeros((50, 2)), logZ=0.0, prior=BOX2, flow="nice"),
])
def test_flow_names_come_from_one_table_with_one_message(call):
    with pytest.raises(ValueError, match="expected flow in \\("):
        call()


def test_two_stage_refuses_unknown_option_keys_before_the_first_likelihood_call():
    for key in ("flow_options", "low_options", "high_options"):
        with pytest.raises(TypeError, match="'nlive_typo'"):
            fp.two_stage(no_call, BOX2, **{key: {"nlive_typo": 3}})


def test_every_prior_can_be_saved_a_mixture_included(tmp_path):
    mix = fp.Mixture([fp.GaussianPrior([0.0, 0.0], [0.1, 0.1], params=["a", "b"]), BOX2], [0.3, 0.7])
    mix.save(tmp_path / "mix.fpz")
    u = np.random.default_rng(2).random((20, 2))
    np.testing.assert_array_equal(fp.load(tmp_path / "mix.fpz").prior_transform(u), mix.prior_transform(u))


@pytest.mark.slow
def test_a_piecewise_flow_keeps_its_labels_and_fit_info_through_save_and_load(tmp_path):
    pw = fp.PiecewiseMAF.fit(two_modes(600, 3), prior=BOX2, seed=0, n_clusters=2, min_cluster_size=50, **TINY)
    pw.save(tmp_path / "pw.fpz")
    again = fp.load(tmp_path / "pw.fpz")
    np.testing.assert_array_equal(again.labels, pw.labels)
    assert again.fit_info == pw.fit_info and set(again.fit_info) >= {"silhouette", "n_clusters_found"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["maf", "piecewise"])
def test_pickling_keeps_the_chosen_backend(kind):
    x = two_modes(400, 4)
    flow = (fp.MAF.fit(x, prior=BOX2, seed=0, **TINY) if kind == "maf"
            else fp.PiecewiseMAF.fit(x, prior=BOX2, seed=0, n_clusters=2, min_cluster_size=50, **TINY))
    numpy_flow = flow.with_backend("numpy")
    assert pickle.loads(pickle.dumps(numpy_flow)).backend == "numpy"


@pytest.mark.slow
def test_two_stage_samples_carry_the_original_likelihood_and_describe_the_problem():
    problem = GaussianProblem(2, half_width=5.0)
    tw = fp.two_stage(problem.loglikelihood, problem.prior, seed=0, nlive_high=200, n_flows=1,
                      flow_options=dict(epochs=100))
    theta = tw.samples[list(problem.prior.params)].to_numpy()
    logL = tw.samples.logL.to_numpy()
    for i in (0, len(theta) // 2, len(theta) - 1):
        assert logL[i] == pytest.approx(problem.loglikelihood(theta[i]), abs=1e-9)
    # The posterior is the normalised Gaussian: D_KL = log V - 1/2 log det(2 pi e Sigma), d_G = d.
    truth = 2 * np.log(10.0) - 0.5 * np.linalg.slogdet(2 * np.pi * np.e * problem.cov)[1]
    assert_within(tw.D_KL, truth, 0.1)  # a few hundredths from the finite posterior sample
    assert abs(tw.d_G - 2.0) < 0.6
    assert tw.high.samples.logL.to_numpy().max() < logL.max() - 1.0  # the repartitioned one lies elsewhere


def test_every_cli_command_has_the_same_seed_default():
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    defaults = {name: sub.get_default("seed") for name, sub in commands.items() if sub.get_default("seed") is not None
                or any(a.dest == "seed" for a in sub._actions)}
    assert len(defaults) >= 6 and set(defaults.values()) == {0}
