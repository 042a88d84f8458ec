"""Finished fits of a run in flight, kept on disk so that an interrupted run resumes where it
stopped instead of losing them.

A run that writes its result into a folder (``hbench run --out``, `hbench.evaluate` with
``out``, a sweep cell, a reproduction's run) writes each fit as it finishes into a hidden
folder beside the result, ``.fits-<spec hash>/`` (``.fits-<spec hash>-models/`` when it saves
its trained models): the fit's result as a run of that fit alone, and its trained model. Ctrl-C,
SIGTERM or a killed machine leave that folder; the same command again takes the fits it holds
and fits only the others, and the folder is removed once the whole result is written.

What a journal may hold is the run itself, not a run like it:

- the spec hash names the folder, so another spec never sees it;
- a journal made by other code (another source hash of any plugin the run uses, hbench's
  own included), on another machine (another processor) or behind other walls (in the
  harness's process, or another sandbox) is dropped, with a log line, and the run starts over:
  one result never mixes fits of two versions of a model, and the environment, isolation and
  sandbox it records are every fit's;
- an official run resumes on the grammars its first attempt drew from the operating system
  (recorded in every kept fit, which must all agree, else the run starts over and draws anew):
  the kept fits were scored on those grammars, so the rest must be. The journal is in the
  runner's own folder, where no model's process can write (the sandbox), so nobody but the
  runner picks them; and the number a board ranks is `hbench verify`'s re-run, never a claim;
- a run given a model in memory never resumes (no hash names it), nor one that logs every
  query or its learning curves to a tracker (the resumed fits would be missing there);
- ``--overwrite`` (``rerun=True``) drops it (an official run then draws new grammars).

The joined result lists the fits it took from a journal under ``extra["resumed_fits"]``, and
its ``wall_s`` adds the earlier attempts' time to this one's.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from hbench.errors import UsageError
from hbench.results import RunResult

log = logging.getLogger("hbench.run.journal")

#: The journal folder's name: this prefix, then the spec hash.
PREFIX = ".fits-"


def fit_name(seed: int, k_train: int) -> str:
    """A fit's file stem in a journal (and its trained model's, ``<stem>.pt``)."""
    return f"s{seed}_k{k_train}"


class FitJournal:
    """The finished fits of one spec in one output folder (see the module docstring)."""

    def __init__(self, folder: str | Path, spec_hash: str, *, models: bool = False) -> None:
        suffix = "-models" if models else ""
        self.path = Path(folder) / f"{PREFIX}{spec_hash}{suffix}"
        self.models = models

    def __repr__(self) -> str:
        return f"FitJournal({str(self.path)!r})"

    def finished(
        self, sources: dict[str, str | None], cpu: str, walls: tuple[str, str]
    ) -> dict[tuple[int, int], RunResult]:
        """The fits kept here, by (seed, training level), if they were made by the code
        ``sources`` (the run's `CodeState.sources`) on a machine with this ``cpu``, behind the
        same ``walls`` (the isolation and the sandbox kind: a fit made in the harness's process
        never joins a sandboxed run); otherwise none, and the journal is dropped. An entry that
        cannot be read is dropped alone and fitted again (entries are written atomically, so
        only a damaged disk or a hand leaves one)."""
        from hbench.results.files import read_result

        if not self.path.is_dir():
            return {}
        found: dict[tuple[int, int], RunResult] = {}
        for entry in sorted(self.path.glob("s*_k*.json")):
            try:
                part = read_result(entry)
            except UsageError as exc:
                log.warning("a kept fit could not be read and is fitted again: %s", exc)
                entry.unlink(missing_ok=True)
                continue
            timing = part.timings[0] if len(part.timings) == 1 else None
            if timing is None or entry.stem != fit_name(timing.seed, timing.k_train):
                log.warning("%s is not one fit of this run; it is fitted again", entry.name)
                entry.unlink(missing_ok=True)
                continue
            if self.models and part.saved_models and not (self.path / f"{entry.stem}.pt").is_file():
                continue  # its model is missing: fitted again
            if (
                dict(part.environment.sources) != dict(sources)
                or part.environment.cpu != cpu
                or (part.isolation, str((part.sandbox or {}).get("kind"))) != walls
            ):
                log.warning(
                    "the fits kept in %s were made by other code, on another machine or in "
                    "another sandbox; the run starts over",
                    self.path,
                )
                self.drop()
                return {}
            found[(timing.seed, timing.k_train)] = part
        if len({_grammars(part) for part in found.values()}) > 1:
            log.warning("the fits kept in %s ran on other grammars; it starts over", self.path)
            self.drop()
            return {}
        return found

    def keep(self, part: RunResult, save_dir: Path | None = None) -> None:
        """Write one finished fit (its one-fit result, and its model from ``save_dir`` when
        the journal keeps models) atomically: a fit is either kept whole or not at all."""
        from hbench.io import atomic_write

        timing = part.timings[0]
        stem = fit_name(timing.seed, timing.k_train)
        self.path.mkdir(exist_ok=True)
        if self.models and save_dir is not None:
            for saved in part.saved_models:
                with atomic_write(self.path / f"{stem}.pt") as out:
                    out.write((save_dir / saved.path).read_bytes())
        with atomic_write(self.path / f"{stem}.json", "w") as out:
            out.write(part.model_dump_json())

    def restore(self, part: RunResult, save_dir: Path | None) -> None:
        """Put a kept fit's trained model where this attempt's models go (``save_dir``)."""
        if self.models and save_dir is not None:
            timing = part.timings[0]
            for saved in part.saved_models:
                shutil.copyfile(
                    self.path / f"{fit_name(timing.seed, timing.k_train)}.pt", save_dir / saved.path
                )

    def count(self) -> int:
        """How many fits are kept."""
        return len(list(self.path.glob("s*_k*.json"))) if self.path.is_dir() else 0

    def drop(self) -> None:
        """Remove the journal (the run finished, or starts over)."""
        shutil.rmtree(self.path, ignore_errors=True)


def _grammars(part: RunResult) -> tuple[tuple[int, int], ...] | None:
    """The (seed, grammar seed) pairs a kept fit's run drew (None: the suite's own grammar)."""
    spec = part.spec
    return tuple(zip(spec.seeds, spec.grammar_seeds, strict=True)) if spec.grammar_seeds else None


def recorded_grammar_seeds(kept: dict[tuple[int, int], RunResult]) -> dict[int, int] | None:
    """The grammar seed of each run seed that the kept fits recorded (they agree: `finished`
    checks it), None when they recorded none (a run on the suite's grammar) or none are kept."""
    if not kept:
        return None
    pairs = _grammars(next(iter(kept.values())))
    return dict(pairs) if pairs is not None else None


def join_fits(parts: Sequence[RunResult], wall_s: float) -> RunResult:
    """The result of a whole run from its fits' one-fit results (in the run's order): what
    `Harness.run` returns for all of them at once, with ``wall_s`` as its wall time."""
    from hbench.scoring import headline

    first = parts[0]
    metrics = [m for part in parts for m in part.metrics]
    dynamics = [d for part in parts for d in part.extra.get("dynamics", [])]
    extra = {key: value for key, value in first.extra.items() if key != "dynamics"}
    return first.model_copy(
        update={
            "metrics": metrics,
            "headline": headline(metrics),
            "timings": [t for part in parts for t in part.timings],
            "audit": sorted({event for part in parts for event in part.audit}),
            "saved_models": [m for part in parts for m in part.saved_models],
            "extra": {**({"dynamics": dynamics} if dynamics else {}), **extra},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": wall_s,
        }
    )
