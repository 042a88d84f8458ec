"""The software and hardware a run used, recorded in its result so that differences between
results can be traced.

Provenance is exact where it can be: a plugin is recorded with the hash of its source (the
wheel's RECORD file, which lists the hash of every installed file, or for an editable install
or a source folder the hash of the package's files), so an edited plugin never passes for the
released one; hbench's own checkout is recorded with its commit and whether its code had
uncommitted changes. All of it is computed once per process: a sweep's runs reuse it. A run
takes it as it starts (`code_state`), when its workers import the code: an edit made while a
long run trains is never recorded as the code that ran.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Environment(BaseModel):
    """Software and hardware a run used, so that differences between results can be traced."""

    model_config = ConfigDict(extra="forbid")

    hbench_version: str
    git_commit: str | None  # of the hbench source tree, when it is a git checkout
    python: str
    numpy: str
    torch: str | None  # only when the run imported torch
    platform: str
    cpu: str
    gpu: str | None
    plugins: list[dict[str, Any]]  # each: name, distribution, version
    git_dirty: bool | None = None  # uncommitted changes to hbench's code (None: no checkout)
    #: distribution -> "record:sha256:<hex>" (an installed wheel's RECORD, `record_hash`) or
    #: "files:sha256:<hex>" (the package files of an editable install); None if not found
    sources: dict[str, str | None] = Field(default_factory=dict)


#: The parts of hbench's checkout that make up its code (a dirty results folder is no change).
CODE_PATHS = ("hbench", "plugins", "pyproject.toml")


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(HEAD, dirty) of the checkout holding the hbench package, if the package is tracked
    there; dirty means `git status --porcelain` lists a change under `CODE_PATHS`.

    Checking that the package's own files are tracked avoids reporting the commit of an
    unrelated repository that merely contains an installed copy (a virtual environment inside
    some project).
    """
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "--", "hbench/__init__.py") is None:
        return None, None
    commit = git("rev-parse", "HEAD") or None
    status = git("status", "--porcelain", "--", *CODE_PATHS)
    return commit, (None if status is None else bool(status))


def _git_commit() -> str | None:
    return git_state()[0]


def _hash_files(folders: list[Path]) -> str:
    """One hash of every file under ``folders`` (paths and contents; caches skipped)."""
    digest = hashlib.sha256()
    for folder in sorted(folders):
        files = [folder] if folder.is_file() else sorted(folder.rglob("*"))
        for path in files:
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            name = path.name if path == folder else path.relative_to(folder.parent).as_posix()
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _top_level(dist: importlib.metadata.Distribution) -> list[str]:
    """The importable top-level names a distribution provides: its hbench entry points'
    packages, its ``top_level.txt``, and its own name as a package."""
    names = {
        ep.value.split(":")[0].split(".")[0] for ep in dist.entry_points if ep.group == "hbench"
    }
    names.update((dist.read_text("top_level.txt") or "").split())
    names.add(dist.metadata["Name"].replace("-", "_").lower())
    return sorted(n for n in names if n.isidentifier())


def _source_folders(dist: importlib.metadata.Distribution) -> list[Path]:
    folders = []
    for name in _top_level(dist):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            folders += [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            folders.append(Path(spec.origin))
    return folders


#: RECORD entries that say how a wheel was installed, not what it holds: where from
#: (direct_url.json), by which tool, whether asked for, the RECORD itself, compiled caches.
_INSTALL_ENTRIES = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


def record_hash(record: str) -> str:
    """The SHA-256 (hex) of a wheel's RECORD without the entries that depend on the install
    (`_INSTALL_ENTRIES`, ``__pycache__``), sorted: the same wheel installed from another path
    or by another installer hashes the same, so a re-run can check it runs the submitted
    code."""
    kept = []
    for line in record.splitlines():
        path = line.rsplit(",", 2)[0]
        parts = path.split("/")
        if not line.strip() or "__pycache__" in parts:
            continue
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _INSTALL_ENTRIES:
            continue
        kept.append(line.strip())
    return hashlib.sha256("\n".join(sorted(kept)).encode()).hexdigest()


@functools.cache
def source_hash(distribution: str) -> str | None:
    """The hash of a distribution's source as installed here (see the module docstring)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except json.JSONDecodeError:
        direct = {}
    editable = bool(direct.get("dir_info", {}).get("editable"))
    record = None if editable else dist.read_text("RECORD")
    if record:
        return "record:sha256:" + record_hash(record)
    folders = _source_folders(dist)
    return "files:sha256:" + _hash_files(folders) if folders else None


def cpu_name() -> str:
    """This machine's processor, as results record it (``environment.cpu``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def torch_version() -> str | None:
    """The version of the torch this process imported; None where it never did (reading it
    never imports torch)."""
    torch = sys.modules.get("torch")
    return str(getattr(torch, "__version__", "unknown")) if torch is not None else None


def gpu_name(device: str) -> str | None:
    """The CUDA GPU that ran the work; never imports torch (a run that did not use it)."""
    torch = sys.modules.get("torch")
    if torch is None or not device.startswith("cuda"):
        return None
    try:
        if not torch.cuda.is_available():
            return None
        _, _, index = device.partition(":")
        return str(torch.cuda.get_device_name(int(index) if index else None))
    except Exception:  # a broken driver must not lose the run's results
        return None


@dataclass(frozen=True)
class CodeState:
    """The code a run runs: the source hash of each plugin distribution and hbench's checkout
    (commit, uncommitted changes), taken before the first fit (`code_state`)."""

    sources: dict[str, str | None]
    git_commit: str | None
    git_dirty: bool | None


def code_state(plugins: list[dict[str, Any]]) -> CodeState:
    """The `CodeState` of the distributions of ``plugins`` (each with a ``distribution``)."""
    commit, dirty = git_state()
    distributions = sorted({str(p["distribution"]) for p in plugins if p.get("distribution")})
    return CodeState({name: source_hash(name) for name in distributions}, commit, dirty)


def collect_environment(
    plugins: list[dict[str, Any]], device: str, code: CodeState | None = None
) -> Environment:
    """Versions and hardware of this process, for the result of a run on ``device``.

    Cheap and side-effect free: torch is reported (and asked for the GPU) only if the run
    already imported it, so recording the environment never costs a torch import. The GPU is
    named only when ``device`` is a CUDA device ("cuda" or "cuda:N"); on "cpu" it did no work.
    ``code``: the code as the run started (`code_state`), else as it is now.
    """
    from hbench import __version__

    code = code_state(plugins) if code is None else code
    return Environment(
        hbench_version=__version__,
        git_commit=code.git_commit,
        git_dirty=code.git_dirty,
        sources=dict(code.sources),
        python=platform.python_version(),
        numpy=np.__version__,
        torch=torch_version(),
        platform=platform.platform(),
        cpu=cpu_name(),
        gpu=gpu_name(device),
        plugins=[dict(p) for p in plugins],
    )
