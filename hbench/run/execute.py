"""The one front door of a run: `execute` takes a spec from ``hbench run``, `hbench.evaluate`,
a sweep cell or ``hbench reproduce``, and gives back its result, written by the one writer.

Every caller used to resolve the spec, build a harness, decide whether a finished result could
be reused, stage saved models and write the file in its own way; they differed in small ways
(which runs are reused, whether model paths were checked, where the cell record goes). Here
each of those is decided once:

- a finished result of the same spec hash in the output folder is reused unless ``overwrite``
  (never for an official run, whose grammars are new each time, nor for an in-memory model);
- the paths that model options name are checked before any training;
- trained models (``save_models``) go to a hidden staging folder that is renamed next to the
  result just before the result is written, so an interrupted run leaves neither behind;
- the result is written atomically, and the earlier results of a rerun spec are removed after;
- each finished fit is kept on disk until the whole result is written, so that the same call
  after an interruption fits only what was not finished (`hbench.run.journal`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hbench.errors import invalid
from hbench.results import RunResult

if TYPE_CHECKING:
    from hbench.registry.registry import Registry
    from hbench.run.journal import FitJournal
    from hbench.run.spec import ResolvedRun, RunSpec
    from hbench.run.world import World


@dataclass(frozen=True)
class Execution:
    """What `execute` did: the result, the file it is in (None when not written), whether a
    finished result was reused instead of running, and the earlier files a rerun replaced."""

    result: RunResult
    path: Path | None = None
    reused: bool = False
    replaced: list[Path] = field(default_factory=list)


def execute(
    spec: RunSpec | ResolvedRun,
    *,
    registry: Registry | None = None,
    out: str | Path | None = None,
    path: str | Path | None = None,
    overwrite: bool = False,
    save_models: bool = False,
    model: Any = None,
    world: World | None = None,
    record: Mapping[str, Any] | None = None,
    field: str = "--out",
    python: bool = False,
    **options: Any,
) -> Execution:
    """Run ``spec`` (or reuse its finished result) and write the result into ``out``.

    ``path`` fixes the file's name inside ``out`` (a sweep cell's, a reproduction's run; no
    reuse by hash then: the caller decides what is finished); otherwise the file is named by
    the model and the spec hash, and a finished file of the same hash is returned unless
    ``overwrite``. ``model`` is an in-memory model (`Harness`), ``world`` the run's world if
    the caller built it, ``record`` entries added to the result's ``extra`` (a sweep cell's
    spec and hash), ``field`` the option that names ``out`` in messages (``python``: options are
    named as `hbench.evaluate` takes them). ``options`` go to
    `Harness.run` (jobs, progress, fit_progress, on_fit, fits, limits, ...). Without ``out``
    nothing is written (``hbench.evaluate`` without ``out``, a distributed fit)."""
    from hbench.registry.registry import get_registry
    from hbench.run.harness import Harness

    registry = registry or get_registry()
    run = spec if not hasattr(spec, "resolve") else spec.resolve(registry)
    folder = Path(out) if out is not None else None
    spec_hash = None
    earlier: list[Path] = []
    if folder is not None:
        from hbench.results.files import finished_results, output_folder

        output_folder(folder, field)
        if model is None:  # an in-memory model has no hash: nothing to reuse or resume
            spec_hash = run.spec.spec_hash(registry, run)
        if spec_hash is not None and not run.spec.official:
            earlier = finished_results(folder, spec_hash) if path is None else []
            found = None if overwrite else _reusable(earlier, save_models)
            if found is not None:
                _drop_journals(folder, spec_hash)  # a crash after the write left them
                return found
    if model is None:
        check_model_paths(run.model_config, overwrite=overwrite, python=python)
    harness = Harness(run, registry, model=model, world=world)
    if folder is None:
        return Execution(_recorded(harness.run(**options), record))
    journal = _journal(folder, spec_hash, save_models, options)
    if journal is not None and overwrite:
        journal.drop()
    result, written = write_run(
        folder,
        lambda save_dir: harness.run(save_dir=save_dir, journal=journal, **options),
        save_models=save_models,
        path=Path(path) if path is not None else None,
        spec_hash=None if run.spec.official else spec_hash,  # an official run is never reused
        record=record,
        field=field,
    )
    if journal is not None:  # the whole result is written: its fits need no keeping
        journal.drop()
    if earlier:
        from hbench.results.files import replace_earlier

        replace_earlier(earlier, written)
    return Execution(result, written, replaced=[p for p in earlier if p != written])


def _journal(
    folder: Path, spec_hash: str | None, save_models: bool, options: Mapping[str, Any]
) -> FitJournal | None:
    """Where this run keeps its finished fits so that an interrupted attempt resumes
    (`hbench.run.journal`; an official run resumes on the grammars its first attempt drew): None
    for an in-memory model (no spec hash) and for a run whose every query or learning curve
    goes elsewhere as it runs."""
    if spec_hash is None or options.get("sample_log") is not None:
        return None
    if options.get("curves") is not None:
        return None
    from hbench.run.journal import FitJournal

    return FitJournal(folder, spec_hash, models=save_models)


def _drop_journals(folder: Path, spec_hash: str) -> None:
    """Remove the kept fits of a spec whose result is finished (`hbench.run.journal`)."""
    from hbench.run.journal import FitJournal

    for models in (False, True):
        FitJournal(folder, spec_hash, models=models).drop()


def _recorded(result: RunResult, record: Mapping[str, Any] | None) -> RunResult:
    if not record:
        return result
    return result.model_copy(update={"extra": {**result.extra, **record}})


def finished(
    run: ResolvedRun,
    out: str | Path,
    *,
    save_models: bool = False,
    registry: Registry | None = None,
    field: str = "--out",
) -> Execution | None:
    """The finished result in ``out`` that `execute` would reuse for ``run`` (None: it would
    run), so that a caller can skip what only a real run needs (progress bars). ``out`` is
    checked (and made) as `execute` checks it, before anything else."""
    from hbench.results.files import finished_results, output_folder

    folder = output_folder(out, field)
    if run.spec.official:
        return None
    return _reusable(finished_results(folder, run.spec.spec_hash(registry, run)), save_models)


def changed_code(result: RunResult) -> list[str]:
    """The distributions (hbench, a plugin) whose code differs now from the code that made
    ``result``, by source hash. A finished result is reused by its spec hash, which a plugin's
    new version keeps when its options keep their meaning, so that a long sweep is not rerun
    for every release; the one reusing it is told, and ``--overwrite`` runs it again."""
    from hbench.results.environment import code_state

    recorded = dict(result.environment.sources)
    now = code_state(list(result.environment.plugins)).sources
    return sorted(name for name, value in recorded.items() if value and now.get(name) != value)


def other_code_note(changed: list[str]) -> str:
    """The words a reuse message adds for `changed_code`'s distributions ("" for none)."""
    return f", made by other code ({', '.join(changed)} changed since)" if changed else ""


def _reusable(found: list[Path], save_models: bool) -> Execution | None:
    """The newest of ``found`` (finished runs of the same spec) that can stand for this run:
    one that kept its models when ``save_models`` asks for them. None: run it."""
    from hbench.results.files import read_result

    for candidate in reversed(found):
        result = read_result(candidate)
        if not save_models or result.saved_models:
            result._path = candidate
            return Execution(result, candidate, reused=True)
    return None


def write_run(
    folder: Path,
    produce: Callable[[Path | None], RunResult],
    *,
    save_models: bool = False,
    path: Path | None = None,
    spec_hash: str | None = None,
    record: Mapping[str, Any] | None = None,
    field: str = "--out",
) -> tuple[RunResult, Path]:
    """The one writer of run results: ``produce(save_dir)`` runs (``save_dir``: where trained
    models go, None unless ``save_models``), then the result is written at ``path`` (default: a
    new name in ``folder`` ending in ``spec_hash``, so that the run is found again), with
    ``record`` added to its ``extra``. The trained models are written into a hidden folder
    first and renamed to ``<result stem>_models`` just before the result file, so an
    interrupted run leaves neither a result nor a models folder behind."""
    from hbench.io import owned_temporary_name, remove_stale_temporaries
    from hbench.results import models_folder, new_result_path, write_result

    # the name is chosen before the folder is made, so that an interrupt at any moment after
    # it exists finds it to remove
    staging = owned_temporary_name(folder, ".models-") if save_models else None
    if save_models:  # those of runs killed before they could clean up (SIGKILL)
        remove_stale_temporaries(folder, ".models-")
    try:
        if staging is not None:
            try:
                staging.mkdir()  # the umask applies, as to any folder the user makes
            except OSError as exc:
                staging = None  # not made here: not ours to remove
                raise invalid(field, str(folder), f"a writable folder ({exc.strerror})") from None
            if path is not None:  # left by a run interrupted between the rename and the write
                shutil.rmtree(models_folder(path), ignore_errors=True)
        result = _recorded(produce(staging), record)
        path = path or new_result_path(result, folder, spec_hash)
        if staging is None or not result.saved_models:
            written = write_result(result, folder, field=field, path=path)
            result._path = written
            return result, written
        target = models_folder(path)
        staging.rename(target)
        staging = target  # removed again if the result cannot be written
        moved = [
            m.model_copy(update={"path": f"{target.name}/{m.path}"}) for m in result.saved_models
        ]
        result = result.model_copy(update={"saved_models": moved})
        written = write_result(result, folder, field=field, path=path)
        result._path = written
        staging = None
        return result, written
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def check_model_paths(config: Any, *, overwrite: bool = False, python: bool = False) -> None:
    """Model options that name files, checked before training: ``init=`` must be a readable
    file; ``save=`` must be a new file (an existing one only with ``overwrite``: a typo must
    not replace a result) in an existing folder that can take it (hbench makes no folders
    where a model option points); an option declared ``json_schema_extra={"path": "write"}``
    may also name an existing folder the model writes into. Options are named as
    ``--model-arg KEY``, or with ``python`` as ``model_args['KEY']``."""
    from hbench.results.files import check_writable
    from hbench.run.harness import declared_path_role, path_role

    if not hasattr(config, "model_dump"):
        return
    values = config.model_dump(mode="json")
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        flag = f"model_args[{key!r}]" if python else f"--model-arg {key}"
        declared_role = declared_path_role(config, key)
        role = path_role(config, key)
        if role == "read":
            target = Path(value)
            if not target.is_file() or not os.access(target, os.R_OK):
                raise invalid(flag, value, "a readable file")
        elif role == "write":
            target = Path(value)
            parent = target.parent if str(target.parent) else Path(".")
            if not parent.is_dir():
                where = f"a file in an existing folder ({str(parent)!r} is not one)"
                raise invalid(flag, value, where)
            if target.is_dir():
                if declared_role is None:  # save= names a file
                    raise invalid(flag, value, "a file path, not a folder")
                if not os.access(target, os.W_OK):  # a folder declared for the model to write
                    raise invalid(flag, value, "a folder this user can write into")
                continue
            if (target.exists() or target.is_symlink()) and not overwrite:
                again = "rerun=True" if python else "--overwrite"
                raise invalid(
                    flag, value, f"a new file (it exists; {again} lets the run replace it)"
                )
            check_writable(target, flag)
