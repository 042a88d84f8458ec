"""Sweep files: the grid they expand to, and one clear line (exit 2) for every bad file."""

from __future__ import annotations

import pytest

from hbench.cli import main
from hbench.sweep.file import load_sweep

GOOD = """
name = "tiny"
suite = "smoke"
out = "{out}"

[set]
n_test = 64
n_ood = 0

[axes]
P = [128, 256]
train_filter = [0, 3]
seed = [0, 1, 2]

[[models]]
name = "naive-bayes"

[[models]]
name = "prior"
axes = {{ P = [128] }}
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text.format(out=tmp_path / "out"), encoding="utf-8")
    return path


def test_grid_expands_axes_per_model(tmp_path):
    sweep = load_sweep(write(tmp_path, GOOD))
    assert len(sweep.cells) == 2 * 2 * 3 + 1 * 2 * 3
    assert len({cell.filename for cell in sweep.cells}) == len(sweep.cells)
    cell = sweep.cells[0]
    assert cell.values == {"P": 128, "train_filter": 0, "seed": 0}
    request = cell.spec.resolve()
    assert request.suite.train_levels == [0] and request.suite.seeds == [0]
    assert request.suite.n_test == 64 and request.suite.P == 128
    assert {c.values["P"] for c in sweep.cells if c.spec.model == "prior"} == {128}
    assert sweep.results == tmp_path / "out" / "results"


def test_tasks_and_task_args(tmp_path):
    text = GOOD.replace(
        "[set]", 'tasks = ["root", "mlm"]\n[task_args.mlm]\nmask_rate = 0.25\n[set]'
    )
    sweep = load_sweep(write(tmp_path, text))
    assert len(sweep.cells) == 2 * 18
    mlm = [cell for cell in sweep.cells if cell.values["task"] == "mlm"]
    assert len(mlm) == 18 and all(c.spec.task_args == {"mask_rate": 0.25} for c in mlm)
    assert all(c.spec.overrides["task"] == "mlm" for c in mlm)
    root = [cell for cell in sweep.cells if cell.values["task"] == "root"]
    assert all(c.spec.task_args == {} for c in root)
    assert len({c.filename for c in sweep.cells}) == 36


def test_dry_run_lists_cells(tmp_path, capsys):
    assert main(["sweep", str(write(tmp_path, GOOD)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "18 cells, 0 already done, 18 to run" in out
    assert "naive-bayes P=256 train_filter=3 seed=2" in out
    assert not (tmp_path / "out").exists()


BAD = {
    "unknown model": (
        GOOD.replace('name = "prior"', 'name = "priorr"'),
        "models[1].name='priorr' is invalid: unknown model 'priorr'; did you mean 'prior'?",
    ),
    "empty axis": (
        GOOD.replace("seed = [0, 1, 2]", "seed = []"),
        "axes.seed: [] is invalid: an axis needs at least one value",
    ),
    "repeated axis value": (
        GOOD.replace("seed = [0, 1, 2]", "seed = [0, 0]"),
        "axes.seed: [0, 0] is invalid: the value 0 is listed twice",
    ),
    "wrong type of a field": (
        GOOD.replace('suite = "smoke"', "suite = 3"),
        "suite: 3 is invalid: must be a valid string",
    ),
    "wrong type of an axis value": (
        GOOD.replace("P = [128, 256]", 'P = [128, "many"]'),
        "axes.P=many is invalid for suite 'smoke': must be a valid integer",
    ),
    "level out of range": (
        GOOD.replace("train_filter = [0, 3]", "train_filter = [0, 9]"),
        "the suite fields of the sweep is invalid for suite 'smoke': train_filters=[9] outside",
    ),
    "unknown field": (
        GOOD.replace('suite = "smoke"', 'suite = "smoke"\nsedes = [1]'),
        "sedes: unknown field; allowed: name, description, suite, out, tasks",
    ),
    "unknown model field": (
        GOOD.replace('name = "naive-bayes"', 'name = "naive-bayes"\nargz = {{}}'),
        "models[0].argz: unknown field; allowed: name, label, args",
    ),
    "unknown suite field on an axis": (
        GOOD.replace("P = [128, 256]", "Pp = [128, 256]"),
        "axes.Pp=128 is invalid: suites have no field 'Pp'; did you mean 'P'?",
    ),
    "unknown model option": (
        GOOD.replace('name = "naive-bayes"', 'name = "naive-bayes"\nargs = {{ alpah = 1 }}'),
        "models[0].args.alpah=1 is invalid: model 'naive-bayes'",
    ),
    "field both fixed and an axis": (
        GOOD.replace("n_test = 64", "n_test = 64\nP = 64"),
        "set.P is invalid: 'P' is also an axis",
    ),
    "two models give one point": (
        GOOD.replace('name = "prior"', 'name = "naive-bayes"\nargs = {{ alpha = 0.5 }}'),
        "models[1] and models[0] both give the cell naive-bayes P=128 train_filter=0 seed=0;"
        " give them different labels",
    ),
    "task_args without tasks": (
        GOOD.replace("[axes]", "[task_args.mlm]\nmask_rate = 0.2\n[axes]"),
        "task_args.mlm is given but tasks is not",
    ),
    "a suite field the grammar ignores": (
        GOOD.replace('suite = "smoke"', 'suite = "rhm-cpu"').replace("n_ood = 0", "sigma = 2.0"),
        "set.sigma=2.0 is invalid for suite 'rhm-cpu': its grammar 'rhm' has no option 'sigma'",
    ),
    "missing out": (GOOD.replace('out = "{out}"', ""), "out: is required"),
    "not TOML": (GOOD.replace("[axes]", "[axes"), "is not valid TOML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_sweep_file_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    path = write(tmp_path, text)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hbench: error: sweep file '{path}'"), err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_options(tmp_path, capsys):
    path = str(write(tmp_path, GOOD))
    assert main(["sweep", path, "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler='tcp://127.0.0.1:1' is invalid: only with --executor dask" in (
        capsys.readouterr().err
    )
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml' is invalid: no such sweep file" in capsys.readouterr().err


def test_a_huge_grid_is_refused_from_the_axes_lengths(tmp_path, capsys):
    values = ", ".join(map(str, range(1, 301)))
    text = GOOD.replace("[axes]", f"[axes]\nn_ood = [{values}]\ngrammar_seed = [{values}]")
    path = write(
        tmp_path, text.replace("seed = [0, 1, 2]", "seed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")
    )
    for argv in (["--dry-run"], [], ["--json", "--dry-run"]):
        assert main(["sweep", str(path), *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert "the grid is invalid: 5,400,000 cells (axes n_ood (300) x grammar_seed" in err
        assert "at most 100,000 are allowed" in err
    assert not (tmp_path / "out").exists()


def test_grid_size_counts_every_model_and_task(tmp_path):
    from hbench.sweep.file import grid_size, read_sweep_file

    text = GOOD.replace("[set]", 'tasks = ["root", "mlm"]\n[set]')
    config = read_sweep_file(write(tmp_path, text))
    assert grid_size(config) == 2 * (2 * 2 * 3 + 1 * 2 * 3)
    assert grid_size(config) == len(load_sweep(write(tmp_path, text)).cells)


@pytest.mark.parametrize(
    "address", ["nonsense", "tcp://", "tcp://host", "tcp://host:99999", "http://host:8786", "a b:1"]
)
def test_a_bad_scheduler_address_is_refused_before_any_work(tmp_path, capsys, address):
    path = write(tmp_path, GOOD)
    code = main(["sweep", str(path), "--executor", "dask", "--scheduler", address])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f"hbench: error: --scheduler={address!r} is invalid: an address like tcp://HOST:8786"
        " (scheme tcp, tls, ucx, ws, wss; a host and a port in 1..65535)\n"
    )


def test_good_scheduler_addresses_pass_the_check():
    from hbench.sweep.executors import check_scheduler_address

    for address in ("tcp://10.0.0.1:8786", "node-3.cluster:8786", "tls://[::1]:8786"):
        assert check_scheduler_address(address) == address


def test_a_sweep_out_folder_name_too_long_is_refused(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert main(["sweep", str(path), "--out", str(tmp_path / ("o" * 300))]) == 2
    assert "folder names of at most" in capsys.readouterr().err
