"""Files written whole or not at all, and arrays read with clear errors.

Every output goes to a temporary file in the destination folder and is renamed over the target
only once complete, so an interrupted command never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from hbench.errors import UsageError, invalid


def _writable_parent(path: Path, field: str) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid(field, str(path), f"a path in a writable folder ({exc.strerror})") from None
    if path.is_dir():
        raise invalid(field, str(path), "a file path, not a folder")
    if not os.access(parent, os.W_OK):
        raise invalid(field, str(path), "a path in a writable folder")
    return parent


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", field: str = "--out") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    parent = _writable_parent(path, field)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npz(path: str | Path, arrays: Mapping[str, Any], field: str = "--out") -> Path:
    """Write an uncompressed .npz atomically (numpy would otherwise append '.npz' itself)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise invalid(field, str(path), "a file name ending in .npz")
    with atomic_write(path, field=field) as handle:
        np.savez(handle, **arrays)
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
    if not path.is_file():
        raise invalid(field, str(path), "an existing .npy file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{field}={str(path)!r} is not a readable .npy array: {exc}") from None
