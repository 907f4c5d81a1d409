"""Block flows: groups found from the samples, an exact product prior, and every place a flow goes."""

import pickle

import numpy as np
import pytest

import flowprior as fp
from flowprior.flows.block import KDE_MAX_POINTS, choose_kind, marginal_prior
from flowprior.flows.dependence import find_blocks, link_threshold
from flowprior.problems import BlockProblem

from .helpers import assert_identical_in_a_fresh_process, fd_log_abs_det

SMALL = dict(hidden_layers=(16, 16), number_networks=2, epochs=40)
BOX = fp.UniformPrior([-4, -4, -4, -4, -4], [4, 4, 4, 4, 4], params=["a", "b", "c", "d", "e"])


def five_d(n, seed):
    """A curved pair (a, b), a correlated pair (c, d), and e exponential: three blocks of three kinds."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.5, n)
    b = a**2 + rng.normal(0, 0.1, n)
    cd = rng.multivariate_normal([0.5, -0.5], [[0.04, 0.03], [0.03, 0.09]], n)
    e = rng.exponential(0.5, n) - 1.0
    return np.column_stack([a, b, cd, e])


@pytest.fixture(scope="module")
def block5():
    return fp.BlockFlow.fit(five_d(4000, 0), prior=BOX, seed=1, **SMALL)


def test_the_groups_and_their_kinds_are_found(block5):
    assert block5.blocks == [["a", "b"], ["c", "d"], ["e"]]
    assert block5.kinds == ["maf", "gaussian", "kde"]
    mi = np.array(block5.fit_info["mutual_information"])
    assert mi[0, 1] > 0.5 and mi[0, 2] < block5.fit_info["link_threshold"]


def test_round_trip_and_log_prob_is_minus_log_det_of_the_transform(block5):
    u = np.random.default_rng(2).uniform(0.05, 0.95, (200, 5))
    np.testing.assert_allclose(block5.inverse_prior_transform(block5.prior_transform(u)), u, rtol=0, atol=1e-9)
    for ui in u[:6]:
        assert block5.log_prob(block5.prior_transform(ui)) == pytest.approx(
            -fd_log_abs_det(block5.prior_transform, ui, h=1e-7), abs=1e-4)


@pytest.mark.slow
def test_density_is_the_sum_of_the_blocks(block5):
    # Each kind's normalisation is tested with it; the product's log-density is the sum of theirs.
    theta = block5.sample(500, seed=3)
    parts = sum(c.log_prob(theta[:, [block5.params.index(p) for p in b]])
                for c, b in zip(block5.components, block5.blocks))
    np.testing.assert_allclose(block5.log_prob(theta), parts, rtol=0, atol=1e-12)


def test_edges_of_the_cube_give_finite_parameters_and_outside_is_minus_inf(block5):
    theta = block5.prior_transform(np.array([[1e-300] * 5, [1 - 1e-16] * 5]))
    assert np.all(np.isfinite(theta)) and np.all(BOX._in_support(theta))
    assert block5.log_prob([5.0, 0.0, 0.0, 0.0, 0.0]) == -np.inf


def test_save_load_and_pickle_give_the_same_bits_without_tensorflow(block5, tmp_path):
    u = np.random.default_rng(5).random((5, 5))
    assert_identical_in_a_fresh_process(block5, tmp_path / "block.fpz", u)
    loaded = fp.load(tmp_path / "block.fpz")
    assert loaded.blocks == block5.blocks and loaded.kinds == block5.kinds
    assert loaded.fit_info == block5.fit_info
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(block5)).prior_transform(u), block5.prior_transform(u))


def test_groups_of_the_block_problem_are_recovered_exactly():
    problem = BlockProblem()
    x = problem.posterior_sample(20_000, seed=6)
    u = problem.prior.inverse_prior_transform(x)
    from flowprior.kernels.normal import ndtri_clipped

    blocks, mi, limit = find_blocks(ndtri_clipped(u), np.ones(len(x)))
    assert blocks == problem.blocks
    assert limit == pytest.approx(0.01)


def test_independent_parameters_are_not_linked_by_noise():
    for n in (300, 3000):
        x = np.random.default_rng(7).normal(size=(n, 12))
        blocks, mi, limit = find_blocks(x, np.ones(n))
        assert len(blocks) == 12 and mi.max() < limit
    assert link_threshold(300, 12) > 0.01  # at small samples the noise level sets the threshold


def test_choose_kind():
    rng = np.random.default_rng(8)
    assert choose_kind(rng.normal(size=(5000, 2)), np.ones(5000)) == "prior"
    assert choose_kind(rng.normal(0.3, 0.2, size=(5000, 2)), np.ones(5000)) == "gaussian"
    assert choose_kind(rng.exponential(size=(5000, 1)), np.ones(5000)) == "kde"
    x = rng.normal(size=(5000, 2))
    x[:, 1] += x[:, 0] ** 2
    assert choose_kind(x, np.ones(5000)) == "maf"


def test_blocks_given_by_hand_are_used():
    x = five_d(2000, 9)
    flow = fp.BlockFlow.fit(x, prior=BOX, blocks=[["a", "b", "c", "d"], ["e"]], seed=0, **SMALL)
    assert flow.blocks == [["a", "b", "c", "d"], ["e"]] and flow.kinds == ["maf", "kde"]


def test_a_one_parameter_kde_block_keeps_at_most_kde_max_points_with_the_same_distribution():
    # A KDE costs a call linear in its points; 6000 rows are thinned by weight to KDE_MAX_POINTS.
    rng = np.random.default_rng(3)
    x = np.column_stack([np.where(rng.random(6000) < 0.3, rng.normal(-0.5, 0.1, 6000), rng.normal(0.4, 0.2, 6000)),
                         rng.normal(0.0, 0.3, 6000)]).clip(-0.99, 0.99)
    w = rng.uniform(0.5, 1.5, 6000)
    prior = fp.UniformPrior([-1, -1], [1, 1], params=["a", "b"])
    flow = fp.BlockFlow.fit(x, w, prior=prior, blocks=[["a"], ["b"]], seed=0, **SMALL)
    kde = flow.components[0]
    assert flow.kinds[0] == "kde" and len(kde.points) <= KDE_MAX_POINTS
    # The thinned kernels carry the data's weight on each side of the gap (x < 0 is theta < 0 here).
    assert abs(np.average(kde.points[:, 0] < 0, weights=kde.weights) - np.average(x[:, 0] < 0, weights=w)) < 0.02


@pytest.mark.parametrize("blocks, error, match", [
    ([["a", "b"], ["c", "d"]], ValueError, "missing \\['e'\\]"),
    ([["a", "b", "c"], ["c", "d", "e"]], ValueError, "repeated \\['c'\\]"),
    ([["a", "b", "c", "d", "z"], ["e"]], ValueError, "unknown \\['z'\\]"),
    ("a,b", TypeError, "expected blocks='auto' or a list of lists"),
    ([["a", "b"], "cde"], TypeError, "expected each block as a list"),
])
def test_bad_blocks_are_refused_before_training(blocks, error, match, monkeypatch):
    monkeypatch.setattr("flowprior.training.maf.train_maf", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(error, match=match):
        fp.BlockFlow.fit(five_d(500, 10), prior=BOX, blocks=blocks)


def test_a_base_prior_that_is_not_a_product_is_refused(monkeypatch):
    monkeypatch.setattr("flowprior.training.maf.train_maf", lambda *a, **k: pytest.fail("training started"))
    x = five_d(500, 11)
    cov = np.eye(5)
    cov[2, 3] = cov[3, 2] = 0.3  # the prior couples c and d
    gauss = fp.GaussianPrior(np.zeros(5), cov, params=BOX.params)
    with pytest.raises(ValueError, match="does not correlate \\['c'\\] with the other parameters"):
        fp.BlockFlow.fit(x, prior=gauss, blocks=[["a", "b"], ["c"], ["d", "e"]])
    kde = fp.KDE.fit(x[:, :2], prior=fp.UniformPrior([-4, -4], [4, 4]))
    with pytest.raises(TypeError, match="a product over parameters"):
        fp.BlockFlow.fit(x[:, :2], prior=kde)
    with pytest.raises(TypeError, match="a product over parameters"):
        marginal_prior(kde, [0])
    with pytest.raises(ValueError, match="expected threshold >= 0"):
        fp.BlockFlow.fit(x, prior=BOX, threshold=-0.1)


def test_a_gaussian_base_prior_keeps_the_pairs_it_couples_together():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3000, 3)) * 0.3
    cov = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    flow = fp.BlockFlow.fit(x, prior=fp.GaussianPrior(np.zeros(3), cov), seed=0, **SMALL)
    assert flow.blocks == [["p0", "p1"], ["p2"]]


@pytest.mark.slow
def test_widened_widens_the_flow_and_gaussian_blocks(block5):
    wide = block5.widened(2.0)
    assert wide.kinds == block5.kinds
    np.testing.assert_allclose(wide.components[1].cov, 4.0 * block5.components[1].cov)
    assert wide.components[2] is block5.components[2]
    u = np.random.default_rng(13).random((1000, 5))
    assert np.std(wide.prior_transform(u)[:, 0]) > 1.5 * np.std(block5.prior_transform(u)[:, 0])


@pytest.mark.slow
def test_run_and_marginal_stats_take_a_block_flow(block5):
    res = fp.run(lambda t: -0.5 * float(np.sum((t - 0.1) ** 2)), block5, nlive=30, seed=14, dlogz=2.0)
    assert np.isfinite(res.logZ) and res.samples[list(block5.params)].shape[1] == 5
    st = fp.marginal_stats(block5, nsamples=1000, seed=15)
    assert np.isfinite(st.D_KL) and st.d_G > 0


def test_the_cli_info_reports_the_blocks_and_their_kinds(block5, tmp_path, capsys):
    from flowprior.cli import main

    block5.save(tmp_path / "b.fpz")
    assert main(["info", str(tmp_path / "b.fpz")]) == 0
    out = capsys.readouterr().out
    assert "blocks found by mutual information above 0.0" in out
    assert "  maf      a, b" in out and "  gaussian c, d" in out and "  kde      e" in out
