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

from pathlib import Path

from hbench.io import atomic_write
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
)
from hbench.leaderboard.tables import tables
from hbench.leaderboard.tree import load_tree, require_root

__all__ = ["INDEX", "SCHEMA", "build", "rendered", "stale"]


def rendered(root: str | Path) -> dict[Path, str]:
    """Every output file of the tree with its content (nothing is written)."""
    root = require_root(root)
    tree = load_tree(root)
    out: dict[Path, str] = {}
    for (suite, task), entries in sorted(tree.items()):
        found = tables(suite, task, entries)
        out[root / suite / f"{task}.md"] = render_markdown(suite, task, entries)
        out[root / suite / f"{task}.html"] = render_board(suite, task, entries)
        out[root / suite / f"{task}.csv"] = render_csv(found)
        out[root / suite / f"{task}.json"] = render_json(suite, task, found)
    out[root / INDEX] = render_index(tree)
    out[root / SCHEMA] = render_schema()
    return out


def write_outputs(root: Path) -> list[Path]:
    """Render and write what changed; the caller holds the folder's lock."""
    written = []
    for path, text in rendered(root).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        with atomic_write(path, "w", field="--root") as handle:
            handle.write(text)
        written.append(path)
    return written


def build(root: str | Path) -> list[Path]:
    """Render every output; write only files whose content changed (each atomically).

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
