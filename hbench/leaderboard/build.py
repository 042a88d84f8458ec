"""Rendering a leaderboard folder: every table, page and download from the result files.

    <root>/<suite>/<task>/results/*.json   submitted results (`hbench.leaderboard.tree`)
    <root>/<suite>/<task>.md               its tables as markdown (`markdown`)
    <root>/<suite>/<task>.html|.csv|.json  its page and downloads (`site`)
    <root>/index.html, schema.json         every board; the result file's JSON Schema

Rendering is a pure function of the files: the same results give byte-identical outputs (no
build time, sorted inputs, fixed number formats), so CI can check that the committed outputs
are up to date by rendering again and comparing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hbench.errors import UsageError
from hbench.io import _new_file_mode, _writable_parent, temporary_name
from hbench.leaderboard.lock import board_lock
from hbench.leaderboard.markdown import render_markdown
from hbench.leaderboard.site import (
    INDEX,
    SCHEMA,
    render_board,
    render_csv,
    render_index,
    render_json,
    render_schema,
    site_colours,
)
from hbench.leaderboard.tables import tables
from hbench.leaderboard.tree import load_tree, require_root

__all__ = ["INDEX", "SCHEMA", "build", "rendered", "stale"]


def rendered(root: str | Path) -> dict[Path, str]:
    """Every output file of the tree with its content (nothing is written)."""
    root = require_root(root)
    tree = load_tree(root)
    out: dict[Path, str] = {}
    colours = site_colours(tree)  # a model has one colour on every board
    for (suite, task), entries in sorted(tree.items()):
        found = tables(suite, task, entries)
        out[root / suite / f"{task}.md"] = render_markdown(suite, task, entries)
        out[root / suite / f"{task}.html"] = render_board(suite, task, entries, colours)
        out[root / suite / f"{task}.csv"] = render_csv(found)
        out[root / suite / f"{task}.json"] = render_json(suite, task, found)
    out[root / INDEX] = render_index(tree)
    out[root / SCHEMA] = render_schema()
    return out


def _staged(path: Path, text: str) -> Path:
    """``text`` written and flushed to disk in a temporary file beside ``path`` (removed again
    if the write fails); the caller renames it."""
    tmp = temporary_name(_writable_parent(path, "--root"), f".{path.name}.")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def write_outputs(root: Path) -> list[Path]:
    """Render and write what changed, all or nothing; the caller holds the folder's lock.

    Every changed output is first written in full to a temporary file beside it, and only once
    all of them are on disk are they renamed over the outputs: a full disk or an interruption
    while writing leaves every output as it was (and no temporary file), never a board half
    rewritten (its page from the new results, its markdown from the old). The renames
    themselves cannot run out of space."""
    changed = {
        path: text
        for path, text in rendered(root).items()
        if not (path.is_file() and path.read_text(encoding="utf-8") == text)
    }
    staged: dict[Path, Path] = {}
    try:
        for path, text in changed.items():
            staged[path] = _staged(path, text)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            where = f" {str(exc.filename)!r}" if exc.filename else ""
            raise UsageError(
                f"--root={str(root)!r} could not be written{where}: {exc.strerror or exc};"
                " every output is left as it was"
            ) from exc
        raise
    return list(changed)


def build(root: str | Path) -> list[Path]:
    """Render every output; write only files whose content changed (all of them or none,
    `write_outputs`).

    Returns the paths written. Everything is rendered before anything is written, so an
    invalid result leaves every output as it was; the folder's lock keeps a concurrent
    submission from slipping between the listing and the writing.
    """
    root = require_root(root)
    with board_lock(root):
        return write_outputs(root)


def stale(root: str | Path) -> list[Path]:
    """Outputs that differ from what `build` would write (missing ones included)."""
    root = require_root(root)
    with board_lock(root, reading=True):
        return [
            path
            for path, text in rendered(root).items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text
        ]
