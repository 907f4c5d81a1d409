"""Training straight from what samplers write: anesthetic in, flowprior out."""

import os
import sys

import numpy as np
import pytest
from anesthetic import read_chains

import flowprior as fp

from . import polychord_standin
from .helpers import assert_within

PRIOR = fp.UniformPrior([-5, -5], [5, 5], params=["a", "b"])
SMALL = dict(hidden_layers=(8, 8), number_networks=2, epochs=10)


def loglike(theta):
    return -0.5 * float(np.sum((theta - np.array([1.0, -1.0])) ** 2 / 0.2))


@pytest.fixture(scope="module")
def run_result():
    return fp.run(loglike, PRIOR, nlive=100, seed=0)


def _write_paramnames(root, names):
    with open(f"{root}.paramnames", "w") as fh:
        fh.writelines(f"{n}\t{n}\n" for n in names)


def test_polychord_format_files(run_result, tmp_path):
    s = run_result.samples
    root = tmp_path / "pc"
    # PolyChord's <root>_dead-birth.txt: parameters, logL, logL_birth.
    np.savetxt(f"{root}_dead-birth.txt", np.column_stack([s[["a", "b"]].to_numpy(), s.logL, s.logL_birth]))
    _write_paramnames(root, ["a", "b"])
    chains = read_chains(str(root))
    assert type(chains).__name__ == "NestedSamples"
    flow = fp.MAF.fit(chains, params=["b", "a"], prior=fp.UniformPrior([-5, -5], [5, 5], params=["b", "a"]),
                      seed=0, **SMALL)
    assert flow.params == ("b", "a")


def test_getdist_format_files(run_result, tmp_path):
    s = run_result.samples
    root = tmp_path / "gd"
    w = s.get_weights()
    # GetDist's <root>.txt: weight, -logL ("-2 logL / 2" convention of getdist), parameters.
    np.savetxt(f"{root}.txt", np.column_stack([w, -s.logL, s[["a", "b"]].to_numpy()]))
    _write_paramnames(root, ["a", "b"])
    chains = read_chains(str(root))
    np.testing.assert_allclose(chains.get_weights() / chains.get_weights().sum(), w / w.sum())
    flow = fp.MAF.fit(chains, params=["a", "b"], prior=PRIOR, seed=0, **SMALL)
    assert flow.ndims == 2


@pytest.mark.slow
def test_polychord_output_feeds_straight_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypolychord", polychord_standin)
    res = fp.run(loglike, PRIOR, sampler="polychord", nlive=60, seed=1)
    flow = fp.MAF.fit(res.samples, prior=PRIOR, seed=0, epochs=60)
    assert flow.params == ("a", "b")
    mean = np.average(res.samples[["a", "b"]].to_numpy(), axis=0, weights=res.samples.get_weights())
    np.testing.assert_allclose(flow.sample(20_000, seed=2).mean(axis=0), mean, atol=0.15)


def test_real_polychord_if_installed(tmp_path):
    pytest.importorskip("pypolychord")
    res = fp.run(loglike, PRIOR, sampler="polychord", nlive=100, seed=3, base_dir=str(tmp_path))
    truth = np.log(2 * np.pi * 0.2) - np.log(100.0)
    assert_within(res.logZ, truth, res.logZerr)


def test_real_polychord_is_silent_and_cleans_up_its_temporary_directory(tmp_path, monkeypatch, capfd):
    pytest.importorskip("pypolychord")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    res = fp.run(loglike, PRIOR, sampler="polychord", nlive=50, seed=4, precision_criterion=0.1)
    out, err = capfd.readouterr()
    assert "PolyChord" not in out + err  # its banner, at PolyChord's feedback=0
    assert os.listdir(tmp_path) == []
    assert list(res.samples.columns.get_level_values(0)[:2]) == ["a", "b"] and np.isfinite(res.logZ)


def test_real_polychord_keeps_its_callbacks_alive_after_a_run_that_raised(tmp_path):
    # pypolychord 1.22 releases its callbacks when one raises but keeps pointing at them; the next run
    # then released them again, a use after free that crashed the process at random.
    pytest.importorskip("pypolychord")
    import gc
    import weakref

    def fails(theta):
        raise RuntimeError("a likelihood that fails")

    with pytest.raises(RuntimeError, match="a likelihood that fails") as info:
        fp.run(fails, PRIOR, sampler="polychord", nlive=20, seed=5, base_dir=str(tmp_path))
    tb, callbacks = info.tb, []
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "run" and "wrap_prior" in tb.tb_frame.f_locals:
            callbacks = [weakref.ref(tb.tb_frame.f_locals[n]) for n in ("wrap_loglikelihood", "wrap_prior")]
        tb = tb.tb_next
    assert len(callbacks) == 2
    del info, tb
    gc.collect()
    assert all(ref() is not None for ref in callbacks)  # still owned by PolyChord's pointers
    for seed in (6, 7):  # and later runs release them without a crash
        res = fp.run(loglike, PRIOR, sampler="polychord", nlive=50, seed=seed, base_dir=str(tmp_path / str(seed)))
        assert np.isfinite(res.logZ)
