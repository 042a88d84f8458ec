"""Analyses as library functions: what one returns, and how a registered one is found and run.

An analysis is a function ``analyze(source, options) -> Report``: ``source`` is a result file
(or, for a sweep's analyses, a folder of them) and ``options`` its validated options, a
pydantic model registered with it (``hbench_register_analyses``). The `Report` holds the
typed numbers and the table a terminal shows, and writes its JSON and figures only when asked
(`Report.write`), so that Python code can look at the numbers without touching the disk, and
``hbench analyze`` and ``hbench reproduce`` call the same functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from hbench.errors import PluginError

if TYPE_CHECKING:
    from hbench.registry.registry import Registration, Registry

N = TypeVar("N", bound=BaseModel)

#: Writes a report's files given the report and the ``out`` the caller chose (None: the
#: analysis's default place); returns every file written, its JSON report first.
Writer = Callable[["Report[Any]", "str | Path | None"], list[Path]]


@dataclass
class Report(Generic[N]):
    """What an analysis found: its typed numbers (None where it does not apply to the run,
    ``skipped`` then saying why), the table to print, and how to write its files."""

    analysis: str
    source: Path
    numbers: N | None = None
    skipped: str | None = None
    text: str = ""
    writer: Writer | None = field(default=None, repr=False)
    #: the JSON ``--json`` prints, given the files written (default: `summary`)
    summarize: Callable[[Report[Any], list[Path]], dict[str, Any]] | None = field(
        default=None, repr=False
    )

    def write(self, out: str | Path | None = None) -> list[Path]:
        """Write the JSON report and the figures (into ``out``, by default beside the
        source); the files, the JSON first. A skipped analysis writes nothing."""
        if self.skipped is not None or self.writer is None:
            return []
        return self.writer(self, out)

    def to_json(self, files: Sequence[Path] = ()) -> dict[str, Any]:
        """What ``--json`` prints: the analysis, its report's path, every file and the
        numbers; or the reason it was skipped."""
        if self.skipped is not None:
            return {"analysis": self.analysis, "skipped": self.skipped}
        if self.summarize is not None:
            return self.summarize(self, list(files))
        return {
            "analysis": self.analysis,
            "report": str(files[0]) if files else None,
            "files": [str(file) for file in files],
            "numbers": self.numbers.model_dump(mode="json") if self.numbers is not None else None,
        }

    def show(self, files: Sequence[Path], *, as_json: bool = False) -> None:
        """Print the report as ``hbench analyze`` does: the table and the files written, a
        skipped analysis's one line, or with ``as_json`` its JSON."""
        if as_json:
            print(json.dumps(self.to_json(files), indent=2))
        elif self.skipped is not None:
            print(f"{self.analysis}: skipped: {self.skipped}")
        else:
            if self.text:
                print(self.text)
            for file in files:
                print(f"wrote {file}")


def skipped(analysis: str, source: str | Path, reason: object) -> Report[Any]:
    """The report of an analysis that does not apply to this run, with the one-line reason."""
    return Report(analysis, Path(source), skipped=str(reason))


@dataclass(frozen=True)
class Analysis:
    """A registered analysis, ready to run: its function, options class and metadata."""

    entry: Registration

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def options_class(self) -> type[BaseModel]:
        return self.entry.config

    @property
    def source_kind(self) -> str:
        """``run`` (a result file) or ``folder`` (a sweep's output folder)."""
        return str(self.entry.metadata.get("source", "run"))

    @property
    def examples(self) -> list[str]:
        return list(self.entry.metadata.get("examples", ()))

    def options(self, values: Mapping[str, Any] | BaseModel | None = None, **kwargs: Any):
        """``values`` validated against the options class (one `UsageError` line if not)."""
        return self.entry.validate_config(values, **kwargs)

    def __call__(
        self, source: str | Path, options: Mapping[str, Any] | BaseModel | None = None
    ) -> Report[Any]:
        """Run the analysis on ``source``; a report that is not a `Report` is the plugin's
        fault."""
        report = self.entry.load()(Path(source), self.options(options))
        if not isinstance(report, Report):
            raise PluginError(
                f"{self.entry.label} from {self.entry.source} returned"
                f" {type(report).__name__}, not a hbench.analysis.report.Report"
            )
        return report


def get_analysis(name: str, registry: Registry | None = None) -> Analysis:
    """The registered analysis ``name`` (a `UsageError` listing them if there is none)."""
    from hbench.registry.registry import get_registry

    return Analysis((registry or get_registry()).get("analysis", name))


def analyses(registry: Registry | None = None) -> list[Analysis]:
    """Every registered analysis, in the order the plugins registered them."""
    from hbench.registry.registry import get_registry

    return [Analysis(entry) for entry in (registry or get_registry()).in_order("analysis")]


def analyze(
    name: str,
    source: str | Path,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    out: str | Path | None = None,
    write: bool = True,
    registry: Registry | None = None,
) -> tuple[Report[Any], list[Path]]:
    """Run the analysis ``name`` on ``source`` and (with ``write``) write its files into
    ``out``: what ``hbench analyze NAME`` and ``hbench reproduce`` do. Returns the report and
    the files written."""
    report = get_analysis(name, registry)(source, options)
    return report, (report.write(out) if write else [])
