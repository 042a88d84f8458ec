"""Files written whole or not at all, and arrays read with clear errors.

Every output goes to a temporary file in the destination folder and is renamed over the target
only once complete, so an interrupted command never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from hbench.errors import UsageError, invalid

#: The first bytes of every .npy file.
NPY_MAGIC = b"\x93NUMPY"


#: What `atomic_write` adds to a file's name for its temporary file: "." + name + ".XXXXXXXX.tmp".
TEMPORARY_EXTRA = len(".") + len(".XXXXXXXX.tmp")


def _name_max(path: Path) -> int:
    """The longest file name (bytes) the file system under ``path`` takes (255 on most)."""
    for ancestor in (path, *path.parents):
        try:
            if ancestor.is_dir():
                return int(os.pathconf(ancestor, "PC_NAME_MAX"))
        except (OSError, ValueError, AttributeError):
            continue
    return 255


def check_name_lengths(path: str | Path, field: str = "--out", *, file: bool = True) -> Path:
    """Refuse a path with a name too long for its file system, before any work is done for it.

    Every part of the path must fit ``PC_NAME_MAX`` (usually 255 bytes); the last, when it is a
    ``file`` written by `atomic_write`, must leave room for its temporary name too."""
    path = Path(path)
    limit = _name_max(path.parent if file else path)
    parts = [part for part in path.parts if part not in (path.anchor, "", ".", "..")]
    for index, part in enumerate(parts):
        extra = TEMPORARY_EXTRA if file and index == len(parts) - 1 else 0
        size = len(os.fsencode(part))
        if size + extra > limit:
            short = part if len(part) <= 40 else part[:20] + "..." + part[-12:]
            what = "a file name" if extra else "folder names"
            raise invalid(
                field,
                short if len(parts) == 1 else f".../{short}",
                f"{what} of at most {limit - extra} bytes on this file system, not {size}",
            )
    return path


def _not_a_folder(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` if it is something other than a folder."""
    for ancestor in path.parents:
        if ancestor.exists():
            return None if ancestor.is_dir() else ancestor
    return None


def _writable_parent(path: Path, field: str) -> Path:
    check_name_lengths(path, field)
    parent = path.parent if str(path.parent) else Path(".")
    blocker = _not_a_folder(path)
    if blocker is not None:
        raise invalid(field, str(path), f"a path in a writable folder ({str(blocker)!r} is a file)")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid(field, str(path), f"a path in a writable folder ({exc.strerror})") from None
    if path.is_dir():
        raise invalid(field, str(path), "a file path, not a folder")
    if not os.access(parent, os.W_OK):
        raise invalid(field, str(path), "a path in a writable folder")
    return parent


def _new_file_mode(path: Path) -> int:
    """The permissions the file would get from a plain ``open``: those of the file it replaces,
    else 0o666 less the umask (``mkstemp`` itself creates files readable by the owner only)."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_name(parent: Path, prefix: str) -> Path:
    """``parent/<prefix><16 hex digits>.tmp``, a name nothing has yet: chosen *before* the file
    or folder is made, so that a signal arriving at any moment after it exists finds the name
    to remove (`tempfile.mkstemp` and `mkdtemp` return it only after making it, and a Ctrl-C in
    between left it behind)."""
    return Path(parent) / f"{prefix}{secrets.token_hex(8)}.tmp"


def owned_temporary_name(parent: Path, prefix: str) -> Path:
    """``parent/<prefix><host>-<pid>-<16 hex digits>.tmp``: a `temporary_name` that says which
    process made it, so that a later run can remove it once that process is gone
    (`remove_stale_temporaries`) even when it was killed with no chance to clean up
    (SIGKILL, the machine's power)."""
    host = re.sub(r"[^A-Za-z0-9.]+", ".", socket.gethostname())[:64] or "host"
    return temporary_name(parent, f"{prefix}{host}-{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a number we cannot ask about: keep
    return True


def remove_stale_temporaries(parent: Path, prefix: str) -> list[Path]:
    """Remove the files and folders of `owned_temporary_name` in ``parent`` whose process on
    this machine is gone; return what was removed. Those of live processes, of other machines
    (a folder shared over the network) and names of any other form are left alone."""
    host = re.sub(r"[^A-Za-z0-9.]+", ".", socket.gethostname())[:64] or "host"
    pattern = re.compile(re.escape(f"{prefix}{host}-") + r"(\d{1,10})-[0-9a-f]{16}\.tmp")
    removed = []
    try:
        candidates = list(Path(parent).glob(f"{prefix}*.tmp"))
    except OSError:
        return removed
    for path in candidates:
        match = pattern.fullmatch(path.name)
        if match is None or _alive(int(match[1])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


def _create(path: Path) -> int:
    """A new file only this user can read (as `tempfile.mkstemp` makes), opened for writing."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", field: str = "--out") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds.

    Whatever stops the block (an error, Ctrl-C), the temporary file is removed and an existing
    ``path`` is left as it was. A failure of the file system (no space left, a read-only folder)
    is a `UsageError` naming ``field``.
    """
    path = Path(path)
    parent = _writable_parent(path, field)
    tmp = temporary_name(parent, f".{path.name}.")
    try:
        fd = _create(tmp)
    except FileExistsError:  # only a deliberate collision: that file is not ours to remove
        raise UsageError(
            f"{field}={str(path)!r} could not be written: {tmp.name!r} is already there"
        ) from None
    except OSError as exc:
        raise invalid(field, str(path), f"a path in a writable folder ({exc.strerror})") from None
    except BaseException:  # interrupted as the file was created
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise UsageError(f"{field}={str(path)!r} could not be written: {reason}") from exc
        raise


#: Timestamp of every member of an .npz written by `save_npz` (the earliest a zip can hold), so
#: that the same arrays always give the same bytes; `numpy.savez` stamps the current time.
NPZ_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def check_npz_path(path: str | Path, field: str = "--out") -> Path:
    """Refuse an output path that can never be written, before any work is done for it."""
    path = check_name_lengths(path, field)
    if path.suffix != ".npz":
        raise invalid(field, str(path), "a file name ending in .npz")
    blocker = _not_a_folder(path)
    if blocker is not None:
        raise invalid(field, str(path), f"a path in a writable folder ({str(blocker)!r} is a file)")
    if path.is_dir():
        raise invalid(field, str(path), "a file path, not a folder")
    return path


def save_npz(path: str | Path, arrays: Mapping[str, Any], field: str = "--out") -> Path:
    """Write an uncompressed .npz atomically; the same arrays give a byte-identical file.

    Readable by `numpy.load` like the output of `numpy.savez`, but never pickles (an object
    array is refused) and carries no timestamp.
    """
    path = check_npz_path(path, field)
    with atomic_write(path, field=field) as handle:
        archive = None
        try:
            archive = zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True)
            for key, value in arrays.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=NPZ_DATE_TIME)
                member.compress_type = zipfile.ZIP_STORED
                member.external_attr = 0o644 << 16
                out = archive.open(member, "w", force_zip64=True)
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)
                out.close()
            archive.close()
        except BaseException:
            # The file is discarded, so the archive is never finished: closing it (as a `with`
            # block would) with a member still open raises ValueError, which would replace a
            # Ctrl-C with "generate failed" and print again when the archive is collected.
            if archive is not None:
                archive.fp = None
            raise
    return path


def write_json(path: str | Path, data: Any, field: str = "--out") -> Path:
    """Write JSON atomically, with sorted keys so identical data gives identical bytes."""
    with atomic_write(path, "w", field=field) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return Path(path)


def load_npy(path: str | Path, field: str) -> np.ndarray:
    """Read a .npy array given by the user: never unpickles, names the option on failure."""
    path = Path(path)
    if path.is_dir():
        raise invalid(field, str(path), "a .npy file, not a folder")
    if not path.is_file():
        raise invalid(field, str(path), "an existing .npy file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        raise UsageError(f"{field}={str(path)!r} cannot be read: {exc.strerror}") from None
    if head != NPY_MAGIC:
        what = "an .npz archive" if zipfile.is_zipfile(path) else "not a .npy file"
        raise UsageError(
            f"{field}={str(path)!r} is invalid: {what}; a single array saved with numpy.save"
            " (.npy) is expected"
        )
    _check_npy_header(path, field)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise UsageError(
                f"{field}={str(path)!r} is invalid: an array of Python objects, which hbench"
                " does not load; save a numeric array"
            ) from None
        raise UsageError(f"{field}={str(path)!r} is not a readable .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise UsageError(f"{field}={str(path)!r} is not a readable .npy array: {exc}") from None
    return array


def _check_npy_header(path: Path, field: str) -> None:
    """Refuse, from its header alone, a .npy whose array the file cannot hold or that would not
    fit in memory: `numpy.load` allocates the whole array before reading, so a header claiming
    10^12 rows is a MemoryError (or the machine swapping) rather than a message."""
    where = f"{field}={str(path)!r}"
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = getattr(np.lib.format, f"read_array_header_{version[0]}_{version[1]}", None)
            if reader is None:
                raise ValueError(f"unknown .npy format version {version}")
            shape, _fortran, dtype = reader(handle, max_header_size=10_000)
            offset = handle.tell()
        size = path.stat().st_size
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise UsageError(f"{where} is not a readable .npy array: {exc}") from None
    if dtype.hasobject:
        return  # np.load refuses it with its own message (no pickles)
    count = 1
    for extent in shape:
        count *= int(extent)
    nbytes = count * dtype.itemsize
    if nbytes > size - offset:
        raise UsageError(
            f"{where} is not a readable .npy array: its header claims shape {tuple(shape)}"
            f" ({dtype}, {nbytes} bytes) but the file holds {max(size - offset, 0)} bytes of data"
        )
    from hbench.memory import check_fits

    check_fits(float(nbytes), f"the array of {where} (shape {tuple(shape)})", "a smaller array")


def load_leaves(
    path: str | Path, *, q: int, depth: int, arity: int = 2, field: str = "--leaves"
) -> np.ndarray:
    """Read leaf sequences for an oracle: integers of shape (n, arity**depth), each in [-1, q)."""
    array = load_npy(path, field)
    where = f"{field}={str(path)!r}"
    length = arity**depth
    if array.ndim != 2 or array.shape[1] != length or array.shape[0] < 1:
        raise UsageError(
            f"{where} holds an array of shape {array.shape}: allowed is shape (n, {length}),"
            f" n >= 1 sequences of {arity}**{depth} leaves (arity {arity}, depth {depth})"
        )
    if np.issubdtype(array.dtype, np.floating):
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            row, col = np.argwhere(~whole)[0]
            raise UsageError(
                f"{where}: entry [{row}, {col}] = {array[row, col]} is invalid:"
                f" allowed are the integers 0..{q - 1} (symbols) and -1 (masked)"
            )
    elif not np.issubdtype(array.dtype, np.integer):
        raise UsageError(
            f"{where} holds an array of dtype {array.dtype}: allowed is an integer array"
        )
    bad = (array < -1) | (array >= q)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UsageError(
            f"{where}: entry [{row}, {col}] = {array[row, col]:g} is invalid:"
            f" allowed are the symbols 0..{q - 1} (q={q}) and -1 (masked)"
        )
    return array.astype(np.int64)
