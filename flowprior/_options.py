"""Checks of a MAF's training options, made before any data is touched or TensorFlow imported.

A bad option used to surface only after training (``activation='linear'``, ``backend='bogus'``,
``hidden_layers=()``), as an ``IndexError`` (``number_networks=0``), or not at all (a negative
learning rate returned an untrained flow).
"""

import math
import numbers

from .made import ACTIVATIONS

__all__ = ["check_training_options", "PERMUTATIONS", "BACKENDS"]

PERMUTATIONS = ("random", "reverse")
BACKENDS = ("auto", "numba", "numpy")


def _int(x, low):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= low


def check_training_options(*, hidden_layers, number_networks, activation, epochs, learning_rate, batch_size,
                           validation_fraction, patience, backend, permutations="random"):
    """Raise ``ValueError``/``TypeError`` ("expected ...; got ...") for the first unusable option."""
    if isinstance(hidden_layers, (str, bytes)) or not hasattr(hidden_layers, "__len__"):
        raise TypeError(f"expected hidden_layers as a sequence of layer widths, such as (50, 50); got "
                        f"{hidden_layers!r}")
    if len(hidden_layers) == 0 or not all(_int(h, 1) for h in hidden_layers):
        raise ValueError(f"expected hidden_layers as one or more positive integer widths; got {hidden_layers!r}")
    if not _int(number_networks, 1):
        raise ValueError(f"expected number_networks an integer >= 1; got {number_networks!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"expected activation in {ACTIVATIONS}; got {activation!r}")
    if permutations not in PERMUTATIONS:
        raise ValueError(f"expected permutations in {PERMUTATIONS}; got {permutations!r}")
    if not _int(epochs, 1):
        raise ValueError(f"expected epochs an integer >= 1; got {epochs!r}")
    if not (isinstance(learning_rate, numbers.Real) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"expected learning_rate > 0; got {learning_rate!r}")
    if batch_size is not None and not _int(batch_size, 1):
        raise ValueError(f"expected batch_size an integer >= 1 or None; got {batch_size!r}")
    if not (isinstance(validation_fraction, numbers.Real) and 0.0 <= validation_fraction < 1.0):
        raise ValueError(f"expected 0 <= validation_fraction < 1; got {validation_fraction!r}")
    if not _int(patience, 1):
        raise ValueError(f"expected patience an integer >= 1; got {patience!r}")
    if backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}; got {backend!r}")
