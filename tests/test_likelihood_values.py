"""A likelihood returning NaN, +inf or a non-number is stopped by flowprior's counting wrapper, for every sampler.

Before the check, real PolyChord segfaulted on NaN or +inf in part of the space and returned
logZ = -inf, logZerr = nan silently for NaN everywhere.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest

import flowprior as fp
from flowprior.samplers.counting import CountedLikelihood, checked

from . import polychord_standin

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["a", "b"])


def gauss(theta):
    return -0.5 * float(np.sum(np.asarray(theta) ** 2))


def bad_where_a_is_positive(value):
    def loglike(theta):
        return value if theta[0] > 0 else gauss(theta)
    return loglike


BAD = [(np.nan, "got nan"), (np.inf, "got inf"), ("1.0", "to return a float; got str"),
       ([1.0, 2.0], "to return a float; got list"), (np.array([1.0, 2.0]), "to return a float; got ndarray"),
       (None, "to return a float; got NoneType")]


@pytest.mark.parametrize("value, match", BAD)
def test_the_wrapper_refuses_a_value_that_is_no_log_likelihood(value, match):
    counted = CountedLikelihood(lambda t: value)
    with pytest.raises(fp.LikelihoodValueError, match=match) as info:
        counted(np.array([0.25, -1.0]))
    assert "theta = [0.25, -1.0]" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value, expected", [(-np.inf, -np.inf), (np.float32(-1.5), -1.5), (np.array([2.0]), 2.0),
                                             (3, 3.0), (np.array(4.0), 4.0)])
def test_the_wrapper_passes_every_usable_value_as_a_float(value, expected):
    out = checked(value, [0.0])
    assert type(out) is float and out == expected


def _samplers():
    out = [("dynesty", {})]
    out.append(("polychord stand-in", {}))
    if importlib.util.find_spec("pypolychord") is not None:
        out.append(("polychord", {}))
    if importlib.util.find_spec("nautilus") is not None:
        out.append(("nautilus", {"n_networks": 1}))
    return out


@pytest.mark.parametrize("sampler, options", _samplers(), ids=[s for s, _ in _samplers()])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_every_sampler_stops_with_a_clear_error_on_nan_or_inf_in_part_of_the_space(sampler, options, value,
                                                                                  monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if sampler == "polychord stand-in":
        monkeypatch.setitem(sys.modules, "pypolychord", polychord_standin)
        sampler = "polychord"
    with pytest.raises(fp.LikelihoodValueError, match="expected a finite log-likelihood or -inf"):
        fp.run(bad_where_a_is_positive(value), BOX, sampler=sampler, nlive=50, seed=0, **options)
    assert os.listdir(tmp_path) == []


def test_minus_inf_is_a_zero_likelihood_and_runs():
    res = fp.run(lambda t: -np.inf if t[0] > 4.0 else gauss(t), BOX, nlive=50, seed=1)
    assert np.isfinite(res.logZ)
