"""The reproduction's report: REPORT.md (for a forge) and report.html (self-contained page
next to its figures), both rendered from Jinja2 templates shipped with the package.

The HTML template autoescapes every value; the Markdown one passes table cells through
`md_cell`, so a ``|`` or a newline in a label cannot break a table.
"""

from __future__ import annotations

import platform
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from hbench import __version__
from hbench.io import atomic_write
from hbench.reproduce.claims import Claim
from hbench.reproduce.evidence import VERDICTS, Evidence


def md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell (and outside one: no raw HTML)."""
    text = " ".join(str(value).split())
    for char, escape in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escape)
    return text


def md_text(value: object) -> str:
    """Prose safe in Markdown: no raw HTML (``<`` escaped); everything else as written."""
    return " ".join(str(value).split()).replace("<", "&lt;")


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("hbench.reproduce", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_cell
    env.filters["mdtext"] = md_text
    env.filters["pdf"] = lambda png: str(Path(png).with_suffix(".pdf").as_posix())
    return env


def context(ev: Evidence, claims: list[Claim], command: str) -> dict:
    from hbench.analysis.figures import read_caption

    plan = ev.plan
    counts = Counter(v.verdict for claim in claims for v in claim.verdicts)  # per (claim, task)
    figures = {figure for claim in claims for figure in claim.figures}
    return {
        "plan": plan,
        "claims": claims,
        # what each figure shows, from the figure's own metadata (its file name if it has none)
        "captions": {figure: read_caption(ev.out / figure) or figure for figure in figures},
        "counts": [(verdict, counts.get(verdict, 0)) for verdict in VERDICTS],
        "command": command,
        "version": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": [
            (part.name, part.description, ev.relative(ev.run_path(part.name)))
            for part in plan.runs
            if ev.run_path(part.name).is_file()
        ],
        "sweeps": plan.sweeps,
    }


def write_report(ev: Evidence, claims: list[Claim], command: str) -> list[Path]:
    """Write REPORT.md and report.html into the folder, atomically; returns both paths."""
    data = context(ev, claims, command)
    written = []
    for name, template, escape in (
        ("REPORT.md", "report.md.j2", False),
        ("report.html", "report.html.j2", True),
    ):
        text = _environment(escape).get_template(template).render(**data)
        path = ev.out / name
        with atomic_write(path, "w", field="--out") as handle:
            handle.write(text)
        written.append(path)
    return written
