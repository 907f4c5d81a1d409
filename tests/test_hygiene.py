"""The codebase's own rules, checked on its source: sizes, the TensorFlow boundary, clean bytes, lint."""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flowprior"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: Where TensorFlow may be imported: the training code's one TensorFlow module.
TF_MODULES = {"_tfp.py"}
TF_NAMES = ("tensorflow", "tensorflow_probability", "tf_keras")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def code_lines(node, source_lines):
    """Lines of a function that hold code: not blank, not comments, not its docstring."""
    skip = set()
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for n in range(node.lineno, node.end_lineno + 1):
        text = source_lines[n - 1].strip()
        if n not in skip and text and not text.startswith("#"):
            count += 1
    return count


def test_every_module_is_at_most_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_every_function_is_at_most_80_lines_of_code():
    long = {}
    for path in MODULES:
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = code_lines(node, lines)
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code: {long}"


def test_only_the_training_module_imports_tensorflow():
    found = []
    for path in MODULES:
        if path.name in TF_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in TF_NAMES]
    assert not found, f"TensorFlow imported outside {sorted(TF_MODULES)}: {found}"


@pytest.mark.slow
def test_evaluating_sampling_and_loading_a_flow_never_imports_tensorflow(flow2, tmp_path):
    flow2.save(tmp_path / "flow.fpz")
    code = (
        "import sys, numpy as np, flowprior as fp\n"
        "flow = fp.load(sys.argv[1])\n"
        "flow.prior_transform([0.5, 0.5]); flow.log_prob([0.5, 0.5]); flow.sample(10, seed=0)\n"
        "fp.run(lambda t: -float(np.sum(t**2)), flow, nlive=20, seed=0, dlogz=5.0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'tensorflow_probability')]\n"
        "print('clean' if not bad else bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "flow.fpz")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "clean"


def test_sources_hold_no_control_characters():
    # made.py once held BEL bytes where "\a" of "\alpha" was meant, and the built docs showed them.
    bad = [str(p.relative_to(ROOT)) for p in MODULES + sorted((ROOT / "docs").glob("*.rst"))
           if any(ord(c) < 32 and c not in "\n\t" for c in p.read_text())]
    assert not bad, f"control characters in {bad}"


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    # The project's own configuration, explicitly: ruff's defaults and any user-level file vary by machine.
    out = subprocess.run([ruff, "check", "--config", str(ROOT / "pyproject.toml"),
                          "flowprior", "tests", "benchmarks", "examples"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_the_docs_build_without_a_warning_or_an_unresolved_reference(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
                          str(ROOT / "docs"), str(tmp_path / "html")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
