"""Result files are checked beyond their schema before any leaderboard shows them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from result_runs import smoke_result

from hbench.cli import main
from hbench.errors import UsageError
from hbench.results import write_result
from hbench.results.validate import inspect_file, validate_file
from hbench.scoring import headline


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Path:
    return write_result(smoke_result("naive-bayes"), tmp_path_factory.mktemp("good"))


def edited(good: Path, tmp_path: Path, edit) -> Path:
    data = json.loads(good.read_text())
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def test_a_real_result_is_valid(good_file: Path) -> None:
    result = validate_file(good_file)
    assert result.spec.model == "naive-bayes" and result.spec.seeds == [0, 1]


def _set_acc(data):
    data["metrics"][0]["acc"] = 1.3


def _drop_cell(data):
    del data["metrics"][3]


def _edit_suite(data):
    data["spec"]["suite"]["P"] = 4096  # the hash still says 512


def _edit_headline(data):
    data["headline"]["normalised_accuracy"]["mean"] = 0.99


def _negative_kl(data):
    data["metrics"][1]["kl_bp"] = -0.5


def _drop_field(data):
    del data["environment"]


def _ood_accuracy(data):
    ood = next(m for m in data["metrics"] if m["k_test"] == "ood")
    ood["acc"] = 0.5


def _seed_list(data):
    data["spec"]["seeds"] = [0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_acc, r"metrics\[0\]\.acc=1\.3 is invalid: a fraction in \[0, 1\]"),
        (_drop_cell, r"metrics lack the cell\(s\) \(seed=0, k_train=0, k_test=3\)"),
        (_edit_suite, r"spec\.suite_hash='[0-9a-f]+' is not the hash of the suite"),
        (_edit_headline, r"headline\.normalised_accuracy\.mean=0\.99 is not what the metrics"),
        (_negative_kl, r"metrics\[1\]\.kl_bp=-0\.5 is invalid: bits >= 0"),
        (_drop_field, r"invalid: environment: Field required"),
        (_ood_accuracy, r"\.acc=0\.5 is invalid: 'ood' has no ground truth"),
        (_seed_list, r"spec\.seeds=\[0\] differs from the recorded suite's \[0, 1\]"),
    ],
)
def test_each_problem_is_named_with_the_file(good_file, tmp_path, edit, message) -> None:
    path = edited(good_file, tmp_path, edit)
    with pytest.raises(UsageError, match=message) as caught:
        validate_file(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"schema_version": 2, "spec": ', r"is not valid JSON: .* line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"is not UTF-8 text|is not valid JSON"),
        (b"[1, 2, 3]", r"holds a JSON list; expected an object"),
    ],
)
def test_files_that_are_not_results(tmp_path, content, message) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        validate_file(path)


def test_cli_reports_every_file_and_exits_2(good_file, tmp_path, capsys) -> None:
    bad = edited(good_file, tmp_path, _set_acc)
    copy = shutil.copy(good_file, tmp_path / "copy.json")
    assert main(["validate", str(good_file), str(bad), str(copy)]) == 2
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ok", "error", "ok"]
    assert "metrics[0].acc=1.3" in out and "1 of 3 file(s) invalid" in err
    assert main(["validate", str(good_file)]) == 0


# --- what a file claims is recomputed, never believed ------------------------------------------


def _claim_privilege(data):
    data["privileged"] = True  # a naive-bayes result posing as a reference row


def _rename_to_bp(data):
    data["spec"]["model"] = "bp"  # registered privileged: a non-privileged claim is refused


def _huge_parameter_count(data):
    data["num_parameters"] = 10**400


def _escape_in_name(data):
    data["spec"]["model"] = "evil\x1b[2J\x1b[31mnet"


def _line_separator_in_label(data):
    data["spec"]["label"] = "nb\u2028# heading"


def _newline_in_option(data):
    data["spec"]["model_config"] = {"note": "a\n# heading"}


def _nested_options(data):
    inner: dict = {}
    data["spec"]["model_config"] = {"deep": inner}
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_claim_privilege, r"privileged=true is invalid: model 'naive-bayes' is registered by"),
        (_rename_to_bp, r"privileged=false is invalid: model 'bp' is registered privileged"),
        (_huge_parameter_count, r"num_parameters=a number of 401 digits is invalid"),
        (_escape_in_name, r"spec\.model=.* is invalid: plain text .*found \\x1b\)"),
        (_newline_in_option, r"spec\.model_config\.note=.*\(found \\n\)"),
        (_line_separator_in_label, r"spec\.label=.* is invalid: plain text .*found \\u2028\)"),
        (_nested_options, r"spec\.model_config\.deep(\.x)+ is nested too deeply"),
    ],
)
def test_claims_are_recomputed(good_file, tmp_path, edit, message) -> None:
    path = edited(good_file, tmp_path, edit)
    with pytest.raises(UsageError, match=message):
        validate_file(path)


def test_a_model_not_installed_is_noted_not_refused(good_file, tmp_path, capsys) -> None:
    path = edited(good_file, tmp_path, lambda d: d["spec"].update(model="my-awesome-net"))
    assert validate_file(path).spec.model == "my-awesome-net"
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: model 'my-awesome-net' is not installed here" in out and "ok: " in out


def test_deep_nesting_is_one_line_and_validate_goes_on(good_file, tmp_path, capsys) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(UsageError, match=r"deep\.json' is invalid: nested too deeply$"):
        validate_file(deep)
    assert main(["validate", str(deep), str(good_file)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("error: ") and "nested too deeply" in out[0]
    assert out[1].startswith("ok: ")


# --- the chance level is the suite's, recomputed -------------------------------------------------


@pytest.fixture(scope="module")
def two_classes_file(tmp_path_factory) -> Path:
    """A root run on a grammar whose root takes 2 of its q = 4 symbols."""
    result = smoke_result("prior", seeds="[0]", grammar_args='{"classes": 2}')
    return write_result(result, tmp_path_factory.mktemp("two-classes"))


def _chance(value: float):
    def edit(data):
        for cell in data["metrics"]:
            cell["chance"] = value

    return edit


def test_the_chance_of_a_root_with_fewer_classes_is_one_over_them(two_classes_file) -> None:
    assert {m.chance for m in validate_file(two_classes_file).metrics} == {0.5}


@pytest.mark.parametrize(
    ("which", "claimed", "message"),
    [
        ("two-classes", 0.25, "metrics[0].chance=0.25 is invalid: 1/n_c = 0.5"),  # 1/q there
        ("good", 0.5, "metrics[0].chance=0.5 is invalid: 1/q = 0.25"),
    ],
)
def test_a_chance_level_the_suite_does_not_give_is_refused(
    good_file, two_classes_file, tmp_path, which, claimed, message
) -> None:
    """Even with a headline recomputed from it: the chance comes from the suite."""

    def edit(data):
        _chance(claimed)(data)
        data["headline"] = headline(data["metrics"])

    path = edited(two_classes_file if which == "two-classes" else good_file, tmp_path, edit)
    report = inspect_file(path)
    assert report.problems and report.problems[0].startswith(message), report.problems
    assert len(report.problems) == len(report.result.metrics)  # every cell, nothing else


def test_the_chance_of_a_grammar_not_installed_is_noted(good_file, tmp_path) -> None:
    path = edited(good_file, tmp_path, lambda d: d["spec"]["suite"].update(grammar="my-grammar"))
    report = inspect_file(path)
    assert any("grammar 'my-grammar' is not installed here" in note for note in report.notes)
    assert not any("chance" in problem for problem in report.problems)


def test_a_grammar_too_large_to_build_is_noted_not_built(good_file, tmp_path, monkeypatch) -> None:
    """A file naming q = 600 would make a 1.7 GB grammar: validation notes it instead."""
    import hbench.results.validate as validate

    def never(*args, **kwargs):
        raise AssertionError("expected_chance must not build this grammar")

    monkeypatch.setattr(validate, "expected_chance", never)
    path = edited(good_file, tmp_path, lambda d: d["spec"]["suite"].update(q=600))
    report = inspect_file(path)
    assert any("larger than validation builds" in note for note in report.notes), report.notes


def test_random_sequences_without_a_possible_one_are_valid_without_scores(
    good_file, tmp_path
) -> None:
    def unscorable(data):
        cell = next(c for c in data["metrics"] if c["k_test"] == "ood")
        for name in ("kl_bp", "kl_bp_train", "agree", "agree_train", "kl_bp_se"):
            cell[name] = None
        cell.update(n_queries=0, possible=0.0, na_reason="no random sequence is possible")

    validate_file(edited(good_file, tmp_path, unscorable))

    def misplaced(data):
        data["metrics"][0].update(na_reason="no reason", possible=0.5)
        data["metrics"][0]["kl_bp"] = None

    report = inspect_file(edited(good_file, tmp_path, misplaced))
    assert any("na_reason is invalid" in p for p in report.problems)
    assert any("possible=0.5 is invalid" in p for p in report.problems)
    assert any("kl_bp=None is invalid" in p for p in report.problems)
