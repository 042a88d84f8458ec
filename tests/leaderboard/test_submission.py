"""Submitting a result: validated, filed in its place, tables rebuilt, or nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from result_runs import snapshot

from hbench.cli import main
from hbench.errors import UsageError
from hbench.leaderboard.submission import submit


def test_submit_files_and_rebuilds(tree, results, capsys) -> None:
    new = results["naive-bayes-mlm"]
    # The fixture filed it already: the same content is recognised by its name.
    assert main(["submit", str(new), "--root", str(tree)]) == 2
    assert "is already in the leaderboard as" in capsys.readouterr().err


def test_a_first_submission_creates_its_folder(tmp_path, results) -> None:
    root = tmp_path / "board"
    root.mkdir()
    target, written = submit(results["bp"], root)
    assert target.parent == root / "smoke" / "root" / "results"
    assert {p.name for p in written} == {"root.md", "index.html"}


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
        match=r"different suite specification than the preset 'smoke'"
        r" \(P=256\): it is not comparable",
    ):
        submit(results["other-P"], tree)
    assert snapshot(tree) == before


def test_a_missing_root_is_refused(tmp_path, results) -> None:
    with pytest.raises(UsageError, match=r"--root=.* an existing leaderboard folder"):
        submit(results["bp"], tmp_path / "nowhere")
