"""Training options and inputs that cannot give a usable flow are refused before any training."""

import numpy as np
import pytest

import flowprior as fp
from flowprior.errors import TrainingDataError

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["a", "b"])
SAMPLES = np.random.default_rng(0).normal(size=(300, 2))


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("flowprior.training.maf.train_maf", refuse)
    monkeypatch.setattr("flowprior.flows.piecewise.PiecewiseMAF._train_all", refuse, raising=False)


BAD = [
    ({"activation": "linear"}, ValueError, "expected activation in"),
    ({"backend": "bogus"}, ValueError, "expected backend in \\('auto', 'numba', 'numpy'\\); got 'bogus'"),
    ({"hidden_layers": ()}, ValueError, "expected hidden_layers as one or more positive integer widths; got \\(\\)"),
    ({"hidden_layers": (50, 0)}, ValueError, "expected hidden_layers as one or more positive integer widths"),
    ({"hidden_layers": 50}, TypeError, "expected hidden_layers as a sequence of layer widths"),
    ({"number_networks": 0}, ValueError, "expected number_networks an integer >= 1; got 0"),
    ({"learning_rate": -1e-3}, ValueError, "expected learning_rate > 0; got -0.001"),
    ({"learning_rate": np.nan}, ValueError, "expected learning_rate > 0"),
    ({"epochs": 0}, ValueError, "expected epochs an integer >= 1"),
    ({"batch_size": 0}, ValueError, "expected batch_size an integer >= 1 or None"),
    ({"validation_fraction": 1.0}, ValueError, "expected 0 <= validation_fraction < 1"),
    ({"patience": 0}, ValueError, "expected patience an integer >= 1"),
    ({"permutations": "sorted"}, ValueError, "expected permutations in"),
    ({"schedule": "cosine"}, ValueError, "expected schedule in \\('plateau', 'constant'\\); got 'cosine'"),
    ({"resample": "yes"}, TypeError, "expected resample True or False"),
    ({"weight_decay": -1e-3}, ValueError, "expected weight_decay >= 0; got -0.001"),
    ({"weight_decay": np.inf}, ValueError, "expected weight_decay >= 0; got inf"),
    ({"weight_decay": True}, ValueError, "expected weight_decay >= 0; got True"),
    ({"refit": 1}, TypeError, "expected refit True or False; got 1"),
    ({"progress": 1}, TypeError, "expected progress True or False"),
]


@pytest.mark.parametrize("options, error, match", BAD, ids=[str(o) for o, _, _ in BAD])
def test_maf_refuses_a_bad_option_before_training(options, error, match):
    with pytest.raises(error, match=match):
        fp.MAF.fit(SAMPLES, prior=BOX, **options)


@pytest.mark.parametrize("options, error, match", BAD, ids=[str(o) for o, _, _ in BAD])
def test_piecewise_refuses_a_bad_option_before_clustering_or_training(options, error, match):
    with pytest.raises(error, match=match):
        fp.PiecewiseMAF.fit(SAMPLES, prior=BOX, n_clusters=1, **options)


@pytest.mark.parametrize("options, error, match", [b for b in BAD if "backend" not in b[0]],
                         ids=[str(o) for o, _, _ in BAD if "backend" not in o])
def test_the_trainer_refuses_a_bad_option_for_its_direct_callers(options, error, match):
    from flowprior.training.options import training_options

    with pytest.raises(error, match=match):
        training_options(options)


class Stop(Exception):
    pass


def no_call(theta):
    raise AssertionError("the likelihood was called")


def fit_with(kind, **options):
    if kind == "maf":
        return fp.MAF.fit(SAMPLES, prior=BOX, **options)
    if kind == "piecewise":
        return fp.PiecewiseMAF.fit(SAMPLES, prior=BOX, n_clusters=1, **options)
    if kind == "block":
        return fp.BlockFlow.fit(SAMPLES, prior=BOX, **options)
    if kind == "reweight":
        return fp.reweight(no_call, SAMPLES, prior=BOX, flow_options=options)
    return fp.two_stage(no_call, BOX, flow=kind.split(":")[1], flow_options=options)


@pytest.mark.parametrize("kind", ["maf", "piecewise", "block", "reweight", "two_stage:maf", "two_stage:piecewise",
                                  "two_stage:block"])
def test_every_caller_refuses_an_unknown_training_option_by_name_before_any_work(kind):
    with pytest.raises(TypeError, match="'hidden_layer'"):
        fit_with(kind, hidden_layer=(8, 8))
    with pytest.raises(ValueError, match="expected learning_rate > 0"):
        fit_with(kind, learning_rate=0.0)


def test_piecewise_passes_permutations_and_progress_on_to_its_flows(monkeypatch):
    seen = []
    def record(x, w, *, options, seed):
        seen.append(options)
        raise Stop

    monkeypatch.setattr("flowprior.training.maf.train_maf", record)
    with pytest.raises(Stop):
        fp.PiecewiseMAF.fit(SAMPLES, prior=BOX, n_clusters=1, permutations="reverse", progress=True, n_jobs=1)
    assert seen[0].permutations == "reverse" and seen[0].progress is True


def test_an_effective_sample_size_of_about_one_is_refused():
    weights = np.full(len(SAMPLES), 1e-12)
    weights[7] = 1.0  # ESS ~ 1: a flow would map the whole cube onto that point
    with pytest.raises(TrainingDataError, match="expected an effective sample size above the dimensions \\(2\\); "
                                                "got 1.00 from 300 samples"):
        fp.MAF.fit(SAMPLES, weights, prior=BOX)


@pytest.mark.parametrize("kind", ["array", "frame"])
def test_params_given_as_one_string_is_refused_rather_than_split_into_letters(kind):
    samples = SAMPLES
    if kind == "frame":
        import pandas as pd

        samples = pd.DataFrame(SAMPLES, columns=["a", "b"])
    with pytest.raises(TypeError, match="expected params as a sequence of names, such as \\['a', 'b'\\]; got the "
                                        "string 'ab'"):
        fp.MAF.fit(samples, prior=BOX, params="ab")


def test_systematic_resampling_draws_in_proportion_and_equal_weights_once_each():
    from flowprior.flows.data import systematic_resample

    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(np.sort(systematic_resample(np.ones(50), rng)), np.arange(50))
    w = rng.uniform(0, 1, 1000) ** 4
    counts = np.bincount(systematic_resample(w, rng), minlength=1000)
    expected = 1000 * w / w.sum()
    assert counts.sum() == 1000 and np.all(np.abs(counts - expected) < 1.0 + 1e-9)
