"""The software and hardware a run used, recorded in its result so that differences between
results can be traced."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict


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


def _git_commit() -> str | None:
    """HEAD of the checkout holding the hbench package, if the package is tracked there.

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
        return None
    commit = git("rev-parse", "HEAD")
    return commit or None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _gpu_name(device: str) -> str | None:
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


def collect_environment(plugins: list[dict[str, Any]], device: str) -> Environment:
    """Versions and hardware of this process, for the result of a run on ``device``.

    Cheap and side-effect free: torch is reported (and asked for the GPU) only if the run
    already imported it, so recording the environment never costs a torch import. The GPU is
    named only when ``device`` is a CUDA device ("cuda" or "cuda:N"); on "cpu" it did no work.
    """
    from hbench import __version__

    torch = sys.modules.get("torch")
    return Environment(
        hbench_version=__version__,
        git_commit=_git_commit(),
        python=platform.python_version(),
        numpy=np.__version__,
        torch=str(getattr(torch, "__version__", "unknown")) if torch is not None else None,
        platform=platform.platform(),
        cpu=_cpu_name(),
        gpu=_gpu_name(device),
        plugins=[dict(p) for p in plugins],
    )
