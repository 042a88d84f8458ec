"""A test-only model plugin: the class prior, after sleeping, so a test can kill its worker.

Installed for a test by writing a ``.dist-info`` with an ``hbench`` entry point next to a copy
of this file on ``PYTHONPATH``: worker processes then find it as they find any plugin. Each fit
leaves an empty file named ``<pid>-<pid namespace>-<ns>`` in the folder of its ``marks``
option, so the test knows which process runs a cell: the pid as the fit's own pid namespace
numbers it, and that namespace's inode number, which the test finds the process by when the
fit runs in a sandbox's namespace (`host_pid`). The folder is an option, not an environment
variable: the sandbox binds the folders a model's options name (``marks`` is declared a
folder the model writes into), and passes no environment variable of the harness's.
"""

from __future__ import annotations

import os
import time

from pydantic import BaseModel, ConfigDict, Field

from hbench import hookimpl
from hbench_baselines.models import PriorModel


class SleepyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(0.0, ge=0)
    fail: bool = False
    marks: str | None = Field(None, json_schema_extra={"path": "write"})


class SleepyModel(PriorModel):
    def __init__(self, config: SleepyConfig) -> None:
        super().__init__()
        self.seconds, self.fail, self.marks = config.seconds, config.fail, config.marks

    def fit(self, train, spec, callbacks) -> None:
        if self.marks:
            try:
                namespace = os.stat("/proc/self/ns/pid").st_ino
            except OSError:  # not Linux: no namespaces
                namespace = 0
            name = f"{os.getpid()}-{namespace}-{time.time_ns()}"
            open(os.path.join(self.marks, name), "w").close()
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("asked to fail")
        super().fit(train, spec, callbacks)


def build(config: SleepyConfig) -> SleepyModel:
    return SleepyModel(config)


@hookimpl
def hbench_register_models(register) -> None:
    register("sleepy", build, SleepyConfig, description="the prior, after a nap (tests only)")


def host_pid(mark: str, below: int) -> int:
    """The pid, as this process's namespace numbers it, of the fit that left ``mark`` (a
    process below ``below``): the mark's own where the fit ran in this pid namespace, else the
    process below ``below`` in the mark's namespace (the sandbox's pid 1 of that fit)."""
    import psutil

    pid, namespace = (int(part) for part in mark.split("-")[:2])
    if namespace == 0 or namespace == os.stat("/proc/self/ns/pid").st_ino:
        return pid
    for process in psutil.Process(below).children(recursive=True):
        try:
            if os.stat(f"/proc/{process.pid}/ns/pid").st_ino == namespace:
                return process.pid
        except OSError:
            continue
    raise LookupError(f"no process below {below} in the pid namespace of {mark}")
