"""Piecewise flows: clustering, an exact deterministic mixture transform, files, parallel training."""

import logging
import pickle

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import flowprior as fp
from flowprior.errors import TrainingDataError
from flowprior.training.clustering import cluster
from flowprior.training.piecewise import _train_cluster_in_child

from .helpers import Z_TOL, assert_identical_in_a_fresh_process, fd_log_abs_det

PW_TINY = dict(hidden_layers=(16, 16), number_networks=2, epochs=60, patience=10, n_jobs=1)
BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["x", "y"])


def bimodal(n, seed):
    rng = np.random.default_rng(seed)
    k = rng.random(n) < 0.7
    return np.where(k[:, None], rng.normal([-2.0, -1.0], 0.3, (n, 2)), rng.normal([2.0, 1.5], 0.4, (n, 2)))


@pytest.fixture(scope="module")
def pw():
    return fp.PiecewiseMAF.fit(bimodal(4000, 0), prior=BOX, seed=0, **PW_TINY)


@pytest.mark.slow
def test_finds_the_two_modes_with_their_weights(pw):
    assert pw.n_clusters == 2
    x = bimodal(4000, 0)
    left = x[:, 0] < 0
    # Weights are the clusters' summed sample weights: exactly the label shares.
    np.testing.assert_allclose(np.sort(pw.weights), np.sort([left.mean(), 1 - left.mean()]), rtol=0, atol=1e-12)
    assert np.all(np.bincount(pw.labels) == np.sort([left.sum(), (~left).sum()])[np.argsort(np.argsort(np.bincount(pw.labels)))])


def test_log_prob_of_transform_is_the_component_jacobian(pw):
    # In the interval of component k, T(u) = T_k(u') with u1' = (u1 - e_k)/w_k, so
    # log w_k + log q_k(T(u)) = -log|det dT/du|; the mixture density adds the other components.
    u = np.random.default_rng(1).uniform(0.02, 0.98, (20, 2))
    theta = pw.prior_transform(u)
    comp = pw.component_log_probs(theta)
    k = np.searchsorted(pw._edges, u[:, 0], side="right") - 1
    for i in range(len(u)):
        lad = fd_log_abs_det(pw.prior_transform, u[i], h=1e-7)
        assert comp[i, k[i]] == pytest.approx(-lad, abs=1e-4)
    np.testing.assert_allclose(pw.log_prob(theta), logsumexp(comp, axis=1), rtol=1e-13)


def test_pushforward_matches_ancestral_sampling(pw):
    # Independent draws of the mixture: pick a flow with the weights, then sample that flow.
    rng = np.random.default_rng(2)
    counts = rng.multinomial(20_000, pw.weights)
    ref = np.vstack([f.sample(c, seed=10 + j) for j, (f, c) in enumerate(zip(pw.flows, counts))])
    got = pw.prior_transform(np.random.default_rng(3).random((20_000, 2)))
    for d in range(2):
        assert stats.ks_2samp(got[:, d], ref[:, d]).pvalue > 0.001
    proj = np.array([1.0, 0.7])
    assert stats.ks_2samp(got @ proj, ref @ proj).pvalue > 0.001


@pytest.mark.slow
def test_normalised_by_quadrature(pw):
    # Quadrature in the Gaussianised cube x = Phi^-1(v), |x| < 8, where the
    # grid resolves a flow's tails near the box edges; the mass beyond (points
    # that Phi rounds onto the edge) is counted by Monte Carlo.
    h, xmax = 0.01, 8.0
    xs = np.arange(-xmax, xmax, h) + h / 2
    theta1 = -5 + 10 * stats.norm.cdf(xs)
    dtheta = 10 * stats.norm.pdf(xs) * h
    grid = np.stack(np.meshgrid(theta1, theta1, indexing="ij"), axis=-1).reshape(-1, 2)
    inner = np.sum(np.exp(pw.log_prob(grid)) * np.outer(dtheta, dtheta).ravel())
    v = (pw.sample(200_000, seed=9) + 5) / 10
    beyond = np.any((v < stats.norm.cdf(-xmax)) | (v > stats.norm.cdf(xmax)), axis=1)
    err = np.sqrt(beyond.mean() * (1 - beyond.mean()) / beyond.size)
    assert inner + beyond.mean() == pytest.approx(1.0, abs=Z_TOL * err + 2e-4)


def test_single_point_equals_batch_and_order_does_not_matter(pw):
    u = np.random.default_rng(4).random((200, 2))
    batch = pw.prior_transform(u)
    np.testing.assert_array_equal(np.array([pw.prior_transform(p) for p in u]), batch)
    perm = np.random.default_rng(5).permutation(200)
    np.testing.assert_array_equal(pw.prior_transform(u[perm]), batch[perm])


def test_identical_across_processes(pw, tmp_path):
    assert_identical_in_a_fresh_process(pw, tmp_path / "pw.fpz", np.random.default_rng(6).random((50, 2)))


def test_edges_are_finite_and_inside(pw):
    for edge in (0.0, 1e-300, 0.5, 1 - 1e-16, 1.0):
        theta = pw.prior_transform([edge, edge])
        assert np.all(np.isfinite(theta)) and BOX.log_prob(theta) > -np.inf


def test_file_and_pickle_round_trips(pw, tmp_path):
    pw.save(tmp_path / "pw.fpz")
    again = fp.load(tmp_path / "pw.fpz", backend="numpy")
    assert isinstance(again, fp.PiecewiseMAF) and again.backend == "numpy"
    u = np.random.default_rng(7).random((30, 2))
    np.testing.assert_allclose(again.prior_transform(u), pw.prior_transform(u), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pw)).prior_transform(u), pw.prior_transform(u))


def test_log_prob_outside_support_is_minus_inf(pw):
    assert pw.log_prob([6.0, 0.0]) == -np.inf


def test_parameter_count_adds_up(pw):
    assert pw.n_parameters == sum(f.n_parameters for f in pw.flows) > 0


def test_is_a_valid_proposal_for_repartition(pw):
    rp = fp.repartition(lambda t: 0.0, BOX, pw, beta=0.1)
    theta = pw.sample(5, seed=8)
    for t in theta:
        assert rp.loglikelihood(t) + rp.prior.log_prob(t) == pytest.approx(BOX.log_prob(t), abs=1e-9)


@pytest.mark.slow
def test_user_labels_are_used():
    x = bimodal(3000, 9)
    labels = np.where(x[:, 0] < 0, "left", "right")
    pw = fp.PiecewiseMAF.fit(x, prior=BOX, labels=labels, seed=0, **{**PW_TINY, "epochs": 5})
    np.testing.assert_allclose(pw.weights, [np.mean(labels == "left"), np.mean(labels == "right")], atol=1e-12)


@pytest.mark.slow
def test_labels_follow_rows_when_zero_weights_are_dropped():
    x = bimodal(3000, 10)
    w = np.ones(3000)
    w[:500] = 0.0
    labels = (x[:, 0] > 0).astype(int)
    pw = fp.PiecewiseMAF.fit(x, w, prior=BOX, labels=labels, seed=0, **{**PW_TINY, "epochs": 5})
    np.testing.assert_array_equal(pw.labels, labels[500:])


def test_widened_mixture_widens_every_cluster_flow(pw):
    wide = pw.widened(1.5)
    theta = pw.sample(100, seed=14)
    expected = logsumexp([np.log(w) + f.widened(1.5).log_prob(theta) for w, f in zip(pw.weights, pw.flows)], axis=0)
    np.testing.assert_allclose(wide.log_prob(theta), expected, rtol=1e-12)
    assert not np.allclose(wide.log_prob(theta), pw.log_prob(theta))


def test_refinement_stops_when_the_modes_share_no_samples(pw):
    (shared,) = pw.fit_info["shared_fraction"]
    assert shared < 0.01
    assert len(pw.fit_info["cluster_wall_times"]) == 2  # trained once, not retrained


def moons(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    arc = np.where(upper[:, None], np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return arc + rng.normal(0, 0.1, (n, 2))


@pytest.mark.slow
def test_refinement_softens_a_cut_through_connected_crescents():
    x, held_out = moons(3000, 30), moons(5000, 31)
    opts = {**PW_TINY, "epochs": 100, "n_clusters": 2, "seed": 4}
    hard = fp.PiecewiseMAF.fit(x, prior=BOX, refine=0, **opts)
    soft = fp.PiecewiseMAF.fit(x, prior=BOX, refine=2, **opts)
    # k-means' straight cut leaves samples that both clusters' flows claim.
    assert soft.fit_info["shared_fraction"][0] > 0.05
    assert len(soft.fit_info["cluster_wall_times"]) == 6
    assert soft.log_prob(held_out).mean() > hard.log_prob(held_out).mean() + 0.02
    np.testing.assert_array_equal(soft.labels, np.argmax(soft.component_log_probs(x), axis=1))


@pytest.mark.slow
def test_user_labels_are_kept_hard_by_default():
    x = bimodal(3000, 13)
    labels = (x[:, 0] + x[:, 1] > 0.5).astype(int)
    pw = fp.PiecewiseMAF.fit(x, prior=BOX, labels=labels, seed=0, **{**PW_TINY, "epochs": 5})
    assert pw.fit_info["shared_fraction"] == []
    np.testing.assert_array_equal(pw.labels, labels)


def test_negative_refine_raises():
    with pytest.raises(ValueError, match="expected refine >= 0; got -1"):
        fp.PiecewiseMAF.fit(bimodal(1000, 21), prior=BOX, n_clusters=1, refine=-1)


@pytest.mark.slow
def test_parallel_training_gives_the_sequential_flows():
    x = bimodal(3000, 11)
    opts = {**PW_TINY, "epochs": 5}
    one = fp.PiecewiseMAF.fit(x, prior=BOX, seed=3, **opts)
    two = fp.PiecewiseMAF.fit(x, prior=BOX, seed=3, **{**opts, "n_jobs": 2})
    assert two.fit_info["n_jobs"] == 2
    u = np.random.default_rng(12).random((20, 2))
    np.testing.assert_allclose(two.prior_transform(u), one.prior_transform(u), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_cluster_chooses_one_for_unimodal_and_three_for_blobs():
    rng = np.random.default_rng(13)
    assert cluster(rng.normal(size=(3000, 2)), seed=0)[0].max() == 0
    centres = np.array([[-4.0] * 5, [0, 4, 0, 4, 0], [4.0] * 5])
    blobs = centres[rng.integers(0, 3, 3000)] + rng.normal(0, 0.5, (3000, 5))
    labels, scores = cluster(blobs, seed=0)
    assert labels.max() == 2 and max(scores, key=scores.get) == 3


def test_the_search_goes_past_max_clusters_while_the_score_still_rises():
    # Twelve separated blobs on a 4 x 3 grid: the score rises all the way to twelve, and max_clusters=8
    # is only where the search would have stopped had it fallen.
    rng = np.random.default_rng(4)
    blobs = np.vstack([[3.0 * i, 3.0 * j] + 0.2 * rng.normal(size=(300, 2)) for i in range(4) for j in range(3)])
    labels, scores = cluster(blobs, max_clusters=8, min_cluster_size=50, seed=0)
    assert labels.max() + 1 == 12 and max(scores) == 13
    assert max(scores, key=scores.get) == 12


def test_tiny_kmeans_cluster_is_merged_with_a_warning(caplog):
    rng = np.random.default_rng(14)
    x = np.r_[rng.normal(0, 1, (2000, 2)), rng.normal(20, 1, (50, 2))]
    with caplog.at_level(logging.WARNING, logger="flowprior.training.clustering"):
        labels, _ = cluster(x, n_clusters=2, min_cluster_size=200, seed=0)
    assert labels.max() == 0
    assert "merged into the nearest cluster" in caplog.text


@pytest.mark.slow
def test_fit_records_clusters_found_before_merging():
    rng = np.random.default_rng(15)
    x = np.r_[rng.normal(-2, 0.3, (2000, 2)), rng.normal(2, 0.3, (60, 2))]
    pw = fp.PiecewiseMAF.fit(x, prior=BOX, seed=0, min_cluster_size=100, **{**PW_TINY, "epochs": 5})
    assert pw.n_clusters == 1
    assert pw.fit_info["n_clusters_found"] == 2


def test_tiny_labelled_cluster_is_refused():
    x = bimodal(1000, 15)
    labels = np.r_[np.zeros(990, int), np.ones(10, int)]
    with pytest.raises(TrainingDataError, match="expected at least min_cluster_size=200 effective samples"):
        fp.PiecewiseMAF.fit(x, prior=BOX, labels=labels, **PW_TINY)


def test_labels_of_wrong_shape_raise():
    with pytest.raises(TrainingDataError, match=r"expected labels of shape \(1000,\)"):
        fp.PiecewiseMAF.fit(bimodal(1000, 16), prior=BOX, labels=[0, 1], **PW_TINY)


def test_labels_and_n_clusters_together_raise():
    with pytest.raises(ValueError, match="expected n_clusters or labels; got both"):
        fp.PiecewiseMAF.fit(bimodal(1000, 17), prior=BOX, labels=np.zeros(1000), n_clusters=2)


def test_bad_n_jobs_raises():
    with pytest.raises(ValueError, match="expected n_jobs >= 1; got 0"):
        fp.PiecewiseMAF.fit(bimodal(1000, 18), prior=BOX, n_clusters=1, n_jobs=0)


def test_bad_cluster_counts_raise():
    x = bimodal(500, 19)
    with pytest.raises(ValueError, match="expected n_clusters >= 1; got 0"):
        cluster(x, n_clusters=0)
    with pytest.raises(ValueError, match="expected max_clusters >= 2; got 1"):
        cluster(x, max_clusters=1)


def test_failed_training_process_raises():
    job = (np.zeros((1, 2)), np.ones(1), fp.TrainingOptions(), 0)  # one sample: the child's split refuses it
    with pytest.raises(RuntimeError, match="expected the training process to succeed"):
        _train_cluster_in_child(job)


def test_non_flow_components_raise():
    with pytest.raises(TypeError, match="expected a non-empty sequence of MAF flows"):
        fp.PiecewiseMAF([BOX], [1.0])


def test_inverse_transform_is_refused(pw):
    with pytest.raises(NotImplementedError, match="expected a bijective prior"):
        pw.inverse_prior_transform([0.0, 0.0])


def test_unknown_keyword_raises():
    with pytest.raises(TypeError, match="expected training options among .*; got \\['n_cluster'\\]"):
        fp.PiecewiseMAF.fit(bimodal(500, 20), prior=BOX, n_cluster=2)
