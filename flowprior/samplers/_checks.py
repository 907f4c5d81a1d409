"""Sampler options checked before any likelihood call: a bad value fails at once, not hours in.

Each rule is ``name -> (test, what a valid value is)``; a value of None means the sampler's own
default and is not checked.
"""

import math
import numbers

from ..errors import FlowpriorValueError

__all__ = ["check_values", "positive", "positive_or_inf", "positive_int", "count_or_auto", "fraction", "non_negative",
           "non_negative_int", "at_least_one"]


def _real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


positive = (lambda x: _real(x) and x > 0, "> 0")
positive_or_inf = (lambda x: isinstance(x, numbers.Real) and not isinstance(x, bool) and x > 0, "> 0 (or inf)")
non_negative = (lambda x: _real(x) and x >= 0, ">= 0")
at_least_one = (lambda x: _real(x) and x >= 1, ">= 1")
fraction = (lambda x: _real(x) and 0 < x < 1, "in (0, 1)")
positive_int = (lambda x: _int(x) and x >= 1, "an integer >= 1")
non_negative_int = (lambda x: _int(x) and x >= 0, "an integer >= 0")
count_or_auto = (lambda x: _int(x) and (x >= 1 or x == -1), "an integer >= 1, or -1 for the sampler's default")


def check_values(sampler, options, rules):
    """Raise ``ValueError`` for the first option whose value breaks its rule."""
    for name, (test, want) in rules.items():
        value = options.get(name)
        if value is not None and not test(value):
            raise FlowpriorValueError(f"expected {name} {want} for {sampler}; got {value!r}")
