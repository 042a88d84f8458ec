"""An interrupted run keeps its finished fits and the same call resumes it (`hbench.run.journal`):
only the missing fits are fitted, the joined result is the uninterrupted run's (an official run's
on the grammars its first attempt drew), and a journal of other code or ``overwrite`` start
over."""

from __future__ import annotations

import json
import logging

import pytest

from hbench.results.files import read_result
from hbench.results.table import find_result_files
from hbench.run.execute import execute
from hbench.run.journal import PREFIX, FitJournal
from hbench.run.spec import RunSpec

SMALL = {"seeds": [0, 1], "train_filters": [0, 1], "P": 64, "n_test": 32, "n_ood": 16}
FITS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def spec(model: str = "naive-bayes", **fields) -> RunSpec:
    return RunSpec(model=model, suite="smoke", overrides=dict(SMALL), **fields)


class Stop(KeyboardInterrupt):
    """What Ctrl-C raises, after ``after`` fits have finished."""


def stopping_after(after: int, seen: list):
    def on_fit(outcome) -> None:
        seen.append((outcome.seed, outcome.k_train))
        if len(seen) == after:
            raise Stop

    return on_fit


def journals(folder) -> list:
    return sorted(p for p in folder.iterdir() if p.name.startswith(PREFIX))


def test_an_interrupted_run_resumes_with_only_its_missing_fits(tmp_path, caplog) -> None:
    clean = execute(spec(), in_process=True).result  # the run, uninterrupted, not written
    seen: list = []
    with pytest.raises(Stop), caplog.at_level(logging.WARNING, logger="hbench"):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(2, seen))
    assert not list(tmp_path.glob("*.json"))  # no result: the run did not finish
    (journal,) = journals(tmp_path)
    assert sorted(p.name for p in journal.iterdir()) == ["s0_k0.json", "s0_k1.json"]
    assert "2 finished fits of this run are kept" in caplog.text

    again: list = []
    done = execute(spec(), out=tmp_path, in_process=True, on_fit=again.append)
    assert [(o.seed, o.k_train) for o in again] == [(1, 0), (1, 1)]  # only the missing ones
    result = done.result
    assert result.extra["resumed_fits"] == [[0, 0], [0, 1]]
    assert [m.model_dump() for m in result.metrics] == [m.model_dump() for m in clean.metrics]
    assert result.headline == clean.headline
    assert [(t.seed, t.k_train) for t in result.timings] == FITS
    assert journals(tmp_path) == []  # dropped once the whole result is written
    assert read_result(done.path).extra["resumed_fits"] == [[0, 0], [0, 1]]
    assert result.wall_s >= max(read_result(done.path).wall_s, 0.0)


def test_a_run_without_an_interruption_records_no_resumed_fits(tmp_path) -> None:
    done = execute(spec(), out=tmp_path, in_process=True)
    assert "resumed_fits" not in done.result.extra
    assert journals(tmp_path) == []


def test_fits_of_other_code_are_dropped_and_the_run_starts_over(tmp_path, caplog) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    (journal,) = journals(tmp_path)
    entry = journal / "s0_k0.json"
    data = json.loads(entry.read_text())
    data["environment"]["sources"] = {name: "0" * 16 for name in data["environment"]["sources"]}
    entry.write_text(json.dumps(data))
    seen: list = []
    with caplog.at_level(logging.WARNING, logger="hbench"):
        done = execute(spec(), out=tmp_path, in_process=True, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra
    assert "made by other code, on another machine" in caplog.text
    assert journals(tmp_path) == []


def test_fits_kept_on_another_machine_are_dropped(tmp_path, caplog) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(1, []))
    (journal,) = journals(tmp_path)
    entry = journal / "s0_k0.json"
    data = json.loads(entry.read_text())
    data["environment"]["cpu"] = "another processor"
    entry.write_text(json.dumps(data))
    seen: list = []
    with caplog.at_level(logging.WARNING, logger="hbench"):
        done = execute(spec(), out=tmp_path, in_process=True, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra
    assert "on another machine" in caplog.text


def test_fits_kept_in_the_harness_process_never_join_an_isolated_run(tmp_path, caplog) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    seen: list = []
    with caplog.at_level(logging.WARNING, logger="hbench"):
        done = execute(spec(), out=tmp_path, jobs=1, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra
    assert "in another sandbox" in caplog.text
    assert done.result.isolation != "in-process"


def test_overwrite_starts_over(tmp_path) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(3, []))
    seen: list = []
    done = execute(spec(), out=tmp_path, in_process=True, overwrite=True, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra


def test_an_official_run_resumes_on_the_grammars_its_first_attempt_drew(tmp_path) -> None:
    official = spec(official=True)
    with pytest.raises(Stop):
        execute(official, out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    (journal,) = journals(tmp_path)
    drawn = json.loads((journal / "s0_k0.json").read_text())["spec"]["grammar_seeds"]
    again: list = []
    done = execute(official, out=tmp_path, in_process=True, on_fit=again.append)
    assert [(o.seed, o.k_train) for o in again] == [(1, 0), (1, 1)]
    result = done.result
    assert result.spec.official and result.spec.grammar_seeds == drawn
    assert result.extra["resumed_fits"] == [[0, 0], [0, 1]]
    # every fit, kept or new, is the one a replay of those grammars gives
    replay = execute(spec(grammar_seeds=drawn), in_process=True).result
    assert [m.model_dump() for m in result.metrics] == [m.model_dump() for m in replay.metrics]
    assert journals(tmp_path) == []
    # a finished official run is never reused: the same command draws new grammars
    fresh = execute(official, out=tmp_path, in_process=True).result
    assert fresh.spec.grammar_seeds != drawn and "resumed_fits" not in fresh.extra


def test_kept_official_fits_on_other_grammars_are_dropped(tmp_path, caplog) -> None:
    official = spec(official=True)
    with pytest.raises(Stop):
        execute(official, out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    (journal,) = journals(tmp_path)
    entry = journal / "s0_k1.json"
    data = json.loads(entry.read_text())
    drawn = data["spec"]["grammar_seeds"]
    data["spec"]["grammar_seeds"] = [drawn[0] + 1, drawn[1]]  # one kept fit's grammars edited
    entry.write_text(json.dumps(data))
    seen: list = []
    with caplog.at_level(logging.WARNING, logger="hbench"):
        done = execute(official, out=tmp_path, in_process=True, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra
    assert "ran on other grammars" in caplog.text
    assert drawn[0] + 1 not in done.result.spec.grammar_seeds


def test_overwrite_drops_an_official_runs_kept_fits_and_draws_anew(tmp_path) -> None:
    official = spec(official=True)
    with pytest.raises(Stop):
        execute(official, out=tmp_path, in_process=True, on_fit=stopping_after(3, []))
    (journal,) = journals(tmp_path)
    drawn = json.loads((journal / "s0_k0.json").read_text())["spec"]["grammar_seeds"]
    seen: list = []
    done = execute(official, out=tmp_path, in_process=True, overwrite=True, on_fit=seen.append)
    assert len(seen) == 4 and done.result.spec.grammar_seeds != drawn


def test_an_unreadable_kept_fit_is_fitted_again(tmp_path, caplog) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    (journal,) = journals(tmp_path)
    (journal / "s0_k1.json").write_text("{not json")
    seen: list = []
    with caplog.at_level(logging.WARNING, logger="hbench"):
        done = execute(spec(), out=tmp_path, in_process=True, on_fit=seen.append)
    assert [(o.seed, o.k_train) for o in seen] == [(0, 1), (1, 0), (1, 1)]
    assert done.result.extra["resumed_fits"] == [[0, 0]]
    assert "could not be read" in caplog.text


def test_kept_fits_bring_their_trained_models(tmp_path) -> None:
    lcn = spec("lcn", model_args={"epochs": 1, "width": 8})
    with pytest.raises(Stop):
        execute(lcn, out=tmp_path, save_models=True, in_process=True, on_fit=stopping_after(1, []))
    (journal,) = journals(tmp_path)
    assert journal.name.endswith("-models")
    assert sorted(p.name for p in journal.iterdir()) == ["s0_k0.json", "s0_k0.pt"]
    kept = (journal / "s0_k0.pt").read_bytes()
    seen: list = []
    done = execute(lcn, out=tmp_path, save_models=True, in_process=True, on_fit=seen.append)
    assert len(seen) == 3 and done.result.extra["resumed_fits"] == [[0, 0]]
    folder = done.path.with_name(f"{done.path.stem}_models")
    assert sorted(p.name for p in folder.iterdir()) == [f"s{s}_k{k}.pt" for s, k in FITS]
    assert (folder / "s0_k0.pt").read_bytes() == kept
    assert journals(tmp_path) == []


def test_a_journal_without_models_serves_no_run_that_saves_them(tmp_path) -> None:
    """Fits kept by a run that saved no models are fitted again by one that does."""
    lcn = spec("lcn", model_args={"epochs": 1, "width": 8})
    with pytest.raises(Stop):
        execute(lcn, out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    seen: list = []
    done = execute(lcn, out=tmp_path, save_models=True, in_process=True, on_fit=seen.append)
    assert len(seen) == 4 and "resumed_fits" not in done.result.extra
    assert [p.name for p in journals(tmp_path)] == [f"{PREFIX}{lcn.spec_hash()}"]  # its own


def test_tables_of_a_folder_skip_kept_fits(tmp_path) -> None:
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, on_fit=stopping_after(2, []))
    done = execute(spec("prior"), out=tmp_path, in_process=True)
    assert find_result_files(tmp_path) == [done.path]


def test_a_journal_names_its_folder_by_the_spec_hash(tmp_path) -> None:
    journal = FitJournal(tmp_path, "0123456789abcdef", models=True)
    assert journal.path == tmp_path / ".fits-0123456789abcdef-models"
    walls = ("process", "bubblewrap")
    assert journal.count() == 0 and journal.finished({}, "any cpu", walls) == {}


def test_a_model_that_saves_nothing_still_resumes_a_run_that_saves_models(tmp_path) -> None:
    """naive-bayes has no ``save``: its kept fits need no model file to be taken."""
    with pytest.raises(Stop):
        execute(
            spec(), out=tmp_path, save_models=True, in_process=True, on_fit=stopping_after(2, [])
        )
    seen: list = []
    done = execute(spec(), out=tmp_path, save_models=True, in_process=True, on_fit=seen.append)
    assert len(seen) == 2 and done.result.extra["resumed_fits"] == [[0, 0], [0, 1]]


def test_kept_fits_left_beside_a_finished_result_go_when_it_is_reused(tmp_path) -> None:
    """A crash between writing the result and removing the journal leaves the journal; the
    next call reuses the result and removes it."""
    done = execute(spec(), out=tmp_path, in_process=True)
    with pytest.raises(Stop):
        execute(spec(), out=tmp_path, in_process=True, overwrite=True, on_fit=stopping_after(1, []))
    assert len(journals(tmp_path)) == 1
    again = execute(spec(), out=tmp_path, in_process=True)
    assert again.reused and again.path == done.path and journals(tmp_path) == []
