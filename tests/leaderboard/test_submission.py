"""Submitting a result: validated, filed in its place, tables rebuilt, or nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from result_runs import snapshot

from hbench.cli import main
from hbench.errors import UsageError
from hbench.leaderboard.rules import MIN_SEEDS
from hbench.leaderboard.submission import submit


def test_submit_files_and_rebuilds(tree, results, capsys) -> None:
    filed = next((tree / "smoke" / "mlm" / "results").glob("*.json"))
    # The fixture filed it already: the same content is recognised by its name.
    assert main(["submit", str(filed), "--root", str(tree)]) == 2
    assert "is already in the leaderboard as" in capsys.readouterr().err
    # The unsigned claim of that verified row has its very numbers: the same run again.
    assert main(["submit", str(results["naive-bayes-mlm"]), "--root", str(tree)]) == 2
    assert "has exactly the numbers of the filed row" in capsys.readouterr().err


def test_a_first_submission_creates_its_folder(tmp_path, results) -> None:
    root = tmp_path / "board"
    root.mkdir()
    target, written = submit(results["bp"], root)
    assert target.parent == root / "smoke" / "root" / "results"
    assert {p.name for p in written} == {
        "root.md",
        "root.html",
        "root.csv",
        "root.json",
        "index.html",
        "schema.json",
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, p: p.write_text("not json at all"), r"is not valid JSON"),
        (lambda d, p: p.write_text("{"), r"is not valid JSON"),
        (lambda d, p: _write(p, d, "metrics", 0, "acc", value=1.3), r"acc=1\.3 is invalid"),
        (lambda d, p: _write(p, d, "privileged", value=None), r"privileged: "),
    ],
)
def test_bad_submissions_change_nothing(tree, results, tmp_path, make, message) -> None:
    before = snapshot(tree)
    path = tmp_path / "bad.json"
    make(json.loads(Path(results["prior"]).read_text()), path)
    with pytest.raises(UsageError, match=message) as caught:
        submit(path, tree)
    assert str(path) in str(caught.value)
    assert snapshot(tree) == before


def _write(path: Path, data: dict, *keys, value) -> None:
    target = data
    for key in keys[:-1]:
        target = target[key]
    if value is None:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    path.write_text(json.dumps(data))


def test_another_suite_specification_is_refused(tree, results) -> None:
    before = snapshot(tree)
    with pytest.raises(
        UsageError,
        match=r"spec\.suite is a different specification than the preset 'smoke'"
        r" \(P=256\): it is not comparable",
    ):
        submit(results["other-P"], tree)
    assert snapshot(tree) == before


def test_a_missing_root_is_refused(tmp_path, results) -> None:
    with pytest.raises(UsageError, match=r"no leaderboards folder at .*nowhere: run inside"):
        submit(results["bp"], tmp_path / "nowhere")


# --- what a submission must be ---------------------------------------------------------------


def _edit(results, tmp_path, name, edit) -> Path:
    data = json.loads(Path(results[name]).read_text())
    edit(data)
    path = tmp_path / f"edited-{name}.json"
    path.write_text(json.dumps(data))
    return path


def _set(*keys, value):
    def edit(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        # the bp result renamed: a model nobody can check is no reference and no row
        ("bp", _set("spec", "model", value="my-awesome-net"), r"'my-awesome-net' is not installed"),
        ("bp", _set("privileged", value=False), r"privileged=false is invalid: model 'bp'"),
        ("naive-bayes", _set("privileged", value=True), r"privileged=true is invalid"),
        ("naive-bayes", _set("num_parameters", value=10**400), r"num_parameters=a number of 401"),
        ("naive-bayes", _set("isolation", value="in-process"), r"isolation='in-process' is inv"),
        ("naive-bayes", _set("spec", "official", value=False), r"official=false is invalid"),
        ("naive-bayes", _set("spec", "model", value="naive\nbayes"), r"spec\.model=.*control"),
    ],
)
def test_hand_edited_results_are_refused(tree, results, tmp_path, name, edit, message) -> None:
    before = snapshot(tree)
    path = _edit(results, tmp_path, name, edit)
    with pytest.raises(UsageError, match=message):
        submit(path, tree)
    assert snapshot(tree) == before


def test_one_seed_is_refused_and_dry_run_and_validate_agree(tree, results, capsys) -> None:
    before = snapshot(tree)
    one = str(results["one-seed"])
    with pytest.raises(UsageError, match=r"spec\.seeds=\[3\] is invalid: a ranked row needs"):
        submit(one, tree, dry_run=True)
    assert main(["validate", one]) == 0  # a valid result ...
    assert main(["validate", "--leaderboard", one]) == 2  # ... that no leaderboard takes
    assert main(["submit", "--dry-run", one, "--root", str(tree)]) == 2
    out, err = capsys.readouterr()
    assert f"a ranked row needs at least {MIN_SEEDS} seeds" in out and "a ranked row needs" in err
    assert snapshot(tree) == before


def test_dry_run_checks_everything_and_writes_nothing(tmp_path, results, capsys) -> None:
    root = tmp_path / "board"
    root.mkdir()
    assert main(["submit", "--dry-run", str(results["prior"]), "--root", str(root)]) == 0
    assert "passes every check; it would be filed as" in capsys.readouterr().out
    assert list(root.iterdir()) == []
    assert main(["validate", "--leaderboard", "--json", str(results["prior"])]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["ok"] and record["problems"] == [] and record["model"] == "prior"


def test_only_leaderboard_suites_are_taken(tree, results, monkeypatch) -> None:
    from hbench.leaderboard import rules

    monkeypatch.undo()  # the real rule: smoke has no leaderboard
    assert "smoke" not in rules.leaderboard_suites()
    assert {"cpu", "paper"} <= set(rules.leaderboard_suites())
    # a suite registered by another plugin than the tree grammars' has its board by its flag
    assert "cfg-cpu" in rules.leaderboard_suites()
    assert "cfg-smoke" not in rules.leaderboard_suites()
    with pytest.raises(UsageError, match=r"spec\.suite_name='smoke' has no leaderboard"):
        submit(results["prior"], tmp_path_board(tree))
    # A smoke result filed by hand makes the whole folder invalid.
    from hbench.leaderboard.tree import load_tree

    with pytest.raises(UsageError, match=r"has no leaderboard: leaderboards exist for"):
        load_tree(tree)


def tmp_path_board(tree: Path) -> Path:
    empty = tree.parent / "empty-board"
    empty.mkdir(exist_ok=True)
    return empty


def _submit_one(args: tuple[str, str]) -> str:
    from hbench.leaderboard import rules

    rules.leaderboard_suites = lambda: ("smoke",)  # a fresh process: the test's rule again
    path, root = args
    target, _ = submit(path, root)
    return target.name


def test_concurrent_submissions_render_every_row(tmp_path, results) -> None:
    import multiprocessing

    data = json.loads(Path(results["prior"]).read_text())
    paths = []
    for i in range(6):
        data["created"] = f"2024-05-0{i + 1}T00:00:00+00:00"  # six different results
        ood = next(cell for cell in data["metrics"] if cell["k_test"] == "ood")
        ood["kl_bp"] += 0.001  # (a time stamp alone would be the same run filed again)
        path = tmp_path / f"prior-{i}.json"
        path.write_text(json.dumps(data))
        paths.append(str(path))
    root = tmp_path / "board"
    root.mkdir()
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        names = pool.map(_submit_one, [(p, str(root)) for p in paths])
    assert len(set(names)) == 6
    markdown = (root / "smoke" / "root.md").read_text()
    page = (root / "smoke" / "root.html").read_text()
    for name in names:
        assert name in markdown and name in page
    assert markdown.count("| prior |") == 6
    from hbench.leaderboard.build import stale

    assert stale(root) == []


def test_a_full_disk_leaves_every_output_as_it_was(tree, results, tmp_path, monkeypatch) -> None:
    import errno

    from hbench.leaderboard import build

    before = snapshot(tree)
    # a different run: six outputs change, and the disk fills up at the third
    data = json.loads(Path(results["prior"]).read_text())
    next(cell for cell in data["metrics"] if cell["k_test"] == "ood")["kl_bp"] += 0.001
    data["created"] = "2024-05-01T00:00:00+00:00"
    path = tmp_path / "another-prior.json"
    path.write_text(json.dumps(data))
    staged = build._staged
    calls = []

    def staged_until_full(target: Path, text: str) -> Path:
        calls.append(target)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return staged(target, text)

    monkeypatch.setattr(build, "_staged", staged_until_full)
    with pytest.raises(UsageError, match=r"No space left on device; every output is left as"):
        submit(path, tree)
    assert len(calls) == 3
    # no output rewritten, the two staged temporaries and the filed result gone
    assert snapshot(tree) == before
    monkeypatch.setattr(build, "_staged", staged)
    target, written = submit(path, tree)  # with room on the disk it goes through
    assert target.is_file() and len(written) > 3
