"""The outside suite: published problems (flowprior.problems.published), run after run, side by side.

For each problem, seed and method it runs one process (so a hang, a crash or memory growth stays in
it) with a time limit, and appends one JSON line per run to ``--out``; a run already in the file is
not run again, so an interrupted suite resumes.  Methods:

* ``two_stage``: :func:`flowprior.two_stage` with its defaults;
* ``two_stage_target``: the same with ``target_logZerr=--target``;
* ``run``: :func:`flowprior.run` with its defaults (dynesty, nlive 500);
* ``nautilus``: nautilus 1.0.6 (a benchmark-only dependency, ``pip install nautilus-sampler``), n_live
  200, ``n_eff = 1 / target**2``, ``discard_exploration=True`` (its unbiased setting), through
  ``fp.run(sampler="nautilus")``.

Each line: logZ, logZerr, z = (logZ - truth) / logZerr, likelihood calls (counted inside the
likelihood), wall time, peak resident memory of the run's process, and every RuntimeWarning's
text.  ``--table`` prints the summary of a file (per problem and method: runs, calls, errors,
largest |z|, calls x logZerr^2, and whether each run was right, warned or wrong).  Nothing is
asserted; ``docs/suite.rst`` has the latest table.

    python benchmarks/bench_suite.py [--problems funnel-10,...] [--methods two_stage,run,nautilus] [--seeds 3]
        [--out suite.jsonl] [--jobs 2] [--timeout 900]
    python benchmarks/bench_suite.py --table suite.jsonl
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: The default suite: ten published problems from 2 to 30 dimensions (flowprior.problems.published).
SUITE = ("eggbox-2,rosenbrock-2,shells-2,asymgauss-4,planck-6,spikeslab-6,funnel-10,loggamma-10,beta-10,"
         "asymgauss-16,loggamma-30")
METHODS = ("two_stage", "two_stage_target", "run", "nautilus")
#: |z| beyond this is wrong, unless a warning gave the size of the possible error.
Z_WRONG = 3.5


def one(problem, method, seed, target):
    """Run one method on one problem in this process: the JSON record."""
    import flowprior as fp
    from flowprior.problems import named
    from flowprior.samplers.counting import CountedLikelihood

    p = named(problem)
    counted = CountedLikelihood(p.loglikelihood)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if method.startswith("two_stage"):
            res = fp.two_stage(counted, p.prior, seed=seed,
                               target_logZerr=target if method == "two_stage_target" else None)
        elif method == "run":
            res = fp.run(counted, p.prior, seed=seed)
        elif method == "nautilus":
            res = fp.run(counted, p.prior, sampler="nautilus", nlive=200, seed=seed,
                         n_eff=int(np.ceil(target**-2)))
        else:
            raise ValueError(f"expected a method in {METHODS}; got {method!r}")
    record = {"problem": problem, "ndims": p.ndims, "method": method, "seed": seed, "truth": p.logZ,
              "logZ": float(res.logZ), "logZerr": float(res.logZerr), "z": float((res.logZ - p.logZ) / res.logZerr),
              "ncall": int(counted.ncall), "time": time.perf_counter() - t0,
              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]}
    if method.startswith("two_stage"):
        d = res.diagnostics
        record.update({k: d.get(k) for k in ("ncall_low", "ncall_search", "ncall_pilot", "ncall_high",
                                              "ncall_importance", "proposal_exp_minus_D_KL")})
    return record


def _launch(problem, method, seed, target, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--one", json.dumps([problem, method, seed, target])]
    t0 = time.perf_counter()
    # Its own process group, so that a timeout ends the run's children (training processes) too.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"problem": problem, "method": method, "seed": seed, "error": f"timeout after {timeout} s",
                "time": time.perf_counter() - t0}
    out = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"problem": problem, "method": method, "seed": seed, "time": time.perf_counter() - t0,
                "error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def _done(path):
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {(r["problem"], r["method"], r["seed"]) for r in map(json.loads, filter(str.strip, f))}


def verdict(r):
    """``"right"``, ``"warned"`` (off, with a warning), ``"wrong"`` (off and silent), or the error."""
    if "error" in r:
        return r["error"].split(":")[0][:30]
    if abs(r["z"]) <= Z_WRONG:
        return "right"
    return "warned" if r["warnings"] else "wrong"


def table(path):
    with open(path) as f:
        rows = [json.loads(ln) for ln in f if ln.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r["problem"], r["method"]), []).append(r)
    print(f"{'problem':14s}{'method':18s}{'runs':>5s}{'calls (median)':>16s}{'logZerr':>9s}{'max |z|':>9s}"
          f"{'calls*err^2':>12s}{'time s':>8s}{'MB':>7s}  verdicts")
    for (problem, method), rs in sorted(groups.items()):
        ok = [r for r in rs if "error" not in r]
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(_count(map(verdict, rs)).items()))
        if ok:
            calls = np.median([r["ncall"] for r in ok])
            err = np.median([r["logZerr"] for r in ok])
            zmax = max(abs(r["z"]) for r in ok)
            cost = np.median([r["ncall"] * r["logZerr"] ** 2 for r in ok])
            tmax = max(r["time"] for r in ok)
            mem = max(r["maxrss_mb"] for r in ok)
            print(f"{problem:14s}{method:18s}{len(rs):5d}{calls:16,.0f}{err:9.3f}{zmax:9.2f}{cost:12.1f}{tmax:8.0f}"
                  f"{mem:7.0f}  {verdicts}")
        else:
            print(f"{problem:14s}{method:18s}{len(rs):5d}{'':65s}  {verdicts}")


def _count(items):
    out = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", default=SUITE)
    parser.add_argument("--methods", default="two_stage,run,nautilus")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.03, help="logZerr of nautilus and two_stage_target")
    parser.add_argument("--out", default="suite.jsonl")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--table", help="print the summary of a results file and stop")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*json.loads(args.one))), flush=True)
        return
    if args.table:
        table(args.table)
        return
    done = _done(args.out)
    todo = [(p, m, s) for p in args.problems.split(",") for s in range(args.first_seed, args.first_seed + args.seeds)
            for m in args.methods.split(",") if (p, m, s) not in done]

    def go(job):
        r = _launch(*job[:2], job[2], args.target, args.timeout)
        with open(args.out, "a") as f:
            f.write(json.dumps(r) + "\n")
        z = f"z {r['z']:+6.2f} calls {r['ncall']:>9,d}" if "error" not in r else r["error"]
        print(f"{job[0]:14s}{job[1]:18s}{job[2]:3d}  {z}  {r['time']:6.0f} s  {verdict(r)}", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(go, todo))


if __name__ == "__main__":
    main()
