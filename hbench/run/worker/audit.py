"""The audit hook of a worker: a second layer that informs, never the wall (the sandbox is,
`hbench.run.worker.sandbox`). It records imports of hbench's grammar, oracle and harness modules
and reads of files outside the model's own during fit and predict; the result lists what it
saw. A model runs in the same interpreter as the hook and can blind it; under the sandbox there
is nothing outside the model's own files to read anyway."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

#: Modules whose import by a model during fit or predict is flagged: they hold the grammar,
#: the oracle, the harness or the registry that rebuilds them. The packages of the run's
#: grammar, filter and oracle plugins are watched too (`watch`): the harness names them.
WATCHED_MODULES = (
    "hbench.run.harness",
    "hbench.run.oracle_table",
    "hbench.suites",
    "hbench.registry.suites",
    "hbench.analysis",
)

#: File suffixes of code and compiled libraries, which any import reads.
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".dylib", ".dll")


#: The plugin packages this process watches besides `WATCHED_MODULES` (a worker or template
#: serves one run's model).
_PLUGINS: list[str] = []


def watch(packages: list[str] | tuple[str, ...]) -> None:
    """Watch these packages too in this process (the run's grammar, filter and oracle)."""
    _PLUGINS.extend(str(p) for p in packages if p and str(p) not in _PLUGINS)


def _watched(name: str, extra: tuple[str, ...] | list[str] = ()) -> bool:
    return any(name == w or name.startswith(w + ".") for w in (*WATCHED_MODULES, *_PLUGINS, *extra))


def _exempt(name: str, exempt: tuple[str, ...] | list[str]) -> bool:
    """Whether a watched module may be imported while the model is built: the packages its
    registration declares (``build_imports=``, e.g. a baseline that runs a grammar plugin's BP
    on a grammar it fitted itself). The official grammar seeds, not the audit, keep the real
    grammar out of a model's reach."""
    return any(name == e or name.startswith(e + ".") for e in exempt)


def _loaded_watched() -> set[str]:
    """Watched modules imported in this process so far."""
    return {name for name in list(sys.modules) if _watched(name)}


class _Audit:
    """Records, while active, imports of watched modules and reads of files that are neither
    code nor inside the Python installation, the temporary folder or the model's own paths.

    The ``import`` audit event fires only for import statements (``importlib.import_module``
    raises none), so `stop` also records every watched module that appeared in ``sys.modules``
    while the audit was active."""

    def __init__(self, allowed: list[str]) -> None:
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), *allowed}
        #: What may be read: everything below these folders, and these very paths (an allowed
        #: path may be a file, ``init=encoder.pt``, which no folder prefix matches).
        self.roots = tuple(os.path.realpath(r) + os.sep for r in roots if r)
        self.exact = frozenset(os.path.realpath(r) for r in roots if r)
        self.active = False
        #: This process's numbers: in the sandbox ``/proc`` is the template's pid namespace's,
        #: where the worker has another number than its own namespace gives it.
        self.own = {str(os.getpid())}
        with contextlib.suppress(OSError):
            self.own.add(os.readlink("/proc/self"))
        self.events: list[str] = []
        self.loaded: set[str] = set()

    def note(self, text: str) -> None:
        if text not in self.events and len(self.events) < 50:
            self.events.append(text)

    def start(self) -> None:
        self.loaded = _loaded_watched()
        self.active = True

    def stop(self) -> None:
        self.active = False
        for name in sorted(_loaded_watched() - self.loaded):
            self.note(f"import {name}")

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "import":
            name = str(args[0])
            if _watched(name):
                self.note(f"import {name}")
        elif event == "open":
            path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if not isinstance(path, str) or not _reads(mode, flags):
                return
            real = os.path.realpath(path)
            if real.startswith("/proc/"):
                # another process's files (the harness's memory map, its memory) are not the
                # model's; its own, and the kernel's (cpuinfo, meminfo), are
                entry = real[len("/proc/") :].split("/", 1)[0]
                if entry.isdigit() and entry not in self.own:
                    self.note(f"read {real}")
                return
            if real.startswith(("/sys/", "/dev/")) or real.endswith(_CODE_SUFFIXES):
                return
            if real not in self.exact and not real.startswith(self.roots):
                self.note(f"read {real}")


def _reads(mode: Any, flags: Any) -> bool:
    """Whether an ``open`` audit event may read: ``open()`` gives a mode, ``os.open`` flags.
    A file the call itself creates (mode ``x``, ``O_CREAT | O_EXCL``: the temporary file of
    an atomic write, `hbench.io.atomic_write`) holds nothing to read, whatever its mode."""
    if isinstance(mode, str):
        return "x" not in mode and ("r" in mode or "+" in mode)
    if not isinstance(flags, int):
        return True
    if flags & os.O_CREAT and flags & os.O_EXCL:
        return False
    return flags & os.O_ACCMODE != os.O_WRONLY
