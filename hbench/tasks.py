"""Where the task and model contract lived before it joined `hbench.contracts`.

Kept so that plugins written against earlier hbench versions (``from hbench.contracts import
TaskData``) keep working unchanged; new code imports from `hbench.contracts` or `hbench`.
"""

from hbench.contracts import (
    WHOLE_SEQUENCE,
    FitCallbacks,
    Model,
    ModelBase,
    PrivilegedAccess,
    Task,
    TaskData,
    TaskSpec,
)

__all__ = [
    "WHOLE_SEQUENCE",
    "FitCallbacks",
    "Model",
    "ModelBase",
    "PrivilegedAccess",
    "Task",
    "TaskData",
    "TaskSpec",
]
