"""The ``rng=authors`` option of the hierarchical grammar: grammar seed s builds the tensor the
paper authors' published generator builds for seed s (``np.random.seed(s)`` then ``get_M(q,
sigma)`` in scripts/gen_filtered_hierarchical_data.py of emanuele-moscato/tree-language).

The pinned values were read from their generator (q = 4, sigma = 1), rounded to 10 decimals; a
law test rebuilds their procedure step by step (scalar draws, a shuffled array of pairs) for
other q, sigma and seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hbench.cli import main
from hbench.errors import UsageError
from hbench.registry.registry import get_registry, reset_registry
from hbench.registry.suites import get_suite
from hbench_tree.configs import HierarchicalGrammarConfig
from hbench_tree.grammar import build_grammar, random_level_productions, random_productions

#: Their seed s at q = 4, sigma = 1: OWNER[s][b][c] is the one parent a with M[a, b, c] > 0.
OWNER = {
    0: [[3, 0, 1, 3], [1, 3, 0, 2], [0, 0, 2, 2], [3, 1, 1, 2]],
    1: [[2, 1, 0, 0], [1, 3, 1, 0], [3, 2, 1, 3], [3, 0, 2, 2]],
    15: [[2, 1, 0, 0], [0, 3, 1, 2], [3, 0, 1, 2], [3, 2, 3, 1]],
    31: [[3, 1, 3, 0], [0, 1, 2, 3], [0, 2, 2, 1], [1, 0, 2, 3]],
}
#: ... and WEIGHT[s][b][c] = M[OWNER[s][b][c], b, c], rounded to 10 decimals.
WEIGHT = {
    0: [
        [0.1316558597, 0.7060493277, 0.0359024118, 0.1642317575],
        [0.3410297064, 0.1511832206, 0.1634524632, 0.3255997249],
        [0.0159309436, 0.1145672656, 0.1013250897, 0.4524628827],
        [0.5529291622, 0.0804939952, 0.5425738866, 0.1206123027],
    ],
    1: [
        [0.1201497844, 0.4998561437, 0.507958632, 0.1008312948],
        [0.195190682, 0.2071781556, 0.2594916262, 0.0112895003],
        [0.4351718603, 0.340531199, 0.0454615481, 0.2072862508],
        [0.1503637332, 0.3799205729, 0.2631835244, 0.2761354922],
    ],
    15: [
        [0.0716081586, 0.1140806583, 0.2502336286, 0.2374006783],
        [0.4446105497, 0.7053579461, 0.0950115015, 0.2004168514],
        [0.1475771562, 0.0677551433, 0.1064136252, 0.0092807051],
        [0.1325423967, 0.718694285, 0.014522501, 0.684494215],
    ],
    31: [
        [0.5540468935, 0.6616517124, 0.0200971348, 0.2483912356],
        [0.2575165688, 0.0112267227, 0.2113536111, 0.1914592276],
        [0.2177968861, 0.0362166099, 0.1084299143, 0.2091028928],
        [0.1180186721, 0.2762953095, 0.6439998646, 0.2343967441],
    ],
}


def expected(seed: int) -> np.ndarray:
    """Their tensor M[a, b, c] for ``seed`` (q = 4, sigma = 1), from the pinned values."""
    tensor = np.zeros((4, 4, 4))
    b, c = np.indices((4, 4))
    tensor[np.array(OWNER[seed]), b, c] = WEIGHT[seed]
    return tensor


def their_procedure(seed: int, q: int, sigma: float) -> np.ndarray:
    """The authors' procedure, step by step: seed the legacy global stream, shuffle the
    b-major array of pairs (b, c), give parent a rows a*q .. a*q + q - 1 of it, one scalar
    sigma * randn() each in that order, then a softmax over each parent's q x q block."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        pairs = np.array([(b, c) for b in range(q) for c in range(q)])
        np.random.shuffle(pairs)
        logits = np.full((q, q, q), -np.inf)
        for a in range(q):
            for row in range(a * q, (a + 1) * q):
                b, c = pairs[row]
                logits[a, b, c] = sigma * np.random.randn()
    finally:
        np.random.set_state(state)
    weights = np.exp(logits - logits.max(axis=(1, 2), keepdims=True))
    return weights / weights.sum(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("seed", sorted(OWNER))
def test_the_authors_tensors_are_reproduced(seed: int) -> None:
    ours = build_grammar(q=4, depth=4, sigma=1.0, seed=seed, rng="authors")
    np.testing.assert_array_equal(ours.productions > 0, expected(seed) > 0)  # support exactly
    np.testing.assert_allclose(ours.productions, expected(seed), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ours.root_prior, np.full(4, 0.25))  # their roots: randint(q)


@pytest.mark.parametrize(
    ("seed", "q", "sigma"), [(0, 8, 1.0), (31, 8, 1.0), (0, 4, 2.0), (7, 3, 0.5), (5, 2, 0.0)]
)
def test_the_law_holds_for_any_q_and_sigma(seed: int, q: int, sigma: float) -> None:
    np.testing.assert_allclose(
        random_productions(q, sigma, seed, rng="authors"),
        their_procedure(seed, q, sigma),
        rtol=0,
        atol=1e-12,
    )


def test_the_global_numpy_stream_is_left_alone() -> None:
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    random_productions(4, 1.0, 0, rng="authors")
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_the_default_stream_is_unchanged_and_differs_from_the_authors() -> None:
    default = random_productions(4, 1.0, 0)
    np.testing.assert_array_equal(default, random_productions(4, 1.0, 0, rng="numpy"))
    np.testing.assert_array_equal(default, build_grammar(q=4, depth=4, seed=0).productions)
    assert not np.array_equal(default > 0, expected(0) > 0)


def test_arity_and_per_level_follow_the_same_law() -> None:
    """Beyond the authors' binary shared grammar: q**s tuples dealt by one shuffle, and one
    tensor per level drawn one after the other from the same stream (level 0: the shared)."""
    levels = random_level_productions(4, 1.0, 15, 3, rng="authors")
    np.testing.assert_array_equal(levels[0], random_productions(4, 1.0, 15, rng="authors"))
    assert not np.array_equal(levels[1] > 0, levels[0] > 0)
    ternary = build_grammar(q=3, depth=2, seed=1, arity=3, rng="authors").productions
    assert np.all((ternary > 0).sum(axis=0) == 1)  # every tuple has exactly one parent
    assert np.all((ternary > 0).sum(axis=(1, 2, 3)) == 9)  # q**(s-1) tuples per parent


def test_the_option_is_validated_and_recorded_only_when_set() -> None:
    assert "rng" not in HierarchicalGrammarConfig().model_dump()
    assert HierarchicalGrammarConfig(rng="authors").model_dump()["rng"] == "authors"
    entry = get_registry().get("grammar", "hierarchical")
    assert "rng" in entry.options
    for bad, words in [
        ({"rng": "mt"}, "rng"),
        ({"rng": "authors", "ambiguity": 0.5}, "unambiguous"),
        ({"rng": "authors", "seed": 2**32}, "0..4294967295"),
        ({"rng": "authors", "productions": "M.npy"}, "leave it out with productions"),
    ]:
        with pytest.raises(UsageError, match=words) as caught:
            entry.validate_config(bad)
        assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match=r"ambiguity=0\.5 is invalid"):
        random_productions(4, 1.0, 0, ambiguity=0.5, rng="authors")
    with pytest.raises(UsageError, match="seed=-1 is invalid"):
        random_productions(4, 1.0, -1, rng="authors")


def test_generate_takes_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_registry()
    argv = ["generate", "--quiet", "--n", "20", "--grammar-seed", "31", "--out", "d.npz"]
    assert main([*argv, "--grammar-arg", "rng=authors"]) == 0
    with np.load("d.npz") as data:
        np.testing.assert_allclose(data["productions"], expected(31), rtol=0, atol=1e-10)
        assert json.loads(str(data["meta"]))["grammar_config"]["rng"] == "authors"
    capsys.readouterr()
    assert main([*argv, "--grammar-arg", "rng=mt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--grammar-arg rng=mt is invalid" in err
    reset_registry()


def test_a_suite_takes_the_option_and_keeps_its_hash_without_it() -> None:
    reset_registry()
    base = get_suite("cpu")
    authors = get_suite("cpu", {"grammar_args": '{"rng": "authors"}'})
    assert (
        "rng" not in base.grammar_config(get_registry()) and "grammar_args" not in base.canonical()
    )
    assert authors.grammar_config(get_registry())["rng"] == "authors"
    assert authors.spec_hash() != base.spec_hash()
    grammar = (
        get_registry().get("grammar", "hierarchical").create(authors.grammar_config(get_registry()))
    )
    np.testing.assert_allclose(grammar.productions, expected(0), rtol=0, atol=1e-10)
    # a bad value is refused where the run resolves the suite's grammar options
    bad = get_suite("cpu", {"grammar_args": '{"rng": "mersenne"}'})
    with pytest.raises(UsageError, match="rng"):
        get_registry().get("grammar", "hierarchical").validate_config(
            bad.grammar_config(get_registry())
        )
    reset_registry()
