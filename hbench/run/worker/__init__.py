"""The wall between a model and the answers: a model's ``fit`` and ``predict`` in a sandboxed
process of its own, or (for debugging and privileged reference models) in this one.

One concern a module:

- `protocol`: what a handle offers (`ModelHandle`, `FitReport`) and the callbacks a model sees;
- `inprocess`: a model in the harness's own process (`InProcessModel`);
- `isolated`: a model in a worker process (`IsolatedModel`), ended past its time limit;
- `template`: the template process that forks a worker per fit (`WorkerTemplates`);
- `sandbox`: bubblewrap around the template and every worker, namespaces of its own per fit,
  the limits of a fit (`Plan`, `Limits`);
- `serve`: the worker's side (`worker_main`);
- `audit`: the audit hook, a second layer that informs;
- `wire`: messages the harness reads without unpickling, pipes and sockets.

``python -m hbench.run.worker`` runs a worker (``READ_FD WRITE_FD``) or a template
(``--template FD [--sandboxed]``); the harness starts it through `template.LAUNCHER`, so that
no folder of the working directory shadows hbench.
"""

from __future__ import annotations

from hbench.run.worker.audit import WATCHED_MODULES
from hbench.run.worker.inprocess import InProcessModel
from hbench.run.worker.isolated import IsolatedModel, model_files
from hbench.run.worker.protocol import (
    CHECKPOINT_SEQUENCES,
    Callbacks,
    CheckpointHook,
    FitReport,
    ModelHandle,
    ProgressHook,
    TestKey,
    head,
)
from hbench.run.worker.sandbox import (
    DEFAULT_FIT_TIMEOUT,
    SANDBOX_ENV,
    Limits,
    Plan,
)
from hbench.run.worker.serve import worker_main
from hbench.run.worker.template import (
    LAUNCHER,
    TEMPLATE_ENV,
    TEMPLATE_WARM_UP,
    WorkerTemplates,
    template_main,
    templates_enabled,
)
from hbench.run.worker.wire import import_path

__all__ = [
    "CHECKPOINT_SEQUENCES",
    "DEFAULT_FIT_TIMEOUT",
    "LAUNCHER",
    "SANDBOX_ENV",
    "TEMPLATE_ENV",
    "TEMPLATE_WARM_UP",
    "WATCHED_MODULES",
    "Callbacks",
    "CheckpointHook",
    "FitReport",
    "InProcessModel",
    "IsolatedModel",
    "Limits",
    "ModelHandle",
    "Plan",
    "ProgressHook",
    "TestKey",
    "WorkerTemplates",
    "head",
    "import_path",
    "model_files",
    "template_main",
    "templates_enabled",
    "worker_main",
]
