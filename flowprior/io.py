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
final name; an error or Ctrl-C removes the temporary file.  A process killed
outright (SIGKILL) cannot, so the temporary's name
(``.flowprior-PID@HOST-TOKEN.tmp``) says who wrote it, and the next save into
that directory removes the temporaries of processes of this host that no
longer exist.  New files get the permissions the umask gives.

Reading is bounded: the header may inflate to at most :data:`~flowprior.io.MAX_HEADER_BYTES`
and the arrays to at most :data:`~flowprior.io.MAX_ARRAY_BYTES` in all, checked against the
sizes the archive and each ``.npy`` header declare and against the bytes
actually inflated, so a small hostile file cannot ask for gigabytes.  Float
arrays must hold no NaN, and a loaded prior must map the centre of the cube
and a few fixed points to finite parameters.
"""

import io as _io
import json
import logging
import os
import re
import secrets
import socket
import zipfile
import zlib

import numpy as np

from . import _registry
from ._version import __version__
from .errors import FlowFileError, FlowFormatVersionError, FlowpriorValueError

__all__ = ["save", "load", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_ARRAY_BYTES"]

FORMAT_VERSION = 1
#: Largest inflated ``flowprior.json`` read (a large piecewise flow's header is well under 1 MiB).
MAX_HEADER_BYTES = 16 * 2**20
#: Largest inflated total of ``arrays.npz`` read (a 50k-point 30-D KDE holds 12 MiB).
MAX_ARRAY_BYTES = 1 * 2**30
_MAGIC = "flowprior"
_JSON = "flowprior.json"
_NPZ = "arrays.npz"
_ALLOWED_DTYPES = ("f", "i", "u", "b")
_TEMPORARY = re.compile(r"^\.flowprior-(?P<pid>[0-9]+)@(?P<host>.*)-[0-9a-f]{16}\.tmp$")

logger = logging.getLogger(__name__)


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
    _remove_orphaned_temporaries(directory)
    fd, tmp = _create_temporary(directory)
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


def _host():
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "localhost"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid this system can ask about: keep its file
    return True


def _remove_orphaned_temporaries(directory):
    """Remove the temporaries that processes of this host killed during a save left in ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return  # the save itself reports an unusable directory
    host = _host()
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            logger.info("removed %s, left by process %s, which no longer exists", name, match["pid"])
        except OSError:
            pass  # removed by another process meanwhile, or not ours to remove


def _create_temporary(directory):
    """A new file beside the target, created with mode 0666 so that the umask decides its permissions
    as for any other file the user writes (``mkstemp`` makes it 0600 whatever the umask)."""
    for _ in range(100):
        path = os.path.join(directory, f".flowprior-{os.getpid()}@{_host()}-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"expected to create a temporary file in {directory}; every name tried exists")


def _read_member(zf, name, limit, path):
    """A member's bytes, refusing before reading if it declares more than ``limit`` and while
    inflating if it turns out to be larger."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise FlowFileError(f"expected {name} of at most {limit} bytes; got one declaring {info.file_size} "
                            f"bytes in {path}")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FlowFileError(f"expected {name} of at most {limit} bytes; got more in {path}")
    return data


def _read(path):
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if _JSON not in names or _NPZ not in names:
                raise FlowFileError(
                    f"expected a flowprior file with members {_JSON} and {_NPZ}; "
                    f"got {sorted(names)} in {path}"
                )
            header_bytes = _read_member(zf, _JSON, MAX_HEADER_BYTES, path)
            npz_bytes = _read_member(zf, _NPZ, MAX_ARRAY_BYTES, path)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method.
        raise FlowFileError(f"expected a flowprior file (a zip archive); got an unreadable file {path}: "
                            f"{exc}") from None
    except (EOFError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise FlowFileError(f"expected a complete flowprior file; got a truncated one {path}: {exc}") from None
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FlowFileError(f"expected JSON in {_JSON}; got a corrupted header in {path}: {exc}") from None
    return header, npz_bytes


def _read_arrays(npz_bytes, path):
    """Every array in ``arrays.npz``, each checked against the byte budget before its data is read."""
    arrays, budget = {}, MAX_ARRAY_BYTES
    try:
        with zipfile.ZipFile(_io.BytesIO(npz_bytes)) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version not in ((1, 0), (2, 0), (3, 0)):
                        raise FlowpriorValueError(f"unknown .npy version {version}")
                    reader = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
                    shape, _, dtype = reader(fh)
                    if dtype.hasobject or dtype.kind not in _ALLOWED_DTYPES:
                        raise FlowFileError(f"expected numeric arrays; got {name} of dtype {dtype} in {path}")
                    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if nbytes > budget:
                        raise FlowFileError(f"expected arrays of at most {MAX_ARRAY_BYTES} bytes in all; got {name} "
                                            f"declaring shape {shape} in {path}")
                    budget -= nbytes
                with zf.open(info) as fh:
                    arrays[name] = np.load(fh, allow_pickle=False)
    except FlowFileError:
        raise
    except Exception as exc:  # zip, header or object-array errors all mean the same to a user
        raise FlowFileError(f"expected numeric arrays in {_NPZ}; got unreadable data in {path}: {exc}") from None
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise FlowFileError(f"expected numbers in every array; got NaN in {name} in {path}")
    return arrays


def _check_usable(obj, path):
    """A loaded prior must map fixed interior points of the cube to finite parameters."""
    u = np.vstack([np.full(obj.ndims, 0.5), np.random.default_rng(0).uniform(0.01, 0.99, size=(7, obj.ndims))])
    with np.errstate(all="ignore"):
        theta = obj.prior_transform(u)
    if not np.all(np.isfinite(theta)):
        raise FlowFileError(f"expected a prior that maps the cube to finite parameters; got non-finite values from "
                            f"the one in {path} (its arrays are not usable)")


def load(path, *, backend="auto"):
    """Load what :func:`flowprior.save` wrote.

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
    arrays = _read_arrays(npz_bytes, path)
    try:
        obj = _registry.build(header["object"], arrays)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise FlowFileError(f"expected a consistent flowprior file; got {type(exc).__name__}: {exc} in "
                            f"{path}") from None
    _check_usable(obj, path)
    if backend != "auto" and hasattr(obj, "with_backend"):
        obj = obj.with_backend(backend)
    return obj
