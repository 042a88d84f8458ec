"""One run, from its specification to its result: suites (the presets), the spec, the harness
that fits and scores, scoring, learning dynamics, and the resources a run may use.

Names are imported on first use, so ``import hbench.run.scoring`` (which result files need)
does not pull in the harness and the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SUITES": "hbench.run.suites",
    "Suite": "hbench.run.suites",
    "get_suite": "hbench.run.suites",
    "Harness": "hbench.run.harness",
    "run_benchmark": "hbench.run.harness",
    "RunSpec": "hbench.run.spec",
    "ResolvedRun": "hbench.run.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hbench.run' has no attribute {name!r}")
