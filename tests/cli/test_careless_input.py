"""Careless input on the command line: one line naming the option, the value and what is
allowed, exit code 2, before any work, and nothing written or overwritten that was not named."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from hbench.cli import main

SMOKE = ["--suite", "smoke", "--set", "P=64", "--set", "n_test=32", "--set", "n_ood=16"]


def run_cli(capsys, *argv):
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exc:  # argparse's own usage errors (exit code 2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threads-per-fit", "1000000"], "--threads-per-fit: expected an integer in [1, 1024]"),
        (["--official", "--grammar-seeds", str(1 << 63)], "--grammar-seeds: expected integers"),
        (["--model-arg", "alpha=" + "9" * 5000], "--model-arg alpha='99999"),
        (["--model-arg", "alpha=inf"], "--model-arg alpha=inf is invalid: must be a finite"),
        (["--model-arg", "alpha=NaN"], "must be a finite number"),
        (["--model-arg", "alpha=1e999"], "must be a finite number"),
        (["--set", "grammar_seed=99999999999999999999999"], "--set grammar_seed=9999"),
        (["--seeds", "99999999999999999999"], "--seeds: expected integers in [0, 2**63)"),
        (["--seeds", "0,,1"], "--seeds: expected integers >= 0 separated by single commas"),
        (["--seeds", "0,"], "separated by single commas"),
        (["--set", "depth=true"], "--set depth=true is invalid: must be an integer (not true/"),
        (["--set", "depth=3.0"], "--set depth=3.0 is invalid: must be an integer written"),
        (["--set", "seeds=[0, true]"], "a list of integers"),
        (["--label", "a\x1b[31mred"], "--label='a\\x1b[31mred' is invalid: must be 1 to 100"),
    ],
)
def test_careless_run_options_are_refused_before_any_work(capsys, tmp_path, argv, message):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", "--model", "naive-bayes", *SMOKE, *argv, "--out", out)
    assert code == 2, err
    assert message in err and "Traceback" not in err and "pydantic" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("epochs=1e12", "--model-arg epochs=1000000000000.0 is invalid: must be an integer"),
        ("epochs=1000000000000", "--model-arg epochs=1000000000000 is invalid"),
        ("epochs=true", "must be an integer (not true/false)"),
        ("lr=inf", "--model-arg lr=inf is invalid: must be a finite number"),
    ],
)
def test_careless_transformer_options(capsys, tmp_path, arg, message):
    code, _, err = run_cli(
        capsys, "run", "--model", "transformer", *SMOKE, "--model-arg", arg, "--out", tmp_path
    )
    assert code == 2 and message in err, err


def test_save_never_replaces_a_file_it_did_not_make_nor_makes_folders(capsys, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    earlier = results / "earlier.json"
    earlier.write_text("{}")
    argv = ["run", "--model", "transformer", *SMOKE, "--out", str(results), "--model-arg"]
    code, _, err = run_cli(capsys, *argv, f"save={earlier}")
    assert code == 2 and "it exists; --overwrite lets the run replace it" in err
    assert earlier.read_text() == "{}"
    code, _, err = run_cli(capsys, *argv, f"save={tmp_path / 'new' / 'deeper' / 'm.pt'}")
    assert code == 2 and "a file in an existing folder" in err
    assert not (tmp_path / "new").exists()
    assert sorted(os.listdir(results)) == ["earlier.json"]


def test_a_finished_run_is_reused_unless_overwrite(capsys, tmp_path):
    argv = ["run", "--model", "naive-bayes", *SMOKE, "--out", str(tmp_path), "--quiet"]
    code, out, err = run_cli(capsys, *argv, "--label", "nb")
    assert code == 0, err
    (first,) = tmp_path.glob("*.json")
    code, out, err = run_cli(capsys, *argv, "--label", "nb")
    assert code == 0, err
    assert f"reused {first}" in out and "wrote" not in out
    assert "made by other code" not in out
    assert list(tmp_path.glob("*.json")) == [first]
    data = json.loads(first.read_text())  # as if hbench had changed since the run
    data["environment"]["sources"]["hbench"] = "files:sha256:" + "0" * 64
    first.write_text(json.dumps(data))
    code, out, err = run_cli(capsys, *argv, "--label", "nb")
    assert "made by other code (hbench changed since); --overwrite runs it again" in out
    code, out, err = run_cli(capsys, *argv, "--label", "nb", "--json")
    assert json.loads(out)["reused"] is True
    # another label is another spec; --overwrite replaces the run, it does not add one
    code, out, err = run_cli(capsys, *argv, "--label", "other")
    assert code == 0 and len(list(tmp_path.glob("*.json"))) == 2
    code, out, err = run_cli(capsys, *argv, "--label", "nb", "--overwrite")
    assert code == 0 and "reused " not in out
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2 and first not in files

    from hbench.results import load_results

    table = load_results(tmp_path)
    assert set(table["label"]) == {"nb", "other"}
    assert len(table) == 2 * len(table[table["label"] == "nb"])


def test_oracle_table_answers_every_task_its_help_lists(capsys):
    code, out, err = run_cli(
        capsys, "oracle-table", "--task", "ancestor", "--q", "3", "--depth", "3", "--n", "20"
    )
    assert code == 0, err
    assert "BP_1" in out and "BP_2" not in out  # depth 1 is asked at filter levels <= 1


def test_a_productions_header_claiming_terabytes_is_refused(capsys, tmp_path):
    header = io.BytesIO()
    fields = {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4, 4)}
    np.lib.format.write_array_header_1_0(header, fields)
    path = tmp_path / "huge.npy"
    path.write_bytes(header.getvalue() + bytes(128))
    out = tmp_path / "trees.npz"
    code, _, err = run_cli(
        capsys, "generate", "--productions", str(path), "--depth", "2", "--n", "4", "--out", out
    )
    assert code == 2 and "--productions=" in err and "its header claims shape" in err, err
    assert "MemoryError" not in err and not out.exists()


def test_deeply_nested_files_are_one_line(capsys, tmp_path):
    sweep = tmp_path / "deep.toml"
    sweep.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    code, _, err = run_cli(capsys, "sweep", str(sweep), "--dry-run")
    assert code == 2 and "nested too deeply" in err and "Recursion" not in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    code, _, err = run_cli(capsys, "analyze", "mismatch", str(deep))
    assert code == 2 and "nested too deeply" in err and "Recursion" not in err


SWEEP = """
suite = "smoke"
out = "{out}"

[set]
P = 64
n_test = 32
n_ood = 16

[[models]]
name = "naive-bayes"
label = "{label}"
"""


def test_sweep_dry_run_checks_out_and_labels_print_without_escape_codes(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = tmp_path / "s.toml"
    path.write_text(SWEEP.format(out=blocker / "out", label="nb"))
    code, _, err = run_cli(capsys, "sweep", str(path), "--dry-run")
    assert code == 2 and "is a file" in err, err
    path.write_text(SWEEP.format(out=tmp_path / "out", label="nb\\u001b]0;owned\\u0007"))
    code, out, err = run_cli(capsys, "sweep", str(path), "--dry-run")
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert not (tmp_path / "out").exists()


def test_sweep_workers_are_capped_to_the_cores(capsys, tmp_path):
    from hbench.cli.sweep import _workers

    assert _workers(40, "local", None, 2) == 2
    assert "--workers 40 is more than the 2 core(s)" in capsys.readouterr().err
    assert _workers(None, "local", None, 2) == 2 and _workers(2, "local", None, 4) == 2
    assert _workers(40, "dask", "tcp://h:8786", 2) == 40  # a cluster's workers are not ours


def test_a_models_exception_reaches_the_terminal_without_escape_codes(capsys, monkeypatch):
    from hbench.cli import data
    from hbench.errors import PluginError

    def fail(args):
        raise PluginError("model 'x' failed: \x1b[2J\x1b]0;title\x07boom\u2028next")

    monkeypatch.setattr(data, "cmd_list", fail)
    code = main(["list", "models"])
    err = capsys.readouterr().err
    assert code == 1 and "boom next" in err
    assert "\x1b" not in err and "\x07" not in err and "\u2028" not in err

    def crash(args):
        raise RuntimeError("\x1b[31mred\x1b[0m")

    monkeypatch.setattr(data, "cmd_list", crash)
    assert main(["list", "models"]) == 1
    err = capsys.readouterr().err
    assert "red" in err and "\x1b" not in err


def test_report_only_refuses_a_missing_folder(capsys, tmp_path):
    missing = tmp_path / "nonexistent" / "r"
    code, _, err = run_cli(capsys, "reproduce", "--report-only", "--out", str(missing))
    assert code == 2 and "--out=" in err and "an existing reproduction folder" in err
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("name", ["hbench", "hbench-tree", "hbench-transformer", "numpy"])
def test_new_plugin_refuses_names_that_are_taken(capsys, tmp_path, name):
    code, _, err = run_cli(capsys, "new-plugin", name, "--dir", str(tmp_path))
    assert code == 2 and f"NAME={name!r} is invalid" in err
    assert not list(tmp_path.iterdir())


def test_grammar_options_beyond_64_bits_are_refused(capsys, tmp_path):
    out = tmp_path / "trees.npz"
    argv = ["generate", "--depth", "2", "--n", "4", "--out", out]
    code, _, err = run_cli(capsys, *argv, "--grammar-seed", "99999999999999999999999")
    assert code == 2 and "--grammar-seed=99999999999999999999999 is invalid" in err
    assert not out.exists()
