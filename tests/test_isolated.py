"""Training in a fresh interpreter (flowprior.training.isolated): the same flow as in this process, errors
that say what went wrong, and nothing of TensorFlow's left in this process."""

import subprocess
import sys

import numpy as np
import pytest

import flowprior as fp
from flowprior.training.isolated import fit_isolated

BOX = fp.UniformPrior([-5.0, -5.0], [5.0, 5.0], params=["a", "b"])


def samples(n=400, seed=0):
    return np.random.default_rng(seed).multivariate_normal([0.5, -0.5], [[1.0, 0.6], [0.6, 1.0]], size=n)


@pytest.mark.slow
def test_the_flows_are_those_trained_here_bit_for_bit():
    x = samples()
    opts = dict(epochs=5, hidden_layers=(8, 8), number_networks=2)
    child = fit_isolated("maf", x, np.ones(len(x)), prior=BOX, seeds=[3, 4], params=["a", "b"], **opts)
    here = [fp.MAF.fit(x, np.ones(len(x)), prior=BOX, params=["a", "b"], seed=s, **opts) for s in (3, 4)]
    theta = samples(50, seed=1)
    for a, b in zip(child, here):
        np.testing.assert_array_equal(a.log_prob(theta), b.log_prob(theta))
    assert child[0].params == ("a", "b") and not np.array_equal(child[0].log_prob(theta), child[1].log_prob(theta))


def test_a_failing_training_raises_with_the_childs_message():
    x = samples(50)
    with pytest.raises(fp.FlowpriorRuntimeError, match="expected the training process to succeed.*epochs"):
        fit_isolated("maf", x, np.ones(len(x)), prior=BOX, seeds=[0], epochs=0)


@pytest.mark.slow
def test_the_parent_never_imports_tensorflow():
    code = ("import sys, numpy as np, flowprior as fp\n"
            "from flowprior.training.isolated import fit_isolated\n"
            "x = np.random.default_rng(0).normal(size=(300, 2))\n"
            "[flow] = fit_isolated('maf', x, np.ones(300), prior=fp.UniformPrior([-5, -5], [5, 5]), seeds=[0], "
            "epochs=3)\n"
            "flow.log_prob([0.0, 0.0])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
