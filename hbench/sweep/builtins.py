"""The sweep files hbench ships (package data under ``hbench/sweep/files/``), named by their
file stem, so that ``hbench sweep cpu-sample-complexity`` works from an installed wheel as well
as from a checkout."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hbench.errors import UsageError

#: Suffix of every sweep file.
SUFFIX = ".toml"


def builtin_sweeps() -> dict[str, Path]:
    """Built-in sweep name -> its file, in name order."""
    folder = Path(str(files("hbench.sweep") / "files"))
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob(f"*{SUFFIX}")) if path.is_file()}


def find_sweep_file(text: str, field: str = "SWEEP") -> Path:
    """The sweep file ``text`` names: a path if one exists there, else a built-in sweep's name
    (with or without ``.toml``). Neither is one line naming both ways and the built-ins."""
    path = Path(text)
    try:
        if path.exists():
            return path
    except OSError:  # a name too long for the file system, ...: not a file, maybe a built-in
        pass
    builtins = builtin_sweeps()
    name = text.removesuffix(SUFFIX)
    if "/" not in text and name in builtins:
        return builtins[name]
    names = ", ".join(builtins) or "none"
    raise UsageError(
        f"{field}={text!r} is invalid: no such sweep file, and no built-in sweep of that name"
        f" (built-in: {names}; `hbench sweep --list` describes them)"
    )
