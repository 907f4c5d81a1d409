"""Every exception flowprior raises on purpose is a FlowpriorError and the builtin type a caller expects."""

import ast
import builtins
import pathlib

import pytest

import flowprior as fp
from flowprior import errors

ROOT = pathlib.Path(__file__).resolve().parents[1] / "flowprior"
#: Builtin exceptions that may be raised as they are: the file system's, and one the registry raises
#: for its callers to turn into FlowFileError.
ALLOWED = {"FileNotFoundError", "FileExistsError", "IsADirectoryError", "KeyError"}


def raised_names():
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name):
                    yield path.relative_to(ROOT), node.lineno, target.id


def test_no_builtin_exception_is_raised_where_a_flowprior_one_belongs():
    builtin = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
               and issubclass(getattr(builtins, n), BaseException)}
    bad = [f"{p}:{line} raises {name}" for p, line, name in raised_names() if name in builtin and name not in ALLOWED]
    assert not bad, bad


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n.endswith("Error")])
def test_every_exception_class_is_a_flowprior_error_and_a_builtin_one(name):
    cls = getattr(errors, name)
    assert issubclass(cls, fp.FlowpriorError)
    assert cls is fp.FlowpriorError or any(b.__module__ == "builtins" and b is not Exception for b in cls.__mro__[1:])


def test_a_bad_argument_is_caught_both_ways():
    for catch in (ValueError, fp.FlowpriorError):
        with pytest.raises(catch, match="expected lower < upper"):
            fp.UniformPrior([1.0], [0.0])
    for catch in (TypeError, fp.FlowpriorError):
        with pytest.raises(catch, match="expected prior to be a flowprior Prior"):
            fp.run(lambda t: 0.0, "box")
