"""One run, from its specification to its result: the spec, the harness that fits and scores,
learning dynamics, and the resources a run may use. What a run is measured by, and what
results are checked against, lies below it: the presets in `hbench.suites` and the scores in
`hbench.scoring`.

Names are imported on first use, so importing this package does not pull in the harness and
the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Harness": "hbench.run.harness",
    "execute": "hbench.run.execute",
    "World": "hbench.run.world",
    "RunSpec": "hbench.run.spec",
    "ResolvedRun": "hbench.run.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hbench.run' has no attribute {name!r}")
