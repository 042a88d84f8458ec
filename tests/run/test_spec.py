"""RunSpec: validation in the user's words, a hash that names the run, and run_cell."""

from __future__ import annotations

import json
import pickle

import pytest

from hbench.errors import UsageError
from hbench.results import read_result
from hbench.run.execute import execute
from hbench.run.spec import RunSpec, python_spelling
from hbench.sweep.cell import run_cell

SMOKE = {"suite": "smoke", "overrides": {"P": 128, "n_test": 64, "n_ood": 0, "seeds": [0]}}


def test_hash_ignores_spelling_but_not_content():
    plain = RunSpec(model="naive-bayes", **SMOKE)
    explicit = RunSpec(model="naive-bayes", model_args={"alpha": 1.0}, **SMOKE)
    assert plain.spec_hash() == explicit.spec_hash()
    assert plain.filename() == f"naive-bayes_{plain.spec_hash()}.json"
    other_budget = RunSpec(
        model="naive-bayes", **{**SMOKE, "overrides": {**SMOKE["overrides"], "P": 256}}
    )
    other_alpha = RunSpec(model="naive-bayes", model_args={"alpha": 0.5}, **SMOKE)
    labelled = RunSpec(model="naive-bayes", label="nb", **SMOKE)
    hashes = {s.spec_hash() for s in (plain, other_budget, other_alpha, labelled)}
    assert len(hashes) == 4
    assert labelled.filename().startswith("nb_")


def test_request_errors_name_the_option_as_typed():
    with pytest.raises(UsageError, match=r"--model-arg alpah=1 is invalid"):
        RunSpec(model="naive-bayes", model_args={"alpah": 1}, **SMOKE).resolve()
    with pytest.raises(UsageError, match=r"--set P=0 is invalid for suite 'smoke'"):
        RunSpec(model="prior", suite="smoke", overrides={"P": 0}).resolve()
    with pytest.raises(UsageError, match=r"unknown model 'priorr'; did you mean 'prior'"):
        RunSpec(model="priorr", **SMOKE).resolve()


def test_a_suite_field_the_grammar_ignores_is_refused_as_typed():
    """rhm has no sigma: the override would change the run's hash and nothing else."""
    spec = RunSpec(model="prior", suite="rhm-cpu", overrides={"sigma": 2})
    with pytest.raises(UsageError, match=r"^--set sigma=2 is invalid for suite 'rhm-cpu': its"):
        spec.resolve()
    with pytest.raises(UsageError, match=r"^overrides\['sigma'\]=2 is invalid for suite"):
        spec.resolve(spell=python_spelling)


def test_run_cell_writes_the_run_of_hbench_run(tmp_path):
    spec = RunSpec(model="naive-bayes", **SMOKE)
    spec = pickle.loads(pickle.dumps(spec))  # what a process pool or a Dask worker receives
    path = run_cell(spec, str(tmp_path), threads=1)
    assert path == str(tmp_path / spec.filename())
    result = read_result(path)
    assert result.extra["cell"]["hash"] == spec.spec_hash()
    assert result.extra["cell"]["spec"] == json.loads(spec.model_dump_json())
    direct = execute(spec.resolve()).result
    assert [m.model_dump() for m in result.metrics] == [m.model_dump() for m in direct.metrics]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"overrides": {"P": True}}, r"overrides\['P'\]=True is invalid: must be an integer"),
        ({"overrides": {"grammar_seed": 10**23}}, r"magnitude below 2\*\*63"),
        ({"overrides": {"sigma": float("inf")}}, r"overrides\['sigma'\]=inf is invalid: must be"),
        ({"task_args": {"mask_rate": float("nan")}}, "must be a finite number"),
        ({"model_args": {"alpha": "inf"}}, r"model_args\['alpha'\]='inf' is invalid: must be a"),
    ],
)
def test_values_pydantic_would_bend_are_refused(fields, message):
    spec = RunSpec(model="naive-bayes", suite="smoke", **fields)
    with pytest.raises(UsageError, match=message):
        spec.resolve(spell=python_spelling)


def test_a_bad_spec_field_is_one_line_in_the_users_words():
    from hbench.run.spec import new_spec

    with pytest.raises(UsageError, match=r"^threads=1000000 is invalid: must be less than or"):
        new_spec(python_spelling, model="prior", threads=1_000_000)
    with pytest.raises(UsageError, match=r"^--threads-per-fit=0 is invalid"):
        new_spec(model="prior", threads=0)
    with pytest.raises(UsageError, match=r"--label='a\\nb' is invalid: must be 1 to 100"):
        new_spec(model="prior", label="a\nb")
