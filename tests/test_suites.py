"""The named suites: the published ones keep their hashes, every suite builds its grammar and
task, and each grammar gets only the options it has."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from hbench.errors import UsageError
from hbench.registry.registry import Registration, Registry, get_registry
from hbench.registry.suites import SUITES, get_suite
from hbench.run.spec import RunSpec
from hbench.suites import Suite, config_options
from hbench_tree.suites import N_TEST

#: What result files of schema version < 5 record as ``suite_hash`` (the canonical form with the
#: seed list, `Suite.seeded_hash`): migrating them relies on these staying what they were, for the
#: suites as they were then (one test size, `OLD_N_TEST`, before sizes per level).
PUBLISHED_HASHES = {
    "smoke": "4733a9f2e4081627",
    "cpu": "963ee454b4b67aff",
    "paper": "ddfdd3cb897fa6d4",
}
#: The one test size of each suite before test sets were sized per level.
OLD_N_TEST = {"smoke": 256}

#: The suite's one hash (`Suite.spec_hash`, without the seed list): printed by ``hbench run``,
#: recorded in results of schema version 5, shown on boards. A change of the data or of the
#: canonical form must bump DATA_VERSION (and then these), never happen silently.
SUITE_HASHES = {
    "smoke": "5440db606cc3e400",
    "cpu": "aea9439f3842400a",
    "paper": "72b90d111db659c9",
    "rhm-cpu": "196b6e66f1095c3d",
    "next-token-cpu": "7b12d2d2a47675b1",
    "ambiguous-cpu": "ecde67938cf805df",
    "rhm-paper": "832fae664c36dec6",
    "next-token-paper": "ca3a62629623aac3",
}
#: The same before test sets were sized per level (every suite but smoke had 2^15 sequences at
#: every level): what the boards' older rows record.
OLD_SUITE_HASHES = {
    "smoke": "5440db606cc3e400",
    "cpu": "75994d70dac3fd4b",
    "paper": "c8dd3e317857a30f",
    "rhm-cpu": "f9f6f217fbaec3ee",
    "next-token-cpu": "d50ff84a7ea62c0e",
    "ambiguous-cpu": "b29af297318adf26",
    "rhm-paper": "4ec4f0743e3121af",
    "next-token-paper": "0ee182865a1bfd52",
}


def as_published(name: str) -> Suite:
    """The suite as it was before test sets were sized per level."""
    return SUITES[name].model_copy(update={"n_test": OLD_N_TEST.get(name, 1 << 15)})


NEW_CPU_SUITES = ("rhm-cpu", "next-token-cpu", "ambiguous-cpu")


@pytest.mark.parametrize("name", list(PUBLISHED_HASHES))
def test_published_suites_keep_their_hash(name: str) -> None:
    assert as_published(name).seeded_hash() == PUBLISHED_HASHES[name]
    assert as_published(name).spec_hash() == OLD_SUITE_HASHES[name]
    assert SUITES[name].spec_hash() == SUITE_HASHES[name]


def test_one_suite_hash_whatever_the_seeds_but_not_the_task() -> None:
    cpu = SUITES["cpu"]
    five = cpu.model_copy(update={"seeds": [0, 1, 2, 3, 4]})
    assert five.spec_hash() == cpu.spec_hash() and five.seeded_hash() != cpu.seeded_hash()
    # the same data asked another question is another suite, as its board says
    assert cpu.model_copy(update={"task": "next-token"}).spec_hash() != cpu.spec_hash()


@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_resolves_and_builds(name: str) -> None:
    """Its options fit its grammar and task (checked as a run would, before any fit)."""
    suite = SUITES[name]
    registry = get_registry()
    RunSpec(model="prior", suite=name).resolve(registry)
    grammar = registry.get("grammar", suite.grammar).create(suite.grammar_config(get_registry()))
    task = registry.get("task", suite.task).create()
    spec = task.spec(grammar)
    assert spec.q == suite.q and grammar.depth == suite.depth
    assert spec.length == grammar.length


@pytest.mark.parametrize("name", NEW_CPU_SUITES)
def test_new_cpu_suites_are_leaderboard_suites(name: str) -> None:
    suite = SUITES[name]
    assert suite.leaderboard
    assert suite.P == SUITES["cpu"].P
    # sized per level for their own grammar and task, never fewer than the smallest size
    assert all(suite.test_size(k) >= N_TEST for k in suite.levels)


def test_sigma_goes_to_the_paper_grammar_only() -> None:
    assert SUITES["cpu"].grammar_config(get_registry()) == {
        "q": 4,
        "depth": 4,
        "seed": 0,
        "sigma": 1.0,
    }
    rhm = SUITES["rhm-cpu"].grammar_config(get_registry())
    assert "sigma" not in rhm
    assert rhm == {"q": 8, "depth": 4, "seed": 0, "n_c": 8, "m": 4, "s": 2}
    assert SUITES["ambiguous-cpu"].grammar_config(get_registry())["ambiguity"] == 1 / 16


class MineConfig(BaseModel):
    """A grammar with a seed and a width of its own, and no depth, q or sigma."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    width: int = 2


def mine_registry() -> Registry:
    """A grammar of its own, and the built-in smoke suite to override."""
    item = Registration("grammar", "mine", lambda config: config, MineConfig, plugin="test")
    return Registry([item, get_registry().get("suite", "smoke")])


def test_grammar_args_override_and_remove_options() -> None:
    suite = Suite(name="x", P=1, n_test=1, n_ood=0, grammar_args={"sigma": 2.0, "seed": None})
    assert suite.grammar_config(get_registry()) == {"q": 4, "depth": 4, "sigma": 2.0}
    own = Suite(name="y", grammar="mine", P=1, n_test=1, n_ood=0, grammar_args={"width": 5})
    assert own.grammar_config(mine_registry()) == {"seed": 0, "width": 5}


def test_the_grammars_config_decides_which_suite_fields_it_gets() -> None:
    """Read from the registered config class, aliases included (rhm's v is also q)."""
    registry = get_registry()
    rhm = config_options(registry.get("grammar", "rhm").config)
    assert {"q", "v", "depth", "seed", "n_c"} <= rhm and "sigma" not in rhm
    fields = {"q": "q", "depth": "depth", "grammar_seed": "seed"}
    assert SUITES["rhm-cpu"].grammar_fields(get_registry()) == fields
    assert SUITES["cpu"].grammar_fields(get_registry())["sigma"] == "sigma"
    own = Suite(name="y", grammar="mine", P=1, n_test=1, n_ood=0)
    assert own.grammar_fields(mine_registry()) == {"grammar_seed": "seed"}


@pytest.mark.parametrize(
    ("suite", "overrides", "given"),
    [
        ("rhm-cpu", {"sigma": "2"}, "--set sigma=2"),
        ("rhm-paper", {"sigma": "1"}, "--set sigma=1"),  # even at its value: it does nothing
        ("cpu", {"grammar": "rhm", "grammar_args": '{"n_c": 4}', "sigma": "2"}, "--set sigma=2"),
    ],
)
def test_an_override_the_grammar_ignores_is_refused(suite, overrides, given) -> None:
    with pytest.raises(UsageError) as caught:
        get_suite(suite, overrides)
    message = str(caught.value)
    assert message.startswith(f"{given} is invalid for suite {suite!r}: its grammar 'rhm' has")
    assert "no option 'sigma'" in message and "options: v, n_c, m, s, depth, seed" in message


def test_overrides_the_grammar_takes_pass() -> None:
    # a suite sized per level takes another depth with test sizes for it
    overrides = {"q": "16", "depth": "3", "grammar_seed": "2", "n_test": "1000"}
    assert get_suite("rhm-cpu", overrides).q == 16
    assert get_suite("cpu", {"sigma": "2"}).grammar_config(get_registry())["sigma"] == 2.0
    own = get_suite("smoke", {"grammar": "mine", "grammar_seed": "3"}, registry=mine_registry())
    assert own.grammar_config(mine_registry()) == {"seed": 3}
    with pytest.raises(UsageError, match=r"--set depth=2 is invalid for suite 'smoke': its"):
        get_suite("smoke", {"grammar": "mine", "depth": "2"}, registry=mine_registry())


def test_an_override_that_grammar_args_also_set_is_refused() -> None:
    """grammar_args take precedence over the suite's fields: --set sigma=3 would do nothing."""
    overrides = {"grammar_args": '{"sigma": 2.0}', "sigma": "3"}
    with pytest.raises(UsageError) as caught:
        get_suite("cpu", overrides)
    assert str(caught.value) == (
        "--set sigma=3 is invalid for suite 'cpu': its grammar_args set sigma=2.0, which the"
        " grammar takes instead; change grammar_args"
    )
    assert (
        get_suite("cpu", {"grammar_args": '{"sigma": 2.0}'}).grammar_config(get_registry())["sigma"]
        == 2.0
    )


def test_rhm_suite_overrides_reach_the_grammar() -> None:
    suite = get_suite("rhm-cpu", {"grammar_args": '{"n_c": 4, "m": 2, "s": 2}'})
    grammar = get_registry().get("grammar", "rhm").create(suite.grammar_config(get_registry()))
    assert grammar.classes == 4


class Branching(BaseModel):
    """A third-party grammar that names its arity otherwise, and says it as ``arity``."""

    model_config = ConfigDict(extra="forbid")
    q: int = 4
    depth: int = 3
    seed: int = 0
    branching: int = 2

    @property
    def arity(self) -> int:
        return self.branching


def test_the_arity_size_checks_count_with_comes_from_the_grammars_config() -> None:
    """Not guessed from option names: a grammar plugin's config says it."""
    assert SUITES["cpu"].arity(get_registry()) == 2
    assert Suite(name="a", P=1, n_test=1, n_ood=0, grammar_args={"arity": 3}).arity() == 3
    rhm = Suite(name="r", grammar="rhm", q=8, P=1, n_test=1, n_ood=0, grammar_args={"s": 3})
    assert rhm.arity() == 3
    registry = Registry([Registration("grammar", "branchy", dict, Branching, "p")])
    branchy = Suite(name="b", grammar="branchy", P=1, n_test=1, n_ood=0)
    assert branchy.arity(registry) == 2
    wide = branchy.model_copy(update={"grammar_args": {"branching": 5}})
    assert wide.arity(registry) == 5
    # options its config refuses are reported where the grammar is built; here: the fallback
    assert branchy.model_copy(update={"grammar_args": {"nope": 1}}).arity(registry) == 2


# --- suites are registered -----------------------------------------------------------------------


def test_every_published_hash_is_kept_now_that_suites_are_registered() -> None:
    """Registered by the tree plugin, with ``budgets`` for what was ``P_mlm``: the same hashes
    (every suite's, as the result files in leaderboards/ record them)."""
    hashes = {
        "rhm-cpu": "0f14586b466de86f",
        "next-token-cpu": "04b2d019f74c3392",
        "ambiguous-cpu": "21c4e5cc81ef5086",
        "rhm-paper": "80cd0d3b077c1564",
        "next-token-paper": "c13463e143d5a128",
        **PUBLISHED_HASHES,
    }
    assert {name: as_published(name).seeded_hash() for name in hashes} == hashes
    assert {name: as_published(name).spec_hash() for name in OLD_SUITE_HASHES} == OLD_SUITE_HASHES
    assert {name: SUITES[name].spec_hash() for name in SUITE_HASHES} == SUITE_HASHES
    entry = get_registry().get("suite", "cpu")
    assert entry.plugin == "tree" and entry.value is SUITES["cpu"]


def test_a_budget_per_task_without_special_cases() -> None:
    paper = SUITES["paper"]
    assert paper.budgets == {"mlm": 1 << 18}
    assert (paper.budget("mlm"), paper.budget("root"), paper.budget("next-token")) == (
        1 << 18,
        1 << 17,
        1 << 17,
    )
    own = get_suite("cpu", {"budgets": '{"next-token": 64}'})
    assert own.budget("next-token") == 64 and own.budget("root") == SUITES["cpu"].P
    assert own.spec_hash() != SUITES["cpu"].spec_hash()
    assert "budgets" in own.canonical() and "P_mlm" not in own.canonical()


def test_p_mlm_is_still_read_and_taken_as_an_override() -> None:
    """Result files and sweep files wrote mlm's budget as P_mlm."""
    data = SUITES["paper"].model_dump()
    del data["budgets"]
    assert Suite.model_validate({**data, "P_mlm": 1 << 18}) == SUITES["paper"]
    assert Suite.model_validate({**data, "P_mlm": None}).budgets == {}
    assert get_suite("cpu", {"P_mlm": "4096"}).budget("mlm") == 4096
    assert get_suite("paper", {"P_mlm": "null"}).budgets == {}
    with pytest.raises(UsageError, match=r"--set P_mlm=0 is invalid for suite 'cpu'"):
        get_suite("cpu", {"P_mlm": "0"})


def test_a_plugin_suite_is_checked_against_its_grammar_when_registered() -> None:
    from hbench.registry import load_registry
    from hbench.registry.hookspecs import hookimpl

    good = Suite(name="mine-small", grammar="rhm", q=8, P=4, n_test=2, n_ood=0)
    bad = good.model_copy(update={"name": "mine-bad", "grammar_args": {"n_c": 99}})
    nowhere = good.model_copy(update={"name": "mine-nowhere", "grammar": "absent"})

    class Plugin:
        @hookimpl
        def hbench_register_suites(self, register) -> None:
            register("mine-small", good)
            register("mine-bad", bad)
            register("mine-nowhere", nowhere)
            register("mine-dict", {"grammar": "rhm", "q": 8, "P": 4, "n_test": 2, "n_ood": 0})
            register("mine-named", good)  # the suite's own name differs

    registry = load_registry(extra_plugins=[("mine", Plugin())])
    assert {"mine-small", "mine-dict"} <= set(registry.names("suite"))
    assert "mine-bad" not in registry.names("suite")
    errors = "\n".join(registry.errors)
    assert "suite 'mine-bad' from plugin 'mine' rejected: grammar 'rhm'" in errors
    assert "its grammar 'absent' is not registered" in errors
    assert "the suite is named 'mine-small', registered as 'mine-named'" in errors
    assert get_suite("mine-small", registry=registry) is good


# --- test-set sizes per level --------------------------------------------------------------------


def test_a_suite_gives_one_test_size_or_one_per_level() -> None:
    one = Suite(name="a", depth=2, P=1, n_test=7, n_ood=0)
    assert [one.test_size(k) for k in one.levels] == [7, 7, 7] and one.largest_test_size == 7
    each = Suite(name="b", depth=2, P=1, n_test=[5, 6, 9], n_ood=0, test_filters=[0, 1])
    assert each.n_test == (5, 6, 9) and [each.test_size(k) for k in each.levels] == [5, 6, 9]
    assert each.largest_test_size == 6  # of the levels it tests
    assert each.test_sizes_text() == "5 / 6 / 9 (k = 0..2)" and one.test_sizes_text() == "7"


def test_equal_sizes_per_level_are_the_one_size_and_its_hash() -> None:
    """The same test sets: the same suite."""
    one = Suite(name="a", depth=2, P=1, n_test=7, n_ood=0)
    each = Suite(name="a", depth=2, P=1, n_test=[7, 7, 7], n_ood=0)
    assert each.n_test == 7 and each.spec_hash() == one.spec_hash()
    other = Suite(name="a", depth=2, P=1, n_test=[7, 7, 8], n_ood=0)
    assert other.spec_hash() != one.spec_hash()
    assert other.canonical()["n_test"] == [7, 7, 8]


@pytest.mark.parametrize(
    ("value", "tail"),
    [
        ("0", ""),
        ("[1,2]", "; 2 given"),
        ("[1,2,3,4,5]", "; 5 given"),
        ("true", ""),
        ("[1,true,1,1]", ""),
        ("[1,2,3,1.5]", ""),
        ("[]", ""),
        ("abc", ""),
    ],
)
def test_a_bad_test_size_is_one_line_naming_the_field(value: str, tail: str) -> None:
    with pytest.raises(UsageError) as caught:
        get_suite("smoke", {"n_test": value})
    allowed = "an integer >= 1, or a list of one integer >= 1 per filter level 0..3 (4 of them)"
    assert str(caught.value) == (
        f"--set n_test={value} is invalid for suite 'smoke': must be {allowed}{tail}"
    )


def test_a_depth_that_no_longer_fits_the_sizes_per_level_names_both() -> None:
    with pytest.raises(UsageError) as caught:
        get_suite("cpu", {"depth": 3})
    message = str(caught.value)
    assert message.startswith(
        "n_test=[39936, 38912, 53248, 184320, 1207296] is invalid for suite 'cpu' with"
        " --set depth=3: must be an integer >= 1, or a list"
    )
    assert message.endswith("0..3 (4 of them); 5 given") and "\n" not in message
    assert get_suite("cpu", {"depth": 3, "n_test": 100}).test_size(3) == 100


def test_the_leaderboard_suites_are_sized_for_their_error() -> None:
    """The sizes benchmarks/size_test_sets.py measured: more questions where BP is closer to
    chance (higher levels), never fewer than N_TEST, and the smoke suite stays tiny."""
    for name in ("cpu", "paper", "rhm-cpu", "ambiguous-cpu", "next-token-cpu", "rhm-paper"):
        suite = SUITES[name]
        sizes = [suite.test_size(k) for k in suite.levels]
        assert min(sizes) >= N_TEST and sizes[-1] > N_TEST and sizes[-1] == max(sizes), name
    assert SUITES["smoke"].n_test == 256


def test_the_test_data_of_a_level_has_its_own_size() -> None:
    from hbench.run.harness import Harness

    spec = RunSpec(
        model="prior", suite="smoke", overrides={"n_test": [3, 4, 5, 6], "n_ood": 0, "P": 8}
    )
    world = Harness(spec).world
    assert [len(world.test_data(0, k)) for k in range(4)] == [3, 4, 5, 6]
