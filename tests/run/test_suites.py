"""The named suites: the published ones keep their hashes, every suite builds its grammar and
task, and each grammar gets only the options it has."""

from __future__ import annotations

import pytest

from hbench.registry.registry import get_registry
from hbench.run.spec import RunSpec
from hbench.run.suites import SUITES, Suite, get_suite

#: Results and leaderboards are filed under these: a change of the data or of the canonical
#: form must bump DATA_VERSION (and then these), never happen silently.
PUBLISHED_HASHES = {
    "smoke": "4733a9f2e4081627",
    "cpu": "963ee454b4b67aff",
    "paper": "ddfdd3cb897fa6d4",
}

NEW_CPU_SUITES = ("rhm-cpu", "next-token-cpu", "ambiguous-cpu")


@pytest.mark.parametrize("name", list(PUBLISHED_HASHES))
def test_published_suites_keep_their_hash(name: str) -> None:
    assert SUITES[name].spec_hash() == PUBLISHED_HASHES[name]


@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_resolves_and_builds(name: str) -> None:
    """Its options fit its grammar and task (checked as a run would, before any fit)."""
    suite = SUITES[name]
    registry = get_registry()
    RunSpec(model="prior", suite=name).resolve(registry)
    grammar = registry.get("grammar", suite.grammar).create(suite.grammar_config())
    task = registry.get("task", suite.task).create()
    spec = task.spec(grammar)
    assert spec.q == suite.q and grammar.depth == suite.depth
    assert spec.length == grammar.length


@pytest.mark.parametrize("name", NEW_CPU_SUITES)
def test_new_cpu_suites_are_leaderboard_suites(name: str) -> None:
    suite = SUITES[name]
    assert suite.leaderboard
    assert suite.P == SUITES["cpu"].P and suite.n_test == SUITES["cpu"].n_test


def test_sigma_goes_to_the_paper_grammar_only() -> None:
    assert SUITES["cpu"].grammar_config() == {"q": 4, "depth": 4, "seed": 0, "sigma": 1.0}
    rhm = SUITES["rhm-cpu"].grammar_config()
    assert "sigma" not in rhm
    assert rhm == {"q": 8, "depth": 4, "seed": 0, "n_c": 8, "m": 4, "s": 2}
    assert SUITES["ambiguous-cpu"].grammar_config()["ambiguity"] == 1 / 16


def test_grammar_args_override_and_remove_options() -> None:
    suite = Suite(name="x", P=1, n_test=1, n_ood=0, grammar_args={"sigma": 2.0, "seed": None})
    assert suite.grammar_config() == {"q": 4, "depth": 4, "sigma": 2.0}
    own = Suite(name="y", grammar="mine", P=1, n_test=1, n_ood=0, grammar_args={"sigma": 0.5})
    assert own.grammar_config()["sigma"] == 0.5


def test_rhm_suite_overrides_reach_the_grammar() -> None:
    suite = get_suite("rhm-cpu", {"grammar_args": '{"n_c": 4, "m": 2, "s": 2}'})
    grammar = get_registry().get("grammar", "rhm").create(suite.grammar_config())
    assert grammar.classes == 4
