"""Saving and loading priors and flows: the one place that touches files.

File format (version 1)
-----------------------
A zip archive (suggested extension ``.fpz``) holding two members:

``flowprior.json``
    ``{"format": "flowprior", "format_version": 1, "flowprior_version": ...,
    "object": CONFIG}`` where ``CONFIG`` names the object's ``kind``
    (``"MAF"``, ``"UniformPrior"``, ...) and its settings (parameter names,
    activation, architecture, the base prior's config, the training history).
``arrays.npz``
    Every numeric array (weights, masks, permutations, prior bounds) in
    NumPy's ``.npz`` format, read with ``allow_pickle=False``.

No training data is stored.  Loading builds only registered flowprior
classes from plain numbers and strings, so it never executes code from the
file.  Files are written to a temporary name in the target directory and
renamed into place, so a crash never leaves a half-written file under the
final name.
"""

import io as _io
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from . import _registry
from ._version import __version__
from .errors import FlowFileError, FlowFormatVersionError

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MAGIC = "flowprior"
_JSON = "flowprior.json"
_NPZ = "arrays.npz"
_ALLOWED_DTYPES = ("f", "i", "u", "b")


def save(obj, path):
    """Write a flowprior prior or flow to ``path`` atomically.

    Parameters
    ----------
    obj : Prior
        Any registered flowprior prior (``MAF``, ``UniformPrior``, ...).
    path : str or os.PathLike
    """
    config, arrays = _registry.dump(obj)
    header = {"format": _MAGIC, "format_version": FORMAT_VERSION,
              "flowprior_version": __version__, "object": config}
    buffer = _io.BytesIO()
    np.savez(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".flowprior-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(_JSON, json.dumps(header, indent=1, allow_nan=False))
                zf.writestr(_NPZ, buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path):
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if _JSON not in names or _NPZ not in names:
                raise FlowFileError(
                    f"expected a flowprior file with members {_JSON} and {_NPZ}; "
                    f"got {sorted(names)} in {path}"
                )
            header_bytes = zf.read(_JSON)
            npz_bytes = zf.read(_NPZ)
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise FlowFileError(f"expected a flowprior file (a zip archive); got an unreadable file {path}: {exc}") from None
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FlowFileError(f"expected a complete flowprior file; got a truncated one {path}: {exc}") from None
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowFileError(f"expected JSON in {_JSON}; got a corrupted header in {path}: {exc}") from None
    return header, npz_bytes


def load(path, *, backend="auto"):
    """Load what :func:`save` wrote.

    Works in a process that never imports TensorFlow.

    Parameters
    ----------
    path : str or os.PathLike
    backend : {"auto", "numba", "numpy"}
        Evaluation kernel for flows.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    FlowFileError
        If the file is truncated, corrupted or not a flowprior file.
    FlowFormatVersionError
        If the file comes from a newer format version.
    """
    path = os.fspath(path)
    header, npz_bytes = _read(path)
    if not isinstance(header, dict) or header.get("format") != _MAGIC:
        raise FlowFileError(f"expected a flowprior file; got a zip archive of another kind: {path}")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise FlowFileError(f"expected an integer format_version >= 1; got {version!r} in {path}")
    if version > FORMAT_VERSION:
        raise FlowFormatVersionError(
            f"expected format version <= {FORMAT_VERSION}; got {version} in {path} "
            f"(written by flowprior {header.get('flowprior_version')}; upgrade flowprior to read it)"
        )
    try:
        with np.load(_io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zip, header or object-array errors all mean the same to a user
        raise FlowFileError(f"expected numeric arrays in {_NPZ}; got unreadable data in {path}: {exc}") from None
    for name, arr in arrays.items():
        if arr.dtype.kind not in _ALLOWED_DTYPES:
            raise FlowFileError(f"expected numeric arrays; got {name} of dtype {arr.dtype} in {path}")
    try:
        obj = _registry.build(header["object"], arrays)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise FlowFileError(f"expected a consistent flowprior file; got {type(exc).__name__}: {exc} in {path}") from None
    if backend != "auto" and hasattr(obj, "with_backend"):
        obj = obj.with_backend(backend)
    return obj
