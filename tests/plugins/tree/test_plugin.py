"""The tree plugin's registrations: options of `hierarchical` and `rhm`, checked before building,
and the grammars they build, from Python and from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hbench.cli.app import main
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tree.grammar import build_grammar


def create(name: str, options: dict):
    item = get_registry().get("grammar", name)
    return item.create(item.validate_config(options))


def test_hierarchical_defaults_are_the_papers_grammar():
    model = create("hierarchical", {})
    reference = build_grammar(q=4, depth=4, sigma=1.0, seed=0)
    np.testing.assert_array_equal(model.productions, reference.productions)
    assert (model.arity, model.per_level, model.classes) == (2, False, 4)


def test_hierarchical_general_options():
    model = create(
        "hierarchical",
        {"q": 3, "depth": 2, "arity": 3, "per_level": True, "ambiguity": 0.3, "classes": 2},
    )
    assert model.productions.shape == (2, 3, 3, 3, 3) and model.length == 9
    assert model.classes == 2 and model.root_prior[2] == 0


def test_rhm_options_and_q_alias():
    model = create("rhm", {"v": 6, "n_c": 3, "m": 3, "s": 3, "depth": 2, "seed": 1})
    assert (model.q, model.classes, model.arity, model.length) == (6, 3, 3, 9)
    assert create("rhm", {"q": 6, "n_c": 3}).q == 6
    assert not create("rhm", {"shared_rules": True}).per_level


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("rhm", {"v": 4, "n_c": 5}, "n_c=5 is more than v=4"),
        ("rhm", {"v": 4, "n_c": 4, "m": 5}, r"m <= v\*\*\(s-1\)=4"),
        ("rhm", {"s": 1}, "greater than or equal to 2"),
        ("rhm", {"sigma": 1.0}, "sigma"),
        ("rhm", {"v": 64, "n_c": 2, "s": 5}, "production numbers"),
        ("hierarchical", {"ambiguity": 1.5}, "less than or equal to 1"),
        ("hierarchical", {"q": 3, "classes": 4}, "classes=4 is more than q=3"),
        ("hierarchical", {"arity": 1}, "greater than or equal to 2"),
    ],
)
def test_bad_options_are_one_usage_error(name, options, message):
    with pytest.raises(UsageError, match=message):
        get_registry().get("grammar", name).validate_config(options)


def test_oracle_table_on_rhm_from_the_command_line(capsys):
    argv = ["oracle-table", "--quiet", "--grammar", "rhm", "--depth", "2", "--n", "300"]
    argv += ["--grammar-arg", "v=4", "--grammar-arg", "n_c=3", "--grammar-arg", "m=2", "--json"]
    assert main(argv) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["levels"] == [0, 1, 2] and table["meta"]["grammar"] == "rhm"
    assert table["accuracy"][0][0] == 1.0  # unambiguous rules: the leaves give the root
    assert main(["oracle-table", "--grammar", "rhm", "--grammar-arg", "n_c=9"]) == 2
    assert "n_c=9 is more than v=8" in capsys.readouterr().err
