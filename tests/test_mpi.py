"""PolyChord under ``mpirun -np 2``: every rank the same result, calls summed, nothing left behind.

fp.run and fp.two_stage; a failure on one rank ends the job.

Needs mpirun, mpi4py and an MPI build of pypolychord; skipped otherwise.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from .helpers import assert_within

HERE = Path(__file__).parent


def _mpi_polychord():
    if shutil.which("mpirun") is None:
        return "no mpirun"
    try:
        import mpi4py  # noqa: F401
        metadata.distribution("pypolychord")  # the MPI build; the serial one is pypolychord_nompi
    except (ImportError, metadata.PackageNotFoundError):
        return "needs mpi4py and an MPI build of pypolychord"
    return None


pytestmark = pytest.mark.skipif(_mpi_polychord() is not None, reason=str(_mpi_polychord()))


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _mpirun(script, *args, cwd, np_=2, timeout=600, ok=True):
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(cwd.parent / "tmp")}
    os.makedirs(env["TMPDIR"], exist_ok=True)
    out = subprocess.run(cmd + [sys.executable, str(script), *map(str, args)], cwd=cwd, env=env, timeout=timeout,
                         capture_output=True, text=True)
    if not ok:
        return out
    assert out.returncode == 0, out.stderr[-3000:]
    # numba's colorama writes an ANSI reset to stdout at exit, on whichever rank: strip escape codes.
    lines = [ANSI.sub("", line) for line in out.stdout.splitlines()]
    return [json.loads(line) for line in lines if line.startswith("{")], Path(env["TMPDIR"])


@pytest.mark.slow
def test_polychord_under_mpi_gives_every_rank_the_same_result_with_calls_summed(flow2, tmp_path):
    from .helpers import wide_loglike

    path = tmp_path / "flow.fpz"
    flow2.save(path)
    work = tmp_path / "work"
    work.mkdir()
    rows, tmp = _mpirun(HERE / "mpi" / "run_polychord.py", path, cwd=work)
    assert sorted(r["rank"] for r in rows) == [0, 1]
    a, b = rows
    assert a["logZ"] == b["logZ"] and a["logZerr"] == b["logZerr"] and a["rows"] == b["rows"]
    assert a["ncall"] == b["ncall"] == a["own_calls"] + b["own_calls"]
    assert min(a["own_calls"], b["own_calls"]) > 0  # both ranks sampled
    like = np.exp([wide_loglike(t) for t in flow2.sample(100_000, seed=3)])
    truth, mc_err = np.log(like.mean()), like.std() / like.mean() / np.sqrt(like.size)
    assert_within(a["logZ"], truth, np.hypot(a["logZerr"], mc_err))
    assert os.listdir(work) == [] and os.listdir(tmp) == []  # nothing in the working directory, no temporary left


def test_a_failure_on_one_rank_ends_the_whole_job_with_its_error(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # Without the abort, rank 0 waits in PolyChord for rank 1 until the timeout.
    out = _mpirun(HERE / "mpi" / "failing_rank.py", cwd=work, timeout=120, ok=False)
    assert out.returncode != 0
    assert "PolyChord failed on MPI rank 1; aborting every rank" in out.stderr
    assert "ValueError: a likelihood that fails on one rank" in out.stderr


@pytest.mark.slow
def test_two_stage_with_polychord_under_mpi_agrees_on_every_rank(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    rows, tmp = _mpirun(HERE / "mpi" / "two_stage_polychord.py", cwd=work)
    assert sorted(r["rank"] for r in rows) == [0, 1]
    a, b = rows
    assert a["logZ"] == b["logZ"] and a["logZerr"] == b["logZerr"] and a["flows"] == b["flows"]
    assert a["ncall"] == b["ncall"] == a["own_calls"] + b["own_calls"]
    assert_within(a["logZ"], a["truth"], a["logZerr"])
    assert os.listdir(work) == [] and os.listdir(tmp) == []
