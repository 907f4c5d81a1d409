"""Pooled runs under faults: a dying worker raises, Ctrl-C ends the run; nothing hangs, no worker is left.

Each case runs in its own process with a time limit, so that a regression fails the test rather
than hanging the suite.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "faults" / "pooled_run.py"
LIMIT = 120  # seconds; each case takes a few when it works


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _workers(log):
    return [int(p.name.split("-")[1]) for p in log.glob("worker-*")]


def _start(mode, start_method, log, sampler="dynesty"):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("FAULT_MAIN_PID", None)
    return subprocess.Popen([sys.executable, str(SCRIPT), mode, start_method, str(log), sampler], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc):
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the run did not end within {LIMIT} s")
    return out, err


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_worker_that_dies_makes_the_run_raise_rather_than_hang(start_method, tmp_path):
    proc = _start("die", start_method, tmp_path)
    out, err = _finish(proc)
    assert proc.returncode == 1, err[-2000:]
    assert out.strip().splitlines()[-1] == "WorkerDiedError"
    assert "expected every pool worker to finish its task; got a worker that died" in err
    time.sleep(1)
    assert [pid for pid in _workers(tmp_path) if _alive(pid)] == []


def test_a_dying_worker_under_nautilus_raises_too(tmp_path):
    pytest.importorskip("nautilus")
    proc = _start("die", "fork", tmp_path, sampler="nautilus")
    out, err = _finish(proc)
    assert out.strip().splitlines()[-1] == "WorkerDiedError", err[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_ctrl_c_ends_a_pooled_run_promptly_and_stops_its_workers(start_method, tmp_path):
    proc = _start("slow", start_method, tmp_path)
    deadline = time.monotonic() + LIMIT
    while len(_workers(tmp_path)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # until both workers are evaluating the likelihood
    assert len(_workers(tmp_path)) >= 2, proc.communicate()[1][-2000:]
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    sent = time.monotonic()
    out, err = _finish(proc)
    assert time.monotonic() - sent < 30, err[-4000:]  # with the stacks the script dumps after 20 s
    assert proc.returncode != 0 and "KeyboardInterrupt" in out + err
    time.sleep(1)
    assert [pid for pid in _workers(tmp_path) if _alive(pid)] == []


def test_a_ctrl_c_during_the_pools_clean_up_waits_for_it_and_is_raised_after():
    from flowprior.samplers.pools import _interrupts_held

    steps = []
    # Python's own handler, as at a terminal (a test run in the background has SIGINT ignored).
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the handler runs at the next bytecode boundary; it must only record
                steps.append("clean-up finished")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, original)
    assert steps == ["clean-up finished"]
