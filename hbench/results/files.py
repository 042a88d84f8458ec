"""Result files: their names, writing one atomically, and reading one back validated."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from pydantic import ValidationError

from hbench.errors import UsageError, invalid, location, pydantic_message
from hbench.io import write_json
from hbench.results.schema import RunResult, parse_created


def name_part(text: str) -> str:
    """A name made safe for a file name (plugin names may hold any character)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "x"


def result_filename(result: RunResult, spec_hash: str | None = None) -> str:
    """``<created>_<suite>_<task>_<model>_<8 hex>.json``: sorts by time, the suffix is random.

    With ``spec_hash`` (`hbench.run.RunSpec.spec_hash`) the suffix is that hash, so that a
    finished run of the same spec is found again by name (`finished_results`)."""
    stamp = parse_created(result.created).strftime("%Y%m%dT%H%M%SZ")
    spec = result.spec
    parts = [stamp, name_part(spec.suite_name), name_part(spec.task), name_part(spec.model)]
    return "_".join([*parts, spec_hash or uuid.uuid4().hex[:8]]) + ".json"


def new_result_path(result: RunResult, out_dir: str | Path, spec_hash: str | None = None) -> Path:
    """A path in ``out_dir`` for ``result`` that no file (or models folder) takes yet."""
    out_dir = Path(out_dir)
    path = out_dir / result_filename(result, spec_hash)
    # 2^-32 per pair of runs in one second; cheap to rule out anyway
    while path.exists() or models_folder(path).exists():
        if spec_hash:  # the same spec finished within the same second: keep the hash findable
            path = out_dir / result_filename(result, f"{spec_hash}-{uuid.uuid4().hex[:4]}")
        else:
            path = out_dir / result_filename(result)
    return path


def finished_results(out_dir: str | Path, spec_hash: str) -> list[Path]:
    """The result files in ``out_dir`` (not below it) written for the spec with ``spec_hash``,
    oldest first: what `hbench run` and `hbench.evaluate` reuse instead of running again."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", spec_hash):
        raise ValueError(f"not a spec hash: {spec_hash!r}")
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = {*out_dir.glob(f"*_{spec_hash}.json"), *out_dir.glob(f"*_{spec_hash}-*.json")}
    return sorted(p for p in found if p.is_file())


def replace_earlier(earlier: list[Path], written: Path) -> None:
    """After a rerun of a spec (``--overwrite``, ``rerun=True``), remove its earlier results
    (from `finished_results`) and their models folders, so that a table of the folder counts
    the run once."""
    for old in earlier:
        if old != written:
            old.unlink(missing_ok=True)
            shutil.rmtree(models_folder(old), ignore_errors=True)


def models_folder(result_path: str | Path) -> Path:
    """Where ``hbench run --save-models`` keeps the trained models of a result file."""
    result_path = Path(result_path)
    return result_path.with_name(f"{result_path.stem}_models")


def write_result(
    result: RunResult, out_dir: str | Path, *, field: str = "--out", path: Path | None = None
) -> Path:
    """Write ``result`` atomically into ``out_dir`` (created if missing) under a new name
    (or at ``path``, from `new_result_path`).

    Every run gets its own file, so concurrent runs writing to one folder never overwrite each
    other, and an interrupted write leaves no partial file (see `hbench.io.atomic_write`).
    ``field`` names the option in errors (a read-only folder, a full disk).
    """
    path = path or new_result_path(result, out_dir)
    data = result.model_dump(mode="json")
    return write_json(path, data, field=field)


def read_result(path: str | Path) -> RunResult:
    """Parse and validate one result file; any problem is a `UsageError` naming the file.

    The message names the first invalid field by its path (``metrics[3].kl_bp``), so a
    hand-edited or truncated file is easy to fix. Only JSON is parsed; nothing is unpickled.
    """
    path = Path(path)
    where = f"result file {str(path)!r}"
    if path.is_dir():
        raise UsageError(f"{where} is a folder; expected a .json result file")
    if not path.is_file():
        raise UsageError(f"{where} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text; expected JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:  # a hostile or broken file nested thousands of levels deep
        raise UsageError(f"{where} is invalid: nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise UsageError(f"{where} is invalid: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} holds a JSON {type(data).__name__}; expected an object")
    from hbench.results.migrations import migrate

    data = migrate(data, where)
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        message = pydantic_message(first)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UsageError(f"{where} is invalid: {location(first['loc'])}: {message}{more}") from None


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, a loop of links
        return False


def check_writable(path: Path, field: str) -> Path:
    """Refuse, before any work, a file path whose folder cannot take it: a missing or
    read-only folder, a parent that is a file, a name longer than the file system allows."""
    path = Path(path)
    existing = path
    while not _exists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == path and path.is_dir():
        raise invalid(field, str(path), "a file path, not a folder")
    if existing == path:
        existing = path.parent
    if not existing.is_dir():
        raise invalid(field, str(path), f"a path in a folder ({str(existing)!r} is a file)")
    limit = _name_max(existing)
    for part in path.parts:
        if len(part.encode()) > limit:
            raise invalid(field, str(path), f"names of at most {limit} bytes ({len(part)} given)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise invalid(field, str(path), f"a path in a writable folder ({str(existing)!r} is not)")
    return path


def output_folder(path: str | Path, field: str = "--out") -> Path:
    """The folder results go to, created if missing and proven writable before any work."""
    folder = Path(path)
    try:
        check_writable(folder / "x", field)
    except UsageError as exc:  # name the folder the user gave, not the probe inside it
        raise UsageError(str(exc).replace(repr(str(folder / "x")), repr(str(folder)))) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid(field, str(path), f"a folder that can be created ({exc.strerror})") from None
    if not folder.is_dir():
        raise invalid(field, str(path), "a folder, not a file")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hbench-"):
            pass
    except OSError as exc:
        raise invalid(field, str(path), f"a writable folder ({exc.strerror})") from None
    return folder
