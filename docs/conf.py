"""Sphinx configuration: build with ``sphinx-build -W -b html docs docs/_build/html``."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from flowprior import __version__  # noqa: E402

project = "flowprior"
author = "flowprior developers"
release = version = __version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]


def _online(host, timeout=3.0):
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


# Links into the Python, NumPy, SciPy and anesthetic docs where their inventories can be fetched;
# offline (CI has only the package registries) those names are left as plain text instead.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "anesthetic": ("https://anesthetic.readthedocs.io/en/latest", None),
} if _online("docs.python.org") else {}
nitpicky = True
nitpick_ignore_regex = [] if intersphinx_mapping else [(r"py:.*", r"(numpy|scipy|anesthetic|python)\..*")]
numpydoc_show_class_members = False
# Numpydoc validation of the public names, flowprior.X: every parameter documented, no unknown one,
# a docstring and a summary (the modules' own helpers, documented by module below them, are not held to it).
numpydoc_validation_checks = {"PR01", "PR02", "GL08", "SS01"}
numpydoc_validation_exclude = {r"\._", r"\.__", r"^flowprior\.[a-z_]+\.[A-Za-z_]"}
autodoc_default_options = {"members": True, "undoc-members": False}
exclude_patterns = ["_build"]
html_theme = "alabaster"
