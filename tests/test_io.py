"""Atomic writes, reading user arrays, memory estimates and progress bars."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import hbench.progress
from hbench.errors import UsageError
from hbench.io import (
    TEMPORARY_EXTRA,
    atomic_write,
    check_name_lengths,
    load_leaves,
    load_npy,
    save_npz,
    write_json,
)
from hbench.memory import MEMORY_SHARE, available_memory, check_fits, format_bytes
from hbench.progress import progress


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- atomic writes -----------------------------------------------------------------------------


def test_save_npz_round_trip_and_identical_bytes(tmp_path: Path) -> None:
    arrays = {
        "a": np.arange(6, dtype=np.int8).reshape(2, 3),
        "b": np.linspace(0, 1, 5),
        "meta": np.asarray(json.dumps({"x": 1})),
    }
    first = save_npz(tmp_path / "one.npz", arrays)
    second = save_npz(tmp_path / "two.npz", arrays)

    assert first == tmp_path / "one.npz"
    assert first.read_bytes() == second.read_bytes()
    with np.load(first, allow_pickle=False) as data:
        assert data.files == ["a", "b", "meta"]
        for key, value in arrays.items():
            np.testing.assert_array_equal(data[key], value)
            assert data[key].dtype == value.dtype
    assert listing(tmp_path) == ["one.npz", "two.npz"]


def test_save_npz_never_pickles(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allow_pickle"):
        save_npz(tmp_path / "o.npz", {"x": np.array([{}, None], dtype=object)})
    assert listing(tmp_path) == []


def test_save_npz_needs_the_suffix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--out='.*data\.npy' is invalid: a file name ending"):
        save_npz(tmp_path / "data.npy", {"x": np.zeros(1)})
    with pytest.raises(UsageError, match=r"^--target="):
        save_npz(tmp_path / "data", {"x": np.zeros(1)}, field="--target")


def test_save_npz_creates_missing_folders(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "a" / "b" / "x.npz", {"x": np.zeros(2)})
    assert path.is_file()


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("crash")])
@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_write_leaves_nothing(tmp_path: Path, exc, existing: bool) -> None:
    target = tmp_path / "out.json"
    if existing:
        target.write_text("previous")

    with pytest.raises(type(exc)), atomic_write(target, "w") as handle:
        handle.write("half of the data")
        handle.flush()
        assert listing(tmp_path) != (["out.json"] if existing else [])  # the temporary file
        raise exc

    assert listing(tmp_path) == (["out.json"] if existing else [])
    if existing:
        assert target.read_text() == "previous"


def test_os_error_while_writing_names_the_field(tmp_path: Path) -> None:
    with (
        pytest.raises(UsageError, match=r"^--report='.*r\.json' could not be written: Disk full$"),
        atomic_write(tmp_path / "r.json", "w", field="--report"),
    ):
        raise OSError(28, "Disk full")
    assert listing(tmp_path) == []


def test_unwritable_destinations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"'.*file' is a file"):
        save_npz(tmp_path / "file" / "deeper" / "x.npz", {"x": np.zeros(1)})
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(UsageError, match="a file path, not a folder"):
        save_npz(tmp_path / "dir.npz", {"x": np.zeros(1)})

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("hbench.io._create", refuse)
    with pytest.raises(UsageError, match=r"a path in a writable folder \(Permission denied\)"):
        save_npz(tmp_path / "x.npz", {"x": np.zeros(1)})
    assert listing(tmp_path) == ["dir.npz", "file"]


def test_an_interrupt_as_the_temporary_file_appears_leaves_nothing(tmp_path, monkeypatch):
    from hbench import io

    create = io._create

    def interrupted(path):
        create(path)  # the file exists, its descriptor is not returned yet: Ctrl-C lands here
        raise KeyboardInterrupt

    monkeypatch.setattr("hbench.io._create", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_json(tmp_path / "x.json", {"a": 1})
    assert listing(tmp_path) == []


def test_file_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        fresh = write_json(tmp_path / "fresh.json", {"a": 1})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640

    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o604)
    write_json(kept, {"b": 2})
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604


def test_write_json_is_sorted_and_utf8(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"b": 1, "a": "σ"})
    text = path.read_bytes().decode("utf-8")
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": "σ", "b": 1}


# --- reading arrays ----------------------------------------------------------------------------


def test_load_npy_reads_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(5))
    np.testing.assert_array_equal(load_npy(tmp_path / "x.npy", "--x"), np.arange(5))
    np.save(tmp_path / "named.data", np.ones(2))  # numpy adds .npy
    (tmp_path / "named.data.npy").rename(tmp_path / "named.data")
    np.testing.assert_array_equal(load_npy(tmp_path / "named.data", "--x"), np.ones(2))


def test_load_npy_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "text.npy").write_text("1 2 3")
    np.savez(tmp_path / "bundle.npz", x=np.ones(2))
    np.save(tmp_path / "objects.npy", np.array([None]), allow_pickle=True)
    np.save(tmp_path / "whole.npy", np.arange(1000))
    whole = (tmp_path / "whole.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.npy").write_bytes(b"")

    cases = {
        "missing.npy": "is invalid: an existing .npy file",
        ".": "is invalid: a .npy file, not a folder",
        "text.npy": "is invalid: not a .npy file",
        "bundle.npz": "is invalid: an .npz archive",
        "objects.npy": "is invalid: an array of Python objects",
        "truncated.npy": "is not a readable .npy array",
        "empty.npy": "is invalid: not a .npy file",
    }
    for name, message in cases.items():
        with pytest.raises(UsageError) as info:
            load_npy(tmp_path / name, "--leaves")
        text = str(info.value)
        assert text.startswith(f"--leaves='{tmp_path / name}' "), text
        assert message in text and "\n" not in text


def _save(tmp_path: Path, array: np.ndarray) -> Path:
    np.save(tmp_path / "x.npy", array)
    return tmp_path / "x.npy"


def test_load_leaves(tmp_path: Path) -> None:
    good = np.array([[0, 1, -1, 2], [2, 2, 2, 2]], dtype=np.int8)
    leaves = load_leaves(_save(tmp_path, good), q=3, depth=2)
    np.testing.assert_array_equal(leaves, good)
    assert leaves.dtype == np.int64
    whole = load_leaves(_save(tmp_path, good.astype(float)), q=3, depth=2)
    np.testing.assert_array_equal(whole, good)


def test_load_leaves_of_any_arity(tmp_path: Path) -> None:
    good = np.zeros((3, 9), dtype=np.int64)
    np.testing.assert_array_equal(load_leaves(_save(tmp_path, good), q=3, depth=2, arity=3), good)
    with pytest.raises(UsageError, match=r"allowed is shape \(n, 8\).* 2\*\*3 leaves \(arity 2"):
        load_leaves(_save(tmp_path, good), q=3, depth=3)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 8), dtype=int), "shape (2, 8): allowed is shape (n, 4)"),
        (np.zeros(4, dtype=int), "shape (4,): allowed is shape (n, 4)"),
        (np.zeros((0, 4), dtype=int), "shape (0, 4): allowed is shape (n, 4), n >= 1"),
        (np.zeros((1, 4, 1), dtype=int), "shape (1, 4, 1)"),
        (np.array([[0, 3, 0, 0]]), "entry [0, 1] = 3 is invalid: allowed are the symbols 0..2"),
        (np.array([[0, 0, 0, -2]]), "entry [0, 3] = -2 is invalid"),
        (np.array([[0, 0, 0.5, 0]]), "entry [0, 2] = 0.5 is invalid: allowed are the integers"),
        (np.array([[0, 0, np.nan, 0]]), "entry [0, 2] = nan is invalid"),
        (np.ones((1, 4), dtype=bool), "dtype bool: allowed is an integer array"),
        (np.array([["a", "b", "c", "d"]]), "dtype <U1"),
    ],
)
def test_load_leaves_rejects(tmp_path: Path, array: np.ndarray, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_leaves(_save(tmp_path, array), q=3, depth=2)
    assert str(info.value).startswith(f"--leaves='{tmp_path / 'x.npy'}'")
    assert message in str(info.value)


# --- memory ------------------------------------------------------------------------------------


def test_memory_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "2e9")
    assert available_memory() == 2_000_000_000
    check_fits(2e9 * MEMORY_SHARE, "exactly the limit")
    with pytest.raises(UsageError, match=r"^sampling needs an estimated 1\.5 GiB of memory"):
        check_fits(1.5 * 2**30 + 1, "sampling")
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "  ")
    assert available_memory() > 0


@pytest.mark.parametrize("value", ["lots", "-1", "nan", "inf", "1GB"])
def test_bad_memory_override(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", value)
    with pytest.raises(UsageError, match=rf"^HBENCH_MEMORY_LIMIT='{value}' is invalid"):
        available_memory()


def test_available_memory_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HBENCH_MEMORY_LIMIT", raising=False)
    assert available_memory() > 1 << 20


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (3 * 2**30, "3.0 GiB"),
        (2**60, "1024.0 PiB"),
    ],
)
def test_format_bytes(nbytes: int, text: str) -> None:
    assert format_bytes(nbytes) == text


# --- progress ----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_off_a_terminal(monkeypatch, capsys) -> None:
    monkeypatch.setattr(hbench.progress, "QUIET", False)
    with progress(10, "work") as advance:
        advance(10)
    assert capsys.readouterr().err == ""


def test_progress_shows_on_a_terminal_unless_quiet(monkeypatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(hbench.progress, "QUIET", False)
    with progress(10, "work") as advance:
        advance(4)
        advance(6)
    assert "work" in terminal.getvalue()

    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    monkeypatch.setattr(hbench.progress, "QUIET", True)
    with progress(10, "work") as advance:
        advance(10)
    assert quiet.getvalue() == ""


def test_names_too_long_for_the_file_system(tmp_path: Path) -> None:
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    room = limit - TEMPORARY_EXTRA
    assert check_name_lengths(tmp_path / ("a" * room), "--out") == tmp_path / ("a" * room)
    with pytest.raises(UsageError, match=f"a file name of at most {room} bytes.*not {room + 1}"):
        check_name_lengths(tmp_path / ("a" * (room + 1)), "--out")
    # a folder needs no room for a temporary name
    check_name_lengths(tmp_path / ("d" * limit), "--out", file=False)
    with pytest.raises(UsageError, match=r"--out='\.\.\./d{20}\.\.\.d{12}' is invalid: folder"):
        check_name_lengths(tmp_path / ("d" * (limit + 1)) / "x.json", "--out")
    # multi-byte characters count as bytes
    with pytest.raises(UsageError, match="not 600"):
        check_name_lengths(tmp_path / ("é" * 300), "--x")


def test_atomic_write_refuses_a_long_name_before_touching_the_disk(tmp_path: Path) -> None:
    target = tmp_path / ("a" * 300)
    with (
        pytest.raises(UsageError, match=r"--out=.* is invalid: a file name of at most"),
        atomic_write(target) as handle,
    ):
        handle.write(b"never")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_as_an_npz_member_opens_stays_an_interrupt(tmp_path, monkeypatch):
    import gc
    import zipfile

    opened = zipfile._ZipWriteFile.__init__

    def interrupted(self, *args, **kwargs):
        opened(self, *args, **kwargs)  # the member is open, its handle not returned yet
        raise KeyboardInterrupt

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(zipfile._ZipWriteFile, "__init__", interrupted)
    with pytest.raises(KeyboardInterrupt):  # not "Can't close the ZIP file ..."
        save_npz(tmp_path / "x.npz", {"a": np.zeros(3), "b": np.ones(2)})
    gc.collect()
    assert listing(tmp_path) == []
    assert [str(u.exc_value) for u in unraisable] == []  # nothing printed at collection
    monkeypatch.undo()
    loaded = np.load(save_npz(tmp_path / "x.npz", {"a": np.zeros(3)}))
    np.testing.assert_array_equal(loaded["a"], np.zeros(3))


def test_staging_folders_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    import subprocess

    from hbench.io import owned_temporary_name, remove_stale_temporaries

    mine = owned_temporary_name(tmp_path, ".models-")
    assert f"-{os.getpid()}-" in mine.name
    mine.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(str(mine).replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
    (stale / "seed0").mkdir(parents=True)
    other_host = tmp_path / f".models-elsewhere-{dead.pid}-{'0' * 16}.tmp"
    other_host.mkdir()
    unrelated = tmp_path / ".models-0123456789abcdef.tmp"  # no owner in its name: not ours
    unrelated.mkdir()
    assert remove_stale_temporaries(tmp_path, ".models-") == [stale]
    assert mine.is_dir() and other_host.is_dir() and unrelated.is_dir() and not stale.exists()


def test_an_npy_header_is_checked_before_numpy_allocates(tmp_path):
    from hbench.io import load_npy

    header = io.BytesIO()
    fields = {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4, 4)}
    np.lib.format.write_array_header_1_0(header, fields)
    path = tmp_path / "huge.npy"
    path.write_bytes(header.getvalue() + bytes(128))
    with pytest.raises(UsageError, match=r"--productions=.*header claims shape \(1000000000000"):
        load_npy(path, "--productions")
