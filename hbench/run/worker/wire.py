"""The wire between the harness and a worker: import paths, messages the harness can read
without unpickling (a JSON header and ``.npz`` arrays), the two pipes of a worker and the JSON
lines (with file descriptors alongside) of a template's socket.

Everything a worker sends is parsed as JSON and ``.npy`` arrays, never unpickled, so a hostile
model cannot run code in the harness."""

from __future__ import annotations

import importlib
import io
import json
import socket
from collections.abc import Mapping
from typing import Any

import numpy as np

from hbench.errors import UsageError


def import_path(obj: Any) -> str | None:
    """``module:qualname`` of a module-level class or function, or None (a lambda, a local)."""
    if isinstance(obj, str):
        return obj
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or not name or "<" in name or module == "__main__":
        return None
    return f"{module}:{name}"


def _resolve(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _pack(
    kind: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
) -> bytes:
    """A message the harness can read without unpickling: JSON header, then ``.npz`` bytes."""
    arrays = arrays or {}
    header = json.dumps({"kind": kind, "meta": meta, "arrays": sorted(arrays)}).encode()
    body = io.BytesIO()
    if arrays:
        np.savez(body, **{name: np.asarray(value) for name, value in arrays.items()})
    return len(header).to_bytes(8, "little") + header + body.getvalue()


def _unpack(message: bytes) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    size = int.from_bytes(message[:8], "little")
    header = json.loads(message[8 : 8 + size].decode())
    arrays: dict[str, np.ndarray] = {}
    if header["arrays"]:
        with np.load(io.BytesIO(message[8 + size :]), allow_pickle=False) as data:
            arrays = {name: data[name] for name in header["arrays"]}
    return str(header["kind"]), dict(header["meta"]), arrays


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can carry it (ints of any size as text), else its repr."""
    if isinstance(value, (np.integer,)):
        return int(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"__unserialisable__": repr(value)[:200]}
    return value


def _describe(exc: BaseException) -> str:
    kind = "usage" if isinstance(exc, UsageError) else type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{kind}: {text}"[:2000]


class _Pipes:
    """Two one-way pipes used as one connection: ``recv``/``send`` pickles (harness to
    worker, which trusts the harness), ``recv_bytes``/``send_bytes`` carry `_pack` messages."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        from multiprocessing.connection import Connection

        self.reader = Connection(read_fd, writable=False)
        self.writer = Connection(write_fd, readable=False)

    def send(self, obj: Any) -> None:
        self.writer.send(obj)

    def recv(self) -> Any:
        return self.reader.recv()

    def send_bytes(self, data: bytes) -> None:
        self.writer.send_bytes(data)

    def recv_bytes(self) -> bytes:
        return self.reader.recv_bytes()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


#: The longest message line read from the other end (a template's replies are a few dozen bytes).
_MAX_LINE = 1 << 16


class _Lines:
    """JSON objects, one a line, over a stream socket, with file descriptors alongside."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, message: Mapping[str, Any], fds: tuple[int, ...] = ()) -> None:
        data = json.dumps(message).encode() + b"\n"
        sent = socket.send_fds(self.sock, [data], list(fds)) if fds else 0
        self.sock.sendall(data[sent:])

    def pending(self) -> bool:
        return b"\n" in self.buffer

    def recv(self, with_fds: bool = False) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message (None once the other end closed) and the descriptors that came
        with it. Without ``with_fds`` the kernel discards any descriptors sent: the harness
        takes none from a template."""
        fds: list[int] = []
        while not self.pending():
            if len(self.buffer) > _MAX_LINE:
                raise ValueError("a message longer than any the protocol sends")
            if with_fds:
                data, received, _, _ = socket.recv_fds(self.sock, 65536, 4)
                fds.extend(received)
            else:
                data = self.sock.recv(65536)
            if not data:
                return None, fds
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a message that is not a JSON object")
        return message, fds
