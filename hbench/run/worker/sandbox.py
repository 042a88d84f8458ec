"""The wall around a registered model: bubblewrap, and a fresh set of namespaces per fit.

An audit hook inside the model's own interpreter is not a wall (a model can blind it), so the
template and every fit's worker run under `bubblewrap <https://github.com/containers/
bubblewrap>`_ (``bwrap``, the unprivileged sandbox Flatpak uses): their own user, pid, network,
IPC, UTS and cgroup namespaces, so they cannot see, read or signal the harness or any other
process of the machine; a read-only view of only what a worker needs (the system's libraries,
the interpreter, its standard library and site-packages, hbench and the plugins' packages, not
the working folder, the output folder or the harness's temporary files); a clean environment;
``--die-with-parent`` and a new session.

A model option that names a path is bound in by its role (the harness sends it absolute,
resolved against the user's working folder): a path it reads (``init=``), read-only; a folder
it writes into (an option declared ``json_schema_extra={"path": "write"}`` that names an
existing folder), writable as it is; a *file* it writes (``save=``) through a staging folder.
Neither the file itself nor its folder is bound: a bound file cannot be replaced by a rename
(``EBUSY``), which is how every atomic write ends, and its folder, writable, would hand the
model everything beside the file (the working folder's data and results, for ``save=mlm.pt``).
So the harness makes a new, empty folder inside the file's folder (`Staged`, named as
`hbench.io.owned_temporary_name` names, so that one a killed run left behind is removed by
the next), binds it over that folder in the sandbox, where the model writes and renames as
it likes, and when the run ends without error moves the files the options named out of it
into place (`Plan.publish`), an atomic rename each, and removes it. The model sees nothing of
the real folder, and the file appears only once the run succeeded, as a result does. An
option of no declared role whose value looks like a path (a ``/`` in it, ``.pt`` at its end)
is read where it exists, else a file the model writes.

Inside the template's sandbox each fit's worker enters namespaces of its own (`enter_fit`):
user, mount, pid, network and IPC. It is process 1 of its pid namespace, so when it ends the
kernel ends every process it started, and it gets a private, empty ``/tmp``, ``/dev/shm`` and
scratch folder (``HOME``), so that nothing one fit writes reaches another. It is not dumpable,
so no other fit (they share the template's view of ``/proc``) can read its memory; the
template is not dumpable either. What a fit still sees there: the process list of the run's
sandbox (its template and fits, never the harness) and their command lines; a program a fit
executes is dumpable again, so another fit of the same run could read that program's memory.

Limits per fit (`Limits`): the address space (``RLIMIT_AS``; ``--memory-per-fit``), no core
dumps, a count of processes and threads (``RLIMIT_NPROC`` on top of the user's own, which the
kernel does not apply to root, and a count of the fit's processes every `COUNT_EVERY` seconds
by the process that waits for it, which ends a fit past it; a worker started without a template
has the kernel's limit only), and a wall-clock timeout (``--fit-timeout``) that the harness
enforces from outside.

Where bubblewrap cannot run (not Linux, no user namespaces, ``bwrap`` missing), or with
``HBENCH_SANDBOX=0``, fits run in today's audited worker processes and the result records
``sandbox: {"kind": "none"}`` with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: ``HBENCH_SANDBOX=0`` runs fits without the sandbox: for comparisons and debugging.
SANDBOX_ENV = "HBENCH_SANDBOX"

#: The namespaces of the template's sandbox (``--unshare-all``), and those a fit adds inside it.
NAMESPACES = ("user", "mount", "pid", "net", "ipc", "uts", "cgroup")
FIT_NAMESPACES = ("user", "mount", "pid", "net", "ipc")

#: Processes (threads included, as the kernel counts them) a fit may run at once.
DEFAULT_PROCESSES = 512

#: Seconds a fit (its fit, predictions and save) may take: far above any built-in model's fit on
#: its suites (a transformer fit on the cpu suite takes minutes), far below "forever".
DEFAULT_FIT_TIMEOUT = 4 * 3600.0

#: Where a fit's private scratch folder (its ``HOME``) is, inside the sandbox.
SCRATCH = "/scratch"

#: Files of /etc that the interpreter and its libraries read (the dynamic linker's cache, the
#: names of users and groups, the time zone); the rest of /etc (``shadow``) stays outside.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/alternatives",
)

#: Environment variables a worker keeps (names, and prefixes ending in ``_``): threads, locale,
#: import path and device selection. Everything else of the harness's environment stays out.
KEPT_ENV = (
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "LANG",
    "LC_ALL",
    "HBENCH_THREADS",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "NUMEXPR_",
    "CUDA_",
    "NVIDIA_",
    "HIP_",
    "ROCR_",
    "TORCH_",
)

_CLONE = {
    "mount": 0x00020000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "user": 0x10000000,
    "pid": 0x20000000,
    "net": 0x40000000,
}
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC = 2, 4, 4096, 16384

#: The folders each fit gets empty and of its own.
_PRIVATE = ("/tmp", "/dev/shm", SCRATCH)
_PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class Limits:
    """A fit's limits: address space in bytes (None: none), seconds of wall clock (None: none),
    processes at once. Resource limits, not part of what a run measures: not in the spec."""

    memory: int | None = None
    fit_timeout: float | None = DEFAULT_FIT_TIMEOUT
    processes: int = DEFAULT_PROCESSES
    #: The user's processes and threads when the run started: ``RLIMIT_NPROC`` counts all of
    #: them, in every namespace, so a fit's count is on top of these.
    running: int = 0

    def for_worker(self, sandboxed: bool) -> dict[str, Any]:
        """What the worker applies to itself (`apply_limits`) before it builds the model."""
        return {
            "memory": self.memory,
            "processes": self.running + self.processes if sandboxed else None,
            "core": 0,
            "dumpable": not sandboxed,
        }

    def record(self) -> dict[str, Any]:
        """The limits as a result records them, saying which the kernel enforces."""
        root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
        return {
            "memory_bytes": self.memory,
            "fit_timeout_s": self.fit_timeout,
            "processes": self.processes,
            # RLIMIT_NPROC does not apply to root: there the template counts them
            "processes_by": ("" if root else "RLIMIT_NPROC, ") + f"counted every {COUNT_EVERY:g} s",
            "core_dumps": False,
        }


#: Names of the staging folders of files a model writes (`Staged`).
STAGING_PREFIX = ".hbench-staging-"


@dataclass(frozen=True)
class Staged:
    """Files a model writes into ``folder``: in the sandbox ``staging`` (a new folder inside
    ``folder``) is bound over ``folder``, and `publish` moves ``names`` from it into place."""

    folder: str
    staging: str
    names: tuple[str, ...]

    def publish(self) -> None:
        """Move each file the model wrote into ``folder`` (an atomic rename: both are on the
        same file system); a file it did not write is left as it was."""
        for name in self.names:
            source = os.path.join(self.staging, name)
            if os.path.isfile(source) and not os.path.islink(source):
                os.replace(source, os.path.join(self.folder, name))

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


@dataclass(frozen=True)
class Plan:
    """How a run's workers are started: under bubblewrap (``sandboxed``) with these folders
    bound read-only (``read``) and writable (``write``), and the staging folders of the files
    a model writes (``staged``), or as before without it."""

    sandboxed: bool
    limits: Limits = field(default_factory=Limits)
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    version: str | None = None
    reason: str | None = None  # why there is no sandbox
    staged: tuple[Staged, ...] = ()

    def publish(self) -> None:
        """The run ended without error: the files its model wrote go into place."""
        for staged in self.staged:
            staged.publish()

    def discard(self) -> None:
        """Remove the staging folders (after `publish`, or instead of it)."""
        for staged in self.staged:
            staged.discard()

    def record(self) -> dict[str, Any]:
        """The ``sandbox`` field of a result."""
        if not self.sandboxed:
            return {"kind": "none", "reason": self.reason, "limits": self.limits.record()}
        return {
            "kind": "bubblewrap",
            "version": self.version,
            "namespaces": list(NAMESPACES),
            "fit_namespaces": list(FIT_NAMESPACES),
            "limits": self.limits.record(),
        }

    def key(self) -> tuple:
        return (self.sandboxed, self.limits, self.read, self.write, self.staged)


@functools.cache
def probe(executable: str | None = None) -> tuple[str | None, str | None]:
    """``(version, None)`` where bubblewrap runs here, else ``(None, why not)``; asked once per
    process. ``executable`` overrides ``bwrap`` on the PATH (tests)."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux, not {sys.platform}"
    bwrap = executable or shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    try:
        version = subprocess.run(
            [bwrap, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()[-1]
        trial = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent"]
        trial += ["--new-session", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "true"]
        done = subprocess.run(trial, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return None, f"bwrap does not run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        return None, f"bwrap cannot make a sandbox here: {lines[-1]}"
    return version, None


def sandbox_wanted() -> bool:
    return os.environ.get(SANDBOX_ENV, "1").strip() != "0"


def plan(
    limits: Limits,
    *,
    packages: Iterable[str] = (),
    paths: Iterable[str] = (),
    files: Iterable[str] = (),
    write: Iterable[str] = (),
    read: Iterable[str] = (),
) -> Plan:
    """The run's `Plan`: the sandbox where it can run and is wanted, else none (and why).

    ``packages``: top-level modules the worker imports besides hbench (the model's); ``paths``:
    files and folders a model's options name, read where they exist, else files it writes;
    ``read``: files and folders it reads; ``files``: files it writes (through a staging folder
    each, `Staged`; made here, so the caller publishes or discards them); ``write``: folders it
    writes into (saved models)."""
    if not sandbox_wanted():
        return Plan(False, limits, reason=f"switched off ({SANDBOX_ENV}=0)")
    version, reason = probe()
    if version is None:
        return Plan(False, limits, reason=reason)
    if os.geteuid() != 0:
        limits = dataclasses.replace(limits, running=_user_tasks())
    named = [Path(p).expanduser().resolve() for p in read]
    read = [str(p) for p in named if p.exists()]
    writable = [str(Path(p).resolve()) for p in write]
    written = [Path(p).expanduser().resolve() for p in files]
    for path in paths:
        target = Path(path).expanduser().resolve()
        if target.exists():
            read.append(str(target))
        else:  # a file the model writes
            written.append(target)
    read = [*_python_paths(["hbench", *packages]), *read]
    staged = _stage(written)
    return Plan(
        True,
        limits,
        tuple(dict.fromkeys(read)),
        tuple(dict.fromkeys(writable)),
        version,
        staged=staged,
    )


def _stage(files: Iterable[Path]) -> tuple[Staged, ...]:
    """A new staging folder in the folder of each file a model writes (see the module
    docstring); none for a folder that does not exist or takes no new folder (the model's
    write then fails there, naming its option, as it would without the sandbox)."""
    from hbench.io import owned_temporary_name, remove_stale_temporaries

    names: dict[Path, list[str]] = {}
    for target in files:
        if not target.is_dir():
            names.setdefault(target.parent, []).append(target.name)
    staged = []
    for folder, in_folder in names.items():
        if not folder.is_dir():
            continue
        remove_stale_temporaries(folder, STAGING_PREFIX)  # those of killed runs
        staging = owned_temporary_name(folder, STAGING_PREFIX)
        try:
            staging.mkdir(mode=0o700)
        except OSError:
            continue
        staged.append(Staged(str(folder), str(staging), tuple(dict.fromkeys(in_folder))))
    return tuple(staged)


def _user_tasks() -> int:
    """Processes and threads of this user now (what ``RLIMIT_NPROC`` counts)."""
    uid, count = str(os.getuid()), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
                if fields.get("Uid", "").split()[:1] == [uid]:
                    count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _python_paths(packages: Iterable[str]) -> list[str]:
    """What a worker's interpreter imports from: its prefixes, and every folder on the import
    path. A folder that holds (or is inside) the working folder is bound by what an import
    reads in it only (`_importable`; and the folders its ``.pth`` files name, by the same
    rule), so the working folder's data, results and outputs stay outside."""
    cwd = Path.cwd().resolve()
    found: list[str] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        found.append(str(Path(prefix).resolve()))
    found.append(str(Path(sys.executable).resolve().parent.parent))
    entries = [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    seen: set[Path] = set()
    while entries:
        path = Path(entries.pop(0) or ".").resolve()
        if path in seen or not path.is_dir():
            continue
        seen.add(path)
        if path == cwd or path in cwd.parents or cwd in path.parents:
            inside = _importable(path)
            found.extend(str(child) for child in inside)
            # the folders a .pth file puts on the import path (site adds them at start-up,
            # so they are on sys.path already, unless this interpreter skipped site), bound
            # by the same rule
            entries.extend(str(p) for p in _pth_entries([c for c in inside if c.suffix == ".pth"]))
        else:
            found.append(str(path))
    names = {*packages, *_editable_packages()}
    for name in sorted(names):
        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            locations = list(spec.submodule_search_locations or [])
            if not locations and spec.origin and os.path.exists(spec.origin):
                locations = [spec.origin]
            found.extend(str(Path(p).resolve()) for p in locations)
    return _outermost(found)


#: Folders beside a site folder's packages that an import reads.
_BESIDE = (".libs", ".dist-info", ".egg-info")


def _importable(folder: Path) -> list[Path]:
    """What an import finds directly in ``folder``: its packages (folders with
    ``__init__.py``), modules, ``.pth`` files, the folders of shared libraries that wheels put
    beside their package (``numpy.libs``, which the package's extension modules load by a
    relative path) and the distributions' metadata (``importlib.metadata.version`` at import)."""
    out = []
    with contextlib.suppress(OSError):
        for child in folder.iterdir():
            if child.is_dir():
                if child.name.endswith(_BESIDE) or (child / "__init__.py").exists():
                    out.append(child)
            elif child.is_file() and child.suffix in (".py", ".so", ".pth"):
                out.append(child)
    return out


def _pth_entries(files: Iterable[Path]) -> list[Path]:
    """The folders ``.pth`` files name (one a line, relative to the file's folder; ``import``
    lines and comments are not folders), as `site` reads them."""
    out = []
    for pth in files:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in pth.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                folder = (pth.parent / line).resolve()
                if folder.is_dir():
                    out.append(folder)
    return out


def _editable_packages() -> list[str]:
    """Top-level packages that an editable install maps to source folders (setuptools' finder
    modules in ``sys.modules``), each of which a worker may import."""
    names: list[str] = []
    for module_name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None)
        if module_name.startswith("__editable__") and isinstance(mapping, dict):
            names.extend(str(name) for name in mapping)
    return names


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without duplicates and without those inside another one."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return sorted(kept)


def bwrap_command(plan: Plan, env: Mapping[str, str]) -> list[str]:
    """The ``bwrap`` command line (up to its ``--``) of a worker or template of ``plan``."""
    bwrap = shutil.which("bwrap") or "bwrap"
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    # no bubblewrap process beside the worker (--as-pid-1): there is nothing else to see
    argv += ["--hostname", "hbench-sandbox", "--as-pid-1"]
    # first the private folders, so that a folder bound below /tmp stays visible
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", SCRATCH]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    argv += ["--ro-bind", "/usr", "/usr"]
    for path in ETC_FILES:
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    if os.path.isdir("/sys"):
        argv += ["--ro-bind", "/sys", "/sys"]  # CPU topology, for torch and threadpoolctl
    # outer folders first, so that what is bound inside one (a package inside a staged
    # working folder, a staging folder inside a folder read) stays visible on top of it
    binds = [(path, "--ro-bind", path) for path in plan.read if not path.startswith("/usr/")]
    binds += [(path, "--bind", path) for path in plan.write]
    binds += [(s.folder, "--bind", s.staging) for s in plan.staged]
    for target, how, source in sorted(binds, key=lambda bind: len(Path(bind[0]).parts)):
        argv += [how, source, target]
    for device in sorted(Path("/dev").glob("nvidia*")) + sorted(Path("/dev").glob("dri")):
        argv += ["--dev-bind", str(device), str(device)]  # the GPUs a CUDA model uses
    # the working folder's path, so that a relative path a model's option names resolves as in
    # the harness (what is bound below it only, read-only); nothing shared is writable
    cwd = str(Path.cwd().resolve())
    argv += ["--dir", cwd, "--remount-ro", "/", "--chdir", cwd]
    for name, value in sorted(env.items()):
        argv += ["--setenv", name, value]
    return [*argv, "--"]


def clean_env(threads: int, thread_names: Iterable[str]) -> dict[str, str]:
    """A worker's whole environment in the sandbox: what `KEPT_ENV` names, the thread budget,
    a ``PATH`` to the interpreter and ``HOME`` and ``TMPDIR`` in the fit's own folders."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if any(name == k or (k.endswith("_") and name.startswith(k)) for k in KEPT_ENV)
    }
    bin_dir = str(Path(sys.executable).parent)
    return {
        **kept,
        **{name: str(threads) for name in thread_names},
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SCRATCH,
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


# --- inside the sandbox ---------------------------------------------------------------------------


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


#: Exit code of a fit's waiting process when it ended the fit for its process count.
PROCESS_LIMIT_EXIT = 86

#: Seconds between two counts of a fit's processes.
COUNT_EVERY = 0.25


def enter_fit(processes: int | None = None) -> None:
    """Give this process (a template's fresh fork, single-threaded) namespaces of its own and
    private ``/tmp``, ``/dev/shm`` and scratch folders, then fork: the child returns, as
    process 1 of a new pid namespace; this process waits for it and ends as it ended, so the
    template sees the fit's exit code. Raises OSError where the kernel refuses.

    While it waits it counts the fit's processes and threads every `COUNT_EVERY` seconds and
    ends the fit (`PROCESS_LIMIT_EXIT`) when they are more than ``processes``: the kernel's
    ``RLIMIT_NPROC`` does not apply to root, and out of the fit's namespaces its processes
    cannot hide from the count (an orphan's parent is the fit's process 1)."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    flags = 0
    for name in FIT_NAMESPACES:
        flags |= _CLONE[name]
    _check(libc.unshare(flags), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    # folders bound below the private ones (a plugin in a temporary folder), bound again on top
    # of the fit's own through descriptors opened in the new mount namespace before it covers
    # them
    kept = {}
    for point in _mount_points():
        if point.startswith(tuple(p + "/" for p in _PRIVATE)):
            with contextlib.suppress(OSError):
                kept[point] = os.open(point, os.O_PATH | os.O_CLOEXEC)
    for target in _PRIVATE:
        if os.path.isdir(target):
            _check(
                libc.mount(
                    b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=1777"
                ),
                f"mount {target}",
            )
    for point, fd in sorted(kept.items()):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(point, exist_ok=True)
        else:  # a file is bound onto a file
            os.makedirs(os.path.dirname(point), exist_ok=True)
            with open(point, "a"):
                pass
        source = f"/proc/self/fd/{fd}".encode()
        _check(libc.mount(source, point.encode(), None, _MS_BIND | _MS_REC, None), f"bind {point}")
        os.close(fd)
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # process 1 of the fit's pid namespace: dies with the process that waits
        os.close(alive_w)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        os.set_blocking(alive_r, False)
        try:
            if os.read(alive_r, 1) == b"":  # the waiting process is gone already
                os._exit(1)
        except BlockingIOError:
            pass
        os.close(alive_r)
        return
    os.close(alive_r)
    for fd in range(3, 1024):  # the worker's pipes and anything else: the child's alone
        if fd != alive_w:
            with contextlib.suppress(OSError):
                os.close(fd)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG if processes else 0)
        if done:
            break
        if _tasks_below(pid) > processes:
            os.kill(pid, signal.SIGKILL)  # and with process 1, its whole pid namespace
            os.waitpid(pid, 0)
            os._exit(PROCESS_LIMIT_EXIT)
        time.sleep(COUNT_EVERY)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: end by the same signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 1)


def _tasks_below(root: int) -> int:
    """Threads of ``root`` and of every process below it (by their parents, ``/proc``)."""
    parents: dict[int, int] = {}
    threads: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{entry}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
            parents[int(entry)] = int(fields["PPid"])
            threads[int(entry)] = int(fields["Threads"])
    below, count = {root}, 0
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                changed = True
    for pid in below:
        count += threads.get(pid, 1)
    return count


def _mount_points() -> list[str]:
    """Where something is mounted in this process's mount namespace."""
    points = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 4:
                points.append(fields[4].encode().decode("unicode_escape"))
    return points


def try_enter_fit() -> str | None:
    """Whether a fit can enter namespaces of its own here: None, or why not (tried in a fork,
    which ends at once)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            enter_fit()  # the waiting process never returns; its child does
            code = 0
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else f"a fit cannot enter namespaces of its own (exit code {code})"


def apply_limits(limits: Mapping[str, Any]) -> None:
    """Apply a fit's limits to this process (and so to every process it starts): no core
    dumps, the address space, the process count, and (in the sandbox) not dumpable, so that
    no other process of the same user reads its memory."""
    if not limits:
        return
    import resource

    def set_limit(kind: int, value: int) -> None:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))

    if limits.get("core") is not None:
        set_limit(resource.RLIMIT_CORE, int(limits["core"]))
    if limits.get("memory"):
        set_limit(resource.RLIMIT_AS, int(limits["memory"]))
    if limits.get("processes"):
        set_limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    if limits.get("dumpable") is False and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _libc().prctl(_PR_SET_DUMPABLE, 0)
