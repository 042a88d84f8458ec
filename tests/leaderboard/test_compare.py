"""`hbench leaderboard compare`: paired per-level differences with 95% intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hbench.cli import main
from hbench.errors import UsageError
from hbench.leaderboard.compare import compare, t975
from hbench.leaderboard.tree import load_tree, shown
from hbench.results import read_result, write_result
from hbench.run.execute import execute
from hbench.run.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2] / "leaderboards"


def board_file(task: str, model: str) -> Path:
    """The file of the model's row on the cpu board (a verified re-run replaces its claim)."""
    (entry,) = [e for e in shown(load_tree(ROOT)[("cpu", task)]) if e.result.spec.model == model]
    return ROOT / entry.path


def per_seed(path: Path) -> dict[tuple[int, int], float]:
    out = {}
    for c in read_result(path).metrics:
        if c.k_test == c.k_train:
            out[(c.seed, c.k_train)] = (c.acc - c.chance) / (c.acc_bp - c.chance)
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, Path]:
    """Smoke results on the very same test sets: runs replaying the same grammar seeds (not
    official), and one-seed runs on the public grammar (the committed boards hold official runs,
    each on grammars of its own)."""
    folder = tmp_path_factory.mktemp("shared")

    def one(model: str, seeds: list[int], **fields) -> Path:
        spec = RunSpec(model=model, suite="smoke", overrides={"seeds": seeds}, **fields)
        return write_result(execute(spec, in_process=True).result, folder)

    grammars = {"grammar_seeds": [11, 22, 33]}
    return {
        "naive-bayes": one("naive-bayes", [0, 1, 2], **grammars),
        "prior": one("prior", [0, 1, 2], **grammars),
        "naive-bayes-1": one("naive-bayes", [0]),
        "prior-1": one("prior", [0]),
    }


def test_paired_differences_on_shared_test_sets(shared) -> None:
    a, b = shared["naive-bayes"], shared["prior"]
    result = compare(a, b)
    assert result.paired
    sa, sb = per_seed(a), per_seed(b)
    for row in result.rows[:-1]:
        d = [sa[(s, row.level)] - sb[(s, row.level)] for s in (0, 1, 2)]
        mean = sum(d) / 3
        sd = (sum((x - mean) ** 2 for x in d) / 2) ** 0.5
        assert row.diff == pytest.approx(mean)
        assert row.high - row.diff == pytest.approx(t975(2) * sd / 3**0.5)
        assert row.low < row.diff < row.high and row.method == "paired over seeds"
    assert result.rows[-1].level == "mean"
    assert result.rows[-1].diff == pytest.approx(
        sum(r.diff for r in result.rows[:-1]) / (len(result.rows) - 1)
    )


def test_a_result_against_itself_is_exactly_zero() -> None:
    a = board_file("root", "treenet")
    for row in compare(a, a).rows:
        assert row.diff == 0 and row.low == 0 and row.high == 0


def test_one_seed_uses_the_test_set_alone(shared) -> None:
    result = compare(shared["naive-bayes-1"], shared["prior-1"])
    assert result.paired and all(r.seeds == 1 for r in result.rows)
    assert all("test set only" in r.method and r.low < r.diff < r.high for r in result.rows)


def test_official_runs_on_other_grammars_are_independent(results) -> None:
    result = compare(results["naive-bayes"], results["prior"])
    assert not result.paired
    assert all(r.method == "independent (Welch)" for r in result.rows)


def test_incomparable_results_are_refused() -> None:
    with pytest.raises(UsageError, match="are not comparable"):
        compare(board_file("root", "prior"), board_file("mlm", "prior"))


def test_cli_by_model_name_and_json(capsys) -> None:
    args = ["leaderboard", "compare", "naive-bayes", "prior", "--root", str(ROOT)]
    assert main([*args, "--suite", "cpu", "--task", "root", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # two official rows: each drew its own grammars
    assert not data["paired"] and data["rows"][-1]["level"] == "mean"
    assert main(args) == 2  # on several boards: which one?
    assert "pass --suite and --task" in capsys.readouterr().err
    assert main([*args, "--suite", "cpu", "--task", "root"]) == 0
    assert "independent test sets" in capsys.readouterr().out
