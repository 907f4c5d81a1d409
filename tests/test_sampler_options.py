"""Sampler options with values that cannot work are refused before any likelihood call."""

import importlib.util
import sys

import numpy as np
import pytest

import flowprior as fp

from . import polychord_standin

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["a", "b"])

BAD = [
    ("dynesty", {"dlogz": 0.0}, "expected dlogz > 0 for dynesty; got 0.0"),  # before: a run that never ended
    ("dynesty", {"dlogz": -1}, "expected dlogz > 0"),
    ("dynesty", {"dlogz": np.nan}, "expected dlogz > 0"),
    ("dynesty", {"maxcall": 0}, "expected maxcall an integer >= 1"),
    ("dynesty", {"maxiter": 2.5}, "expected maxiter an integer >= 1"),
    ("dynesty", {"walks": True}, "expected walks an integer >= 1"),
    ("dynesty", {"enlarge": 0.5}, "expected enlarge >= 1"),
    ("dynesty", {"dynamic": True, "dlogz_init": 0}, "expected dlogz_init > 0"),
    ("dynesty", {"dynamic": True, "nlive_batch": 0}, "expected nlive_batch an integer >= 1"),
    ("polychord", {"num_repeats": 0}, "expected num_repeats an integer >= 1 for polychord; got 0"),  # before: STOP
    ("polychord", {"precision_criterion": -1}, "expected precision_criterion > 0"),
    ("polychord", {"precision_criterion": 0.0}, "expected precision_criterion > 0"),
    ("polychord", {"nprior": 0}, "expected nprior an integer >= 1, or -1"),
    ("polychord", {"max_ndead": -5}, "expected max_ndead an integer >= 1, or -1"),
    ("polychord", {"compression_factor": 1.0}, "expected compression_factor in \\(0, 1\\)"),
    ("polychord", {"boost_posterior": -1.0}, "expected boost_posterior >= 0"),
    ("nautilus", {"n_eff": 0}, "expected n_eff > 0 for nautilus; got 0"),
    ("nautilus", {"f_live": 1.5}, "expected f_live in \\(0, 1\\)"),
    ("nautilus", {"n_like_max": -1}, "expected n_like_max > 0 \\(or inf\\)"),
    ("nautilus", {"n_networks": -1}, "expected n_networks an integer >= 0"),
    ("nautilus", {"enlarge_per_dim": 0.9}, "expected enlarge_per_dim >= 1"),
]


@pytest.mark.parametrize("sampler, options, match", BAD, ids=[f"{s}-{next(iter(o.items()))}" for s, o, _ in BAD])
def test_a_bad_option_value_is_refused_before_any_call(sampler, options, match, monkeypatch):
    if sampler == "polychord":
        monkeypatch.setitem(sys.modules, "pypolychord", polychord_standin)
    if sampler == "nautilus" and importlib.util.find_spec("nautilus") is None:
        pytest.skip("nautilus not installed")
    calls = []
    with pytest.raises(ValueError, match=match):
        fp.run(lambda t: calls.append(1) or 0.0, BOX, sampler=sampler, nlive=50, **options)
    assert calls == []


@pytest.mark.slow
@pytest.mark.parametrize("sampler, options", [("dynesty", {"dlogz": None}),
                                              ("nautilus", {"n_like_max": np.inf, "timeout": np.inf, "n_eff": 50,
                                                            "n_networks": 1})])
def test_none_and_inf_where_they_mean_no_limit_are_accepted(sampler, options):
    if sampler == "nautilus" and importlib.util.find_spec("nautilus") is None:
        pytest.skip("nautilus not installed")
    res = fp.run(lambda t: -0.5 * float(np.sum(t**2)), BOX, sampler=sampler, nlive=50, seed=0, **options)
    assert np.isfinite(res.logZ)
