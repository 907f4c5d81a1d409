"""The saved-file format: equal outputs after a round trip, clear errors otherwise."""

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import flowprior as fp
import flowprior.io
from flowprior.errors import FlowFileError, FlowFormatVersionError


@pytest.fixture()
def saved(flow2, tmp_path):
    path = tmp_path / "flow.fpz"
    flow2.save(path)
    return path


def _rewrite(path, header=None, npz=None, drop=None):
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    if header is not None:
        members["flowprior.json"] = json.dumps(header).encode()
    if npz is not None:
        members["arrays.npz"] = npz
    if drop:
        members.pop(drop)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _header(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("flowprior.json"))


def test_round_trip_gives_equal_outputs(flow2, saved):
    loaded = fp.load(saved)
    u = np.random.default_rng(0).random((50, 2))
    np.testing.assert_array_equal(loaded.prior_transform(u), flow2.prior_transform(u))
    theta = flow2.prior_transform(u)
    np.testing.assert_array_equal(loaded.log_prob(theta), flow2.log_prob(theta))
    np.testing.assert_array_equal(loaded.inverse_prior_transform(theta), flow2.inverse_prior_transform(theta))
    assert loaded.params == flow2.params
    assert loaded.history["val_loss"] == flow2.history["val_loss"]


@pytest.mark.parametrize("name", ["flow3", "loguniform_flow"])
def test_round_trip_other_base_priors(name, request, tmp_path):
    flow = request.getfixturevalue(name)
    flow.save(tmp_path / "f.fpz")
    loaded = fp.load(tmp_path / "f.fpz")
    assert type(loaded.prior) is type(flow.prior)
    u = np.random.default_rng(1).random((10, flow.ndims))
    np.testing.assert_array_equal(loaded.prior_transform(u), flow.prior_transform(u))


@pytest.mark.parametrize("prior", [fp.UniformPrior([0, 1], [2, 3], params=["x", "y"]),
                                   fp.GaussianPrior([0.0], [2.0])])
def test_simple_priors_round_trip(prior, tmp_path):
    fp.save(prior, tmp_path / "p.fpz")
    loaded = fp.load(tmp_path / "p.fpz")
    u = np.random.default_rng(2).random((5, prior.ndims))
    np.testing.assert_array_equal(loaded.prior_transform(u), prior.prior_transform(u))
    assert loaded.params == prior.params


def test_load_with_numpy_backend(saved, flow2):
    loaded = fp.load(saved, backend="numpy")
    assert loaded.backend == "numpy"
    u = np.random.default_rng(3).random((5, 2))
    np.testing.assert_allclose(loaded.prior_transform(u), flow2.prior_transform(u), rtol=1e-12)


def test_header_is_documented_and_holds_no_training_data(saved, gauss2_samples):
    header = _header(saved)
    assert header["format"] == "flowprior" and header["format_version"] == 1
    assert header["object"]["kind"] == "MAF"
    assert header["object"]["prior"]["kind"] == "UniformPrior"
    with zipfile.ZipFile(saved) as zf:
        npz = np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False)
        sizes = {name: npz[name].size for name in npz.files}
    assert sum(sizes.values()) < gauss2_samples.size  # weights only, not the 8000 numbers trained on
    assert not any("sample" in name or "theta" in name for name in sizes)


def test_write_is_atomic_and_leaves_no_temporary_file(flow2, tmp_path):
    path = tmp_path / "flow.fpz"
    path.write_bytes(b"old")
    flow2.save(path)
    assert sorted(os.listdir(tmp_path)) == ["flow.fpz"]
    assert zipfile.is_zipfile(path)


def test_failed_write_keeps_the_old_file(flow2, tmp_path, monkeypatch):
    path = tmp_path / "flow.fpz"
    path.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        flow2.save(path)
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["flow.fpz"]


def test_a_save_killed_outright_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    # The child stops inside its save (fsync sleeps) and is killed with SIGKILL, which no handler sees.
    script = (
        "import os, sys, time, flowprior as fp\n"
        "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(60))\n"
        "fp.save(fp.UniformPrior([0], [1]), sys.argv[1])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "p.fpz")], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()
        child.wait(timeout=30)
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(f".flowprior-{child.pid}@") and left[0].endswith(".tmp")
    fp.save(fp.UniformPrior([0], [1]), tmp_path / "q.fpz")
    assert os.listdir(tmp_path) == ["q.fpz"]


def test_only_temporaries_of_dead_processes_of_this_host_are_removed(tmp_path):
    host = flowprior.io._host()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    keep = [f".flowprior-{os.getpid()}@{host}-{'a' * 16}.tmp",  # a live process: its save is under way
            f".flowprior-{dead.stdout.strip()}@another-host-{'b' * 16}.tmp",  # its pids are not ours to ask
            ".flowprior-0123456789abcdef.tmp",  # the old name, which says nobody
            "notes.tmp"]
    gone = f".flowprior-{dead.stdout.strip()}@{host}-{'c' * 16}.tmp"
    for name in keep + [gone]:
        (tmp_path / name).write_bytes(b"partial")
    fp.save(fp.UniformPrior([0], [1]), tmp_path / "p.fpz")
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["p.fpz"])


def test_truncated_file_raises(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(FlowFileError, match="expected a flowprior file"):
        fp.load(saved)


def test_corrupted_bytes_raise(saved):
    data = bytearray(saved.read_bytes())
    start = data.find(b"arrays.npz") + 40
    data[start:start + 200] = bytes(200)
    saved.write_bytes(bytes(data))
    with pytest.raises(FlowFileError, match="expected"):
        fp.load(saved)


def test_not_a_zip_raises(tmp_path):
    path = tmp_path / "x.fpz"
    path.write_text("hello")
    with pytest.raises(FlowFileError, match=r"expected a flowprior file \(a zip archive\)"):
        fp.load(path)


def test_foreign_zip_raises(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a flow")
    with pytest.raises(FlowFileError, match="expected a flowprior file with members"):
        fp.load(path)


def test_foreign_json_raises(saved):
    _rewrite(saved, header={"format": "margarine", "format_version": 1})
    with pytest.raises(FlowFileError, match="zip archive of another kind"):
        fp.load(saved)


def _with_header_text(path, text):
    with zipfile.ZipFile(path) as zf:
        npz = zf.read("arrays.npz")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("flowprior.json", text)
        zf.writestr("arrays.npz", npz)


def test_bad_json_raises(saved):
    _with_header_text(saved, "{not json")
    with pytest.raises(FlowFileError, match="corrupted header"):
        fp.load(saved)


def test_newer_format_version_is_refused(saved):
    _rewrite(saved, header={**_header(saved), "format_version": 99})
    with pytest.raises(FlowFormatVersionError, match="expected format version <= 1; got 99"):
        fp.load(saved)


def test_bad_format_version_raises(saved):
    _rewrite(saved, header={**_header(saved), "format_version": "one"})
    with pytest.raises(FlowFileError, match="expected an integer format_version"):
        fp.load(saved)


def test_unknown_kind_raises(saved):
    header = _header(saved)
    header["object"]["kind"] = "os.system"
    _rewrite(saved, header=header)
    with pytest.raises(FlowFileError, match="expected one of the kinds"):
        fp.load(saved)


def test_missing_array_raises(saved):
    buf = io.BytesIO()
    np.savez(buf, perms=np.zeros((2, 2), dtype=np.int64))
    _rewrite(saved, npz=buf.getvalue())
    with pytest.raises(FlowFileError, match="expected a consistent flowprior file; got KeyError"):
        fp.load(saved)


def test_object_arrays_are_never_unpickled(saved):
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr("perms.npy", buf.getvalue())
    _rewrite(saved, npz=raw.getvalue())
    with pytest.raises(FlowFileError, match="expected numeric arrays"):
        fp.load(saved)


def test_string_arrays_are_refused(saved):
    buf = io.BytesIO()
    np.savez(buf, perms=np.array(["a", "b"]))
    _rewrite(saved, npz=buf.getvalue())
    with pytest.raises(FlowFileError, match="expected numeric arrays; got perms of dtype"):
        fp.load(saved)


def test_tampered_masks_are_refused(flow2, tmp_path):
    path = tmp_path / "f.fpz"
    flow2.save(path)
    with zipfile.ZipFile(path) as zf:
        npz = np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False)
        arrays = {name: npz[name] for name in npz.files}
    arrays["made0/mask2"] = np.ones_like(arrays["made0/mask2"])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rewrite(path, npz=buf.getvalue())
    with pytest.raises(FlowFileError, match="expected autoregressive masks"):
        fp.load(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        fp.load(tmp_path / "nope.fpz")


# --- hostile files: bounded reading, clear errors -------------------------------------------------
def _npy_header(shape, dtype="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_an_array_declaring_gigabytes_is_refused_before_its_data_is_read(saved):
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("made0/w0.npy", _npy_header((2**31,)) + b"\0" * 64)  # asks for 16 GiB
    _rewrite(saved, npz=raw.getvalue())
    with pytest.raises(FlowFileError, match="expected arrays of at most .* bytes in all; got made0/w0 declaring"):
        fp.load(saved)


def test_an_arrays_member_inflating_past_the_cap_is_refused_before_it_is_read(saved, monkeypatch):
    from flowprior import io as fio

    monkeypatch.setattr(fio, "MAX_ARRAY_BYTES", 2**20)
    with zipfile.ZipFile(saved) as zf:
        header = zf.read("flowprior.json")
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("flowprior.json", header)
        zf.writestr("arrays.npz", bytes(2**21))  # 2 MiB of zeros, a few KB deflated
    assert os.path.getsize(saved) < 2**15
    with pytest.raises(FlowFileError, match="expected arrays.npz of at most 1048576 bytes; got one declaring 2097152"):
        fp.load(saved)


def test_a_header_inflating_past_its_cap_is_refused(saved, monkeypatch):
    from flowprior import io as fio

    monkeypatch.setattr(fio, "MAX_HEADER_BYTES", 1000)
    _rewrite(saved, header={"format": "flowprior", "format_version": 1, "pad": " " * 5000})
    with pytest.raises(FlowFileError, match="expected flowprior.json of at most 1000 bytes"):
        fp.load(saved)


def test_a_deeply_nested_header_is_a_file_error_not_a_recursion_error(saved):
    _with_header_text(saved, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(FlowFileError, match="corrupted header"):
        fp.load(saved)


def test_an_encrypted_member_is_a_file_error(saved):
    data = bytearray(saved.read_bytes())
    at = data.find(b"PK\x01\x02")  # the first central-directory entry: set its "encrypted" flag bit
    data[at + 8] |= 0x1
    saved.write_bytes(bytes(data))
    with pytest.raises(FlowFileError, match="unreadable file .*encrypted"):
        fp.load(saved)


def test_a_header_of_the_wrong_shape_is_a_file_error(saved):
    header = _header(saved)
    header["object"]["prior"] = ["not", "a", "config"]
    _rewrite(saved, header=header)
    with pytest.raises(FlowFileError):
        fp.load(saved)


def _arrays(path):
    with zipfile.ZipFile(path) as zf:
        npz = np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False)
        return {name: npz[name] for name in npz.files}


def _with_arrays(path, arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rewrite(path, npz=buf.getvalue())


def test_nan_in_any_array_is_refused(saved):
    arrays = _arrays(saved)
    name = next(k for k, a in arrays.items() if a.dtype.kind == "f" and a.size > 1)
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = np.nan
    _with_arrays(saved, arrays)
    with pytest.raises(FlowFileError, match=f"expected numbers in every array; got NaN in {name}"):
        fp.load(saved)


def test_finite_but_extreme_weights_that_break_the_transform_are_refused(saved):
    arrays = _arrays(saved)
    for name, a in arrays.items():
        if name.startswith("made") and a.dtype.kind == "f":
            arrays[name] = np.full_like(a, 1e300)
    _with_arrays(saved, arrays)
    with pytest.raises(FlowFileError, match="expected a prior that maps the cube to finite parameters"):
        fp.load(saved)


def test_a_kde_with_nan_points_is_refused(tmp_path):
    kde = fp.KDE.fit(np.random.default_rng(0).normal(size=(200, 2)), prior=fp.UniformPrior([-5, -5], [5, 5]))
    path = tmp_path / "kde.fpz"
    kde.save(path)
    arrays = _arrays(path)
    name = next(k for k, a in arrays.items() if a.dtype.kind == "f" and a.ndim == 2)
    arrays[name] = arrays[name].copy()
    arrays[name][3, 0] = np.nan
    _with_arrays(path, arrays)
    with pytest.raises(FlowFileError, match="got NaN in"):
        fp.load(path)


def test_a_directory_is_not_called_a_truncated_file(tmp_path):
    with pytest.raises(IsADirectoryError):
        fp.load(tmp_path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_saved_file_has_the_permissions_the_umask_gives(flow2, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        flow2.save(tmp_path / "flow.fpz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "flow.fpz").st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["flow.fpz"]
