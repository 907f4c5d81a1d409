"""Run by tests/test_faults.py in its own process: a pooled fp.run whose workers die or get Ctrl-C.

    python pooled_run.py MODE START_METHOD LOG_DIR [SAMPLER]

MODE "die": the likelihood ends its worker with os._exit after a few calls there; "slow": each
call sleeps (the test sends SIGINT to the process group). Every worker writes its pid to LOG_DIR
so that the test can check none is left running. Prints the exception's type name at the end and
its message on stderr.
"""

import faulthandler
import os
import signal
import sys
import time

import numpy as np

import flowprior as fp

MODE, START, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
SAMPLER = sys.argv[4] if len(sys.argv) > 4 else "dynesty"
CALLS = 0


def loglike(theta):
    global CALLS
    CALLS += 1
    if CALLS == 1:
        with open(os.path.join(LOG, f"worker-{os.getpid()}"), "w"):
            pass
    if os.getpid() != MAIN:
        if MODE == "die" and CALLS > 20:
            os._exit(3)
        if MODE == "slow":
            time.sleep(0.05)
    return -0.5 * float(np.sum(theta**2))


MAIN = int(os.environ.setdefault("FAULT_MAIN_PID", str(os.getpid())))
# As at a terminal: a test run started in the background (``cmd &`` without job control, as CI and nohup do)
# hands its children SIGINT ignored, and Python then keeps ignoring it, so the Ctrl-C the test sends would be lost
# and the run would simply finish (the 86 s "slow" exits seen in CI).
signal.signal(signal.SIGINT, signal.default_int_handler)

if __name__ == "__main__":
    box = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0])
    options = {"n_networks": 1} if SAMPLER == "nautilus" else {}
    try:
        fp.run(loglike, box, sampler=SAMPLER, nlive=50, seed=0, npool=2, start_method=START, **options)
        print("finished", flush=True)
    except BaseException as exc:
        # Should the exit hang (a feeder thread, a worker's pipe), the test shows where.
        faulthandler.dump_traceback_later(20, exit=False)
        sys.stderr.write(f"{exc}\n")
        print(type(exc).__name__, flush=True)
        raise SystemExit(1) from None
