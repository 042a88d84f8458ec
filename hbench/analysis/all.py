"""``hbench analyze all RESULT``: every analysis of one run, one after the other.

The parts are the registered analyses that say ``in_all=True`` (the built-in attention, probe
and mismatch analyses; a plugin's analysis may join them). Each part takes the options it has
(``sequences`` for attention, ``probe_*`` for the probes); a part that does not apply to the
run (a model without attention, a run that kept no models) reports its one-line reason and the
others go on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbench.analysis.attention import AttentionOptions
from hbench.analysis.probe import ProbeOptions
from hbench.analysis.report import Report, analyses

HELP = "every analysis of one run that joins 'all' (attention, probe and mismatch)"


class AllOptions(AttentionOptions, ProbeOptions):
    """The options of every built-in part; each part is given those it has."""


@dataclass
class AllReport(Report[Any]):
    """The reports of every part, in order; writing it writes each part's files."""

    parts: list[Report[Any]] = field(default_factory=list)
    _files: list[list[Path]] = field(default_factory=list, repr=False)

    def write(self, out: str | Path | None = None) -> list[Path]:
        self._files = [part.write(out) for part in self.parts]
        return [file for files in self._files for file in files]

    def to_json(self, files: Sequence[Path] = ()) -> dict[str, Any]:
        written = self._files or [[] for _ in self.parts]
        return {
            "analysis": "all",
            "parts": [part.to_json(mine) for part, mine in zip(self.parts, written, strict=True)],
        }

    def show(self, files: Sequence[Path], *, as_json: bool = False) -> None:
        if as_json:
            print(json.dumps(self.to_json(files), indent=2))
            return
        written = self._files or [[] for _ in self.parts]
        for part, mine in zip(self.parts, written, strict=True):
            print(f"== {part.analysis}")
            part.show(mine)
            print()


def report(source: str | Path, options: AllOptions | None = None) -> AllReport:
    """Each part's report in turn, each given the options it has."""
    options = options or AllOptions()
    given = options.model_dump()
    parts = [analysis for analysis in analyses() if analysis.entry.metadata.get("in_all")]
    reports = []
    for part in parts:
        fields = part.options_class.model_fields
        reports.append(part(source, {key: value for key, value in given.items() if key in fields}))
    return AllReport("all", Path(source), parts=reports)
