"""One sweep cell run where an executor puts it: a top-level function of picklable arguments
(a process pool's or a Dask worker's), writing the cell's result file atomically."""

from __future__ import annotations

from hbench.run.spec import RunSpec


def run_cell(spec: RunSpec, out_dir: str, threads: int | None = None) -> str:
    """Run ``spec`` and write its result to ``out_dir/<spec.filename()>``; returns the path.

    Called in sweep workers: it loads the plugins there, validates again (cheap), and writes
    the file atomically, so the folder holds the whole result or nothing. ``threads`` is the
    worker's thread budget; each fit uses ``spec.threads`` of it. ``extra["cell"]`` records
    the spec and its hash, which the sweep analyses read back.
    """
    from pathlib import Path

    from hbench.registry.registry import get_registry
    from hbench.results import write_result
    from hbench.run.harness import Harness
    from hbench.run.threads import set_thread_budget

    if threads is not None:
        set_thread_budget(threads)
    registry = get_registry()
    spec_hash = spec.spec_hash(registry)
    result = Harness(spec, registry).run(jobs=1)
    cell = {"hash": spec_hash, "label": spec.name, "spec": spec.model_dump(mode="json")}
    result = result.model_copy(update={"extra": {**result.extra, "cell": cell}})
    path = Path(out_dir) / spec.filename(registry)
    return str(write_result(result, out_dir, field="out", path=path))
