"""A test-only model plugin: the class prior, after sleeping, so a test can kill its worker.

Installed for a test by writing a ``.dist-info`` with an ``hbench`` entry point next to a copy
of this file on ``PYTHONPATH``: worker processes then find it as they find any plugin. Each fit
leaves an empty file named ``<pid>-<ns>`` in ``$HBENCH_SLEEPY_MARKS``, so the test knows which
process runs a cell.
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


class SleepyModel(PriorModel):
    def __init__(self, config: SleepyConfig) -> None:
        super().__init__()
        self.seconds, self.fail = config.seconds, config.fail

    def fit(self, train, spec, callbacks) -> None:
        marks = os.environ.get("HBENCH_SLEEPY_MARKS")
        if marks:
            open(os.path.join(marks, f"{os.getpid()}-{time.time_ns()}"), "w").close()
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("asked to fail")
        super().fit(train, spec, callbacks)


def build(config: SleepyConfig) -> SleepyModel:
    return SleepyModel(config)


@hookimpl
def hbench_register_models(register) -> None:
    register("sleepy", build, SleepyConfig, description="the prior, after a nap (tests only)")
