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
    from hbench.run.execute import execute
    from hbench.run.threads import set_thread_budget

    if threads is not None:
        set_thread_budget(threads)
    registry = get_registry()
    run = spec.resolve(registry)
    spec_hash = spec.spec_hash(registry, run)
    cell = {"hash": spec_hash, "label": spec.name, "spec": spec.model_dump(mode="json")}
    path = Path(out_dir) / spec.filename(registry, run)
    done = execute(run, registry=registry, out=out_dir, path=path, record={"cell": cell}, jobs=1)
    return str(done.path)
