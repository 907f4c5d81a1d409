"""Child process that trains one cluster's flow (see :mod:`flowprior.flows.piecewise`).

Run as ``python -m flowprior.training.worker``: it reads one job from stdin and
writes the result to stdout, both as NumPy ``.npz`` bytes read with
``allow_pickle=False`` (settings and history travel as JSON strings inside).
A fresh interpreter started this way never re-imports the user's main
script, so scripts and notebooks need no ``if __name__ == "__main__"`` guard.
"""

import io
import json
import os
import sys

import numpy as np


def _to_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _from_bytes(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def encode_job(x, weights, options, seed):
    """``options`` a :class:`flowprior.training.options.TrainingOptions`; a child shows no progress bar."""
    plain = options.replace(progress=False).as_dict()
    return _to_bytes({"x": x, "weights": weights, "options": np.array(json.dumps(plain)),
                      "seed": np.array(seed)})


def decode_job(data):
    from flowprior.training.options import training_options

    a = _from_bytes(data)
    return a["x"], a["weights"], training_options(json.loads(str(a["options"]))), int(a["seed"])


def encode_result(weights, history):
    arrays = {"perms": weights["perms"], "history": np.array(json.dumps(history))}
    for name in ("kernels", "biases", "masks"):
        for k, layers in enumerate(weights[name]):
            for i, arr in enumerate(layers):
                arrays[f"{name}/{k}/{i}"] = arr
    return _to_bytes(arrays)


def decode_result(data):
    a = _from_bytes(data)
    nets = 1 + max(int(key.split("/")[1]) for key in a if key.startswith("kernels/"))
    layers = 1 + max(int(key.split("/")[2]) for key in a if key.startswith("kernels/"))
    weights = {name: [[a[f"{name}/{k}/{i}"] for i in range(layers)] for k in range(nets)]
               for name in ("kernels", "biases", "masks")}
    weights["perms"] = a["perms"]
    return weights, json.loads(str(a["history"]))


def main():
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Anything the training stack prints must not corrupt the result stream.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    x, weights, options, seed = decode_job(sys.stdin.buffer.read())
    from flowprior.training.maf import train_maf

    out.write(encode_result(*train_maf(x, weights, options=options, seed=seed)))
    out.close()


if __name__ == "__main__":
    main()
