"""`hbench run --config FILE`: the run's options from TOML, the command line winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbench.cli import main
from hbench.results import read_result

#: A run of seconds: the class prior on the smoke suite, in this process.
SMALL = """
model = "prior"
suite = "smoke"
seeds = [0]
train_filters = [0, 1]
set = { P = 256, n_test = 64 }
in_process = true
threads_per_fit = 1
"""


def _write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _result(folder: Path):
    files = sorted(folder.glob("*.json"))
    assert len(files) == 1, files
    return read_result(files[0])


def test_a_config_file_sets_every_option_of_the_run(tmp_path, capsys) -> None:
    config = _write(tmp_path, SMALL + f'out = "{tmp_path / "runs"}"\n')
    assert main(["run", "--config", str(config), "--quiet"]) == 0, capsys.readouterr().err
    result = _result(tmp_path / "runs")
    assert result.spec.model == "prior" and result.spec.suite_name == "smoke"
    assert list(result.spec.seeds) == [0]
    assert sorted({row.k_train for row in result.metrics}) == [0, 1]
    assert result.isolation != "process"  # in_process = true reached the harness


def test_the_command_line_wins_over_the_file(tmp_path, capsys) -> None:
    config = _write(tmp_path, SMALL + 'out = "elsewhere"\n')
    out = tmp_path / "cli"
    argv = ["run", "--config", str(config), "--seeds", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    result = _result(out)
    assert list(result.spec.seeds) == [2]
    assert not (tmp_path / "elsewhere").exists()


def test_a_flag_given_with_its_default_value_still_wins(tmp_path, capsys) -> None:
    # "--suite cpu" is the default: it must still override the file's suite (which is bogus)
    config = _write(tmp_path, 'model = "prior"\nsuite = "no-such-suite"\n')
    code = main(["run", "--config", str(config), "--suite", "cpu", "--set", "P=0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-suite" not in err and "P" in err


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("sede = [0]", "unknown key 'sede'; did you mean 'seeds'?"),
        ('seeds = "zero"', 'seeds = "zero" is invalid'),
        ("threads = 2.5", "threads = 2.5 is invalid"),
        ("jobs = true", "jobs = true is invalid"),
        ('in_process = "yes"', 'in_process = "yes" is invalid: expected true or false'),
        ("model_args = 3", "model_args = 3 is invalid: expected a table"),
        ('device = "tpu"', 'device = "tpu" is invalid: expected one of auto, cpu, cuda'),
        ("suite = 3", "suite = 3 is invalid: expected text"),
        ("seeds = [0, [1]]", "seeds = [0, [1]] is invalid"),
        ("model = ", "is not valid TOML"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(tmp_path, capsys, text, named) -> None:
    config = _write(tmp_path, text + "\n")
    code = main(["run", "--config", str(config), "--model", "prior", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and named in err, err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.json"))


def test_a_missing_file_and_a_missing_model_are_refused(tmp_path, capsys) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.toml"), "--model", "prior"]) == 2
    assert "does not exist" in capsys.readouterr().err
    config = _write(tmp_path, 'suite = "smoke"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert "--model is required" in capsys.readouterr().err


def test_help_shows_the_defaults_as_before(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "(default: cpu)" in out and "--config FILE" in out
