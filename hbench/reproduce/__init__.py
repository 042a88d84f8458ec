"""``hbench reproduce``: the paper's claims, each checked as a number, in one command.

`make_plan` fixes the experiments of a scale (smoke, cpu, paper); `Runner` runs them through
the harness, the sweeps and the analyses into one folder, each part at most once (a rerun
resumes); `judge_all` turns the folder's files into one section per claim (statement,
pre-declared criterion, numbers with their uncertainty, and a verdict per task it is judged
on, gated on convergence, naming the numbers that decided it); `write_report` renders
REPORT.md and report.html. `reproduce` does all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hbench.reproduce.plan import SCALES, Plan, make_plan

__all__ = ["SCALES", "Plan", "make_plan", "report_only", "reproduce"]


def reproduce(
    scale: str = "smoke",
    out: str | Path | None = None,
    *,
    device: str = "auto",
    jobs: int | None = None,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[Path]:
    """Run (or resume) every part of ``scale`` into ``out`` (default ``reproductions/<scale>``)
    and write the report; returns the paths of REPORT.md and report.html.

    ``executor``: ``local`` (this machine, ``jobs`` fits at a time) or ``dask`` (the fits and
    sweep cells spread over the Dask cluster at ``scheduler``, or over a LocalCluster of
    ``jobs`` workers without one; `hbench.reproduce.runner`). Bad options raise
    `hbench.UsageError` before any work."""
    from hbench.errors import invalid
    from hbench.reproduce.runner import Runner, stderr_log
    from hbench.results.files import output_folder
    from hbench.run.devices import DEVICES
    from hbench.sweep.executors import EXECUTORS, check_scheduler_address, default_workers

    plan = make_plan(scale)
    if device not in DEVICES:
        raise invalid("--device", device, f"one of {', '.join(DEVICES)}")
    if jobs is not None and (isinstance(jobs, bool) or int(jobs) < 1):
        raise invalid("--jobs", jobs, "an integer >= 1")
    if executor not in EXECUTORS:
        raise invalid("--executor", executor, f"one of {', '.join(EXECUTORS)}")
    if scheduler is not None:
        if executor != "dask":
            raise invalid("--scheduler", scheduler, "only with --executor dask")
        scheduler = check_scheduler_address(scheduler)
    folder = output_folder(out if out is not None else Path("reproductions") / scale, "--out")
    runner = Runner(
        plan,
        folder,
        device=device,
        jobs=int(jobs or default_workers()),
        log=log or stderr_log,
        executor=executor,
        scheduler=scheduler,
    )
    runner.check()
    runner.run_all()
    return report_only(plan, folder, command or f"hbench reproduce --scale {scale}")


def report_only(plan: Plan, folder: Path, command: str) -> list[Path]:
    """Judge every claim on what the folder holds and write the report (no training)."""
    from hbench.reproduce.claims import judge_all
    from hbench.reproduce.evidence import Evidence
    from hbench.reproduce.report import write_report

    evidence = Evidence(Path(folder), plan)
    return write_report(evidence, judge_all(evidence), command)
