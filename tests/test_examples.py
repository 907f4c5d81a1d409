"""Each example script runs, with small settings, as part of the suite."""

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers import Z_TOL, assert_within

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_train_flow_prior_example(tmp_path, capsys):
    module = runpy.run_path(str(EXAMPLES / "train_flow_prior.py"))
    flow = module["main"](["--epochs", "5", "--out", str(tmp_path / "f.fpz")])
    out = capsys.readouterr().out
    assert "identical outputs: True" in out
    assert flow.params == ("x", "y", "z")
    assert (tmp_path / "f.fpz").exists()


@pytest.mark.slow
def test_check_command_reports_passing_checks(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "flowprior", "check", "--epochs", "40", "-q", "-o", str(tmp_path / "d.fpz")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "reloaded flow identical: True" in proc.stdout
    assert "finite inside  True" in proc.stdout


def test_cli_error_is_one_line_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "flowprior", "check", "--epochs", "0", "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "flowprior: error: expected epochs an integer >= 1; got 0"


@pytest.mark.slow
def test_demo_runs_two_stage_and_writes_the_plot(tmp_path):
    plot = tmp_path / "demo.png"
    proc = subprocess.run(
        [sys.executable, "-m", "flowprior", "demo", "--nlive-low", "20", "--nlive-high", "40",
         "--plot", str(plot)], capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    for line in ("true logZ", "single run   logZ", "two-stage    logZ", "of the calls",
                 f"posterior comparison written to {plot}"):
        assert line in proc.stdout
    assert plot.stat().st_size > 10_000


def test_demo_rejects_nlive_order():
    proc = subprocess.run([sys.executable, "-m", "flowprior", "demo", "--nlive-low", "100", "--nlive-high", "50"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "flowprior: error: expected --nlive-low < --nlive-high; got 100 and 50"


def test_demo_samples_are_embedded_and_fixed():
    from flowprior.demo import embedded_samples

    a, wa, _ = embedded_samples()
    b, wb, _ = embedded_samples()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(wa, wb)


@pytest.mark.slow
def test_dynesty_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "dynesty_flow_prior.py"))
    res, truth = module["main"](["--nlive", "100", "--epochs", "20"])
    assert abs(res.logZ - truth) < Z_TOL * res.logZerr + 0.01
    assert "dynesty directly" in capsys.readouterr().out


@pytest.mark.slow
def test_polychord_example_with_standin(flow2, tmp_path, monkeypatch, capsys):
    from . import polychord_standin

    monkeypatch.setitem(sys.modules, "pypolychord", polychord_standin)
    flow2.save(tmp_path / "f.fpz")
    module = runpy.run_path(str(EXAMPLES / "polychord_flow_prior.py"))
    res = module["main"]([str(tmp_path / "f.fpz"), "--nlive", "50", "--base-dir", str(tmp_path / "pc")])
    assert res.sampler == "polychord"
    assert "PolyChord directly" in capsys.readouterr().out


@pytest.mark.slow
def test_old_chains_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "train_on_old_chains.py"))
    flow, chains = module["main"](["--epochs", "30"])
    assert flow.params == ("a", "b")
    mean = np.average(chains[["a", "b"]].to_numpy(), axis=0, weights=chains.get_weights())
    np.testing.assert_allclose(flow.sample(20_000, seed=1).mean(axis=0), mean, atol=0.1)


@pytest.mark.slow
def test_joint_analysis_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "joint_analysis.py"))
    ev, pair = module["main"](["--nlive", "150", "--n-flows", "2", "--epochs", "60"])
    assert_within(ev.logZ, pair.logZ["AB"], ev.logZerr)
    assert "joint over ['theta0', 'theta1'] only" in capsys.readouterr().out
