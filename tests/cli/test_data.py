"""The data commands (generate, oracle, oracle-table, plugins, list): outputs, reproducibility,
and one clear line for every bad input.

The tests call `hbench.cli.main` in-process; what only a whole process shows (imports, signals,
tracebacks, installed plugins) is in test_app.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import hbench.cli.data
from hbench.cli import main
from hbench.errors import UsageError
from hbench.registry.hookspecs import hookimpl
from hbench.registry.registry import load_registry, reset_registry
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar

GRAMMAR = ["--q", "4", "--depth", "4", "--sigma", "1.0", "--grammar-seed", "0"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Each test in its own folder, with the real plugins and no memory override."""
    monkeypatch.delenv("HBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("HBENCH_MEMORY_LIMIT", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_registry()
    yield
    reset_registry()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``hbench argv``, argparse's own exits included."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def generate(capsys, out: str = "data.npz", *extra: str) -> dict[str, np.ndarray]:
    code, stdout, err = run(capsys, "generate", *GRAMMAR, "--quiet", "--out", out, *extra)
    assert (code, err) == (0, ""), err
    assert out in stdout
    with np.load(out, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- generate ----------------------------------------------------------------------------------


def test_generate_writes_the_pinned_keys_shapes_and_meta(capsys) -> None:
    data = generate(capsys, "data.npz", "--filter", "2", "--n", "50", "--seed", "3")

    assert set(data) == {"roots", "leaves", "productions", "root_prior", "meta"}
    assert data["roots"].shape == (50,) and data["roots"].dtype == np.int8
    assert data["leaves"].shape == (50, 16) and data["leaves"].dtype == np.int8
    assert data["leaves"].min() >= 0 and data["leaves"].max() < 4
    assert data["roots"].min() >= 0 and data["roots"].max() < 4
    model = build_grammar(q=4, depth=4, sigma=1.0, seed=0)
    np.testing.assert_array_equal(data["productions"], model.productions)
    np.testing.assert_array_equal(data["root_prior"], np.full(4, 0.25))
    assert data["productions"].dtype == data["root_prior"].dtype == np.float64

    meta = json.loads(str(data["meta"]))
    assert meta["grammar"] == "hierarchical" and meta["filter_plugin"] == "hierarchical"
    assert meta["grammar_config"] == {
        "q": 4,
        "depth": 4,
        "sigma": 1.0,
        "seed": 0,
        "productions": None,
        "root_prior": None,
        "arity": 2,
        "per_level": False,
        "ambiguity": 0.0,
        "classes": None,
    }
    assert (meta["q"], meta["depth"], meta["filter"], meta["n"], meta["seed"]) == (4, 4, 2, 50, 3)
    assert meta["internal"] is False
    assert meta["hbench_version"] == hbench.__version__


def test_generate_defaults_match_the_documented_grammar(capsys) -> None:
    code, _, err = run(capsys, "generate", "--n", "5", "--out", "d.npz")
    assert (code, err) == (0, "")
    meta = json.loads(str(np.load("d.npz")["meta"]))
    assert meta["grammar_config"]["q"] == 4 and meta["grammar_config"]["depth"] == 4
    assert meta["grammar_config"]["sigma"] == 1.0 and meta["grammar_config"]["seed"] == 0
    assert (meta["filter"], meta["seed"]) == (0, 0)


@pytest.mark.parametrize(("level", "depths"), [(0, {1, 2, 3}), (2, {2, 3}), (4, set())])
def test_generate_internal_nodes(capsys, level: int, depths: set[int]) -> None:
    data = generate(capsys, "data.npz", "--filter", str(level), "--n", "7", "--internal")

    nodes = {int(key.removeprefix("nodes_")) for key in data if key.startswith("nodes_")}
    assert nodes == depths
    for d in depths:
        assert data[f"nodes_{d}"].shape == (7, 2**d) and data[f"nodes_{d}"].dtype == np.int8
    if level == 0:  # the paper grammar: each pair of children has one parent
        m = data["productions"]
        for d in range(1, 4):
            parents = data[f"nodes_{d}"]
            children = data[f"nodes_{d + 1}"] if d < 3 else data["leaves"]
            assert np.all(m[parents, children[:, 0::2], children[:, 1::2]] > 0)
    assert json.loads(str(data["meta"]))["internal"] is True


def test_same_seed_same_file_other_seed_other_data(capsys) -> None:
    first = generate(capsys, "a.npz", "--n", "200", "--seed", "5", "--filter", "1")
    second = generate(capsys, "b.npz", "--n", "200", "--seed", "5", "--filter", "1")
    other = generate(capsys, "c.npz", "--n", "200", "--seed", "6", "--filter", "1")

    assert Path("a.npz").read_bytes() == Path("b.npz").read_bytes()  # no timestamps inside
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["leaves"], other["leaves"])
    np.testing.assert_array_equal(first["productions"], other["productions"])


def test_other_grammar_seed_other_grammar(capsys) -> None:
    code, _, _ = run(capsys, "generate", "--grammar-seed", "1", "--n", "3", "--out", "g1.npz")
    assert code == 0
    first = generate(capsys, "g0.npz", "--n", "3")
    assert not np.array_equal(np.load("g1.npz")["productions"], first["productions"])


def test_generate_from_explicit_productions_and_root_prior(capsys) -> None:
    # Each symbol only rewrites to two copies of itself: every sequence is constant.
    productions = np.zeros((3, 3, 3))
    productions[np.arange(3), np.arange(3), np.arange(3)] = 1.0
    np.save("M.npy", productions)
    np.save("prior.npy", np.array([0.2, 0.0, 0.8]))

    code, _, err = run(
        capsys,
        "generate",
        "--productions",
        "M.npy",
        "--root-prior",
        "prior.npy",
        "--depth",
        "3",
        "--n",
        "400",
        "--out",
        "m.npz",
    )

    assert (code, err) == (0, "")
    data = np.load("m.npz")
    np.testing.assert_array_equal(data["productions"], productions)
    np.testing.assert_array_equal(data["root_prior"], [0.2, 0.0, 0.8])
    assert data["leaves"].shape == (400, 8)
    np.testing.assert_array_equal(data["leaves"], np.repeat(data["roots"][:, None], 8, axis=1))
    assert set(np.unique(data["roots"])) == {0, 2}
    assert abs(np.mean(data["roots"] == 2) - 0.8) < 0.07  # 3.5 standard errors
    meta = json.loads(str(data["meta"]))
    assert meta["q"] == 3 and meta["depth"] == 3
    assert meta["grammar_config"]["productions"] == "M.npy"
    assert meta["grammar_config"]["root_prior"] == "prior.npy"

    # Only constant sequences are possible: the oracle says which ones are not.
    leaves = np.array([[0] * 8, [0] * 7 + [1], [-1] * 7 + [2]])
    np.save("X.npy", leaves)
    code, out, err = run(
        capsys, "oracle", "--productions", "M.npy", "--root-prior", "prior.npy", "--depth", "3",
        "--leaves", "X.npy", "--out", "post.npz",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "1 impossible" in out
    post = np.load("post.npz")
    assert post["loglik"][0] == pytest.approx(np.log(0.2))
    assert post["loglik"][1] == -np.inf
    np.testing.assert_allclose(post["root"][2], [0, 0, 1])
    np.testing.assert_allclose(post["leaves"][2, 0], [0, 0, 1])


# --- oracle ------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 4])
def test_oracle_reproduces_belief_propagation(capsys, level: int) -> None:
    data = generate(capsys, "data.npz", "--filter", str(level), "--n", "60", "--seed", "1")
    leaves = data["leaves"].astype(np.int64)
    rng = np.random.default_rng(0)
    leaves[rng.random(leaves.shape) < 0.3] = -1
    leaves[0] = -1  # nothing observed: the posteriors are the priors
    np.save("X.npy", leaves)

    code, out, err = run(
        capsys, "oracle", *GRAMMAR, "--filter", str(level), "--leaves", "X.npy",
        "--nodes", "--out", "post.npz",
    )  # fmt: skip

    assert (code, err) == (0, "")
    assert "wrote posteriors of 60 sequences to post.npz" in out
    model = build_grammar(q=4, depth=4, sigma=1.0, seed=0).filtered(level)
    expected = BeliefPropagation(model).run(leaves, full=True, leave_one_out=True)
    post = np.load("post.npz")
    internal = {f"nodes_{d}" for d in range(max(level, 1), 4)}
    assert set(post.files) == {"root", "leaves", "leave_one_out", "loglik", "meta"} | internal
    np.testing.assert_array_equal(post["root"], expected.root)
    np.testing.assert_array_equal(post["leaves"], expected.leaves)
    np.testing.assert_array_equal(post["leave_one_out"], expected.leave_one_out)
    np.testing.assert_array_equal(post["loglik"], expected.loglik)
    for d, nodes in expected.nodes.items():
        np.testing.assert_array_equal(post[f"nodes_{d}"], nodes)
    assert post["root"].shape == (60, 4) and post["leaves"].shape == (60, 16, 4)
    np.testing.assert_allclose(post["root"][0], np.full(4, 0.25))
    assert post["loglik"][0] == pytest.approx(0.0, abs=1e-12)
    meta = json.loads(str(post["meta"]))
    assert (meta["filter"], meta["oracle"], meta["n"], meta["nodes"]) == (level, "bp", 60, True)
    assert meta["leaves_file"] == "X.npy"


def test_oracle_without_nodes_has_no_node_keys(capsys) -> None:
    np.save("X.npy", np.zeros((2, 16), dtype=np.int16))
    code, _, _ = run(capsys, "oracle", "--leaves", "X.npy", "--out", "post.npz")
    assert code == 0
    assert not [key for key in np.load("post.npz").files if key.startswith("nodes_")]


# --- oracle-table ------------------------------------------------------------------------------


def test_oracle_table_root_json(capsys) -> None:
    code, out, err = run(
        capsys, "oracle-table", *GRAMMAR, "--task", "root", "--n", "2000", "--json", "--quiet"
    )

    assert (code, err) == (0, "")
    table = json.loads(out)
    accuracy = np.array(table["accuracy"])
    assert table["levels"] == [0, 1, 2, 3, 4] and accuracy.shape == (5, 5)
    assert (table["task"], table["n"], table["seed"], table["chance"]) == ("root", 2000, 0, 0.25)
    assert accuracy[0, 0] == 1.0  # the paper grammar is unambiguous: leaves give the root
    diagonal = np.diag(accuracy)
    assert np.all(np.diff(diagonal) < 0), diagonal
    assert np.all(diagonal > 0.25)
    assert np.array(table["stderr"]).shape == (5, 5)
    assert table["meta"]["q"] == 4 and table["meta"]["grammar_config"]["sigma"] == 1.0
    assert (table["meta"]["task"], table["meta"]["oracle"]) == ("root", "bp")


def test_oracle_table_text(capsys) -> None:
    code, out, err = run(capsys, "oracle-table", *GRAMMAR, "--n", "300")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("root accuracy of BP_k (rows) on data of filter level k'")
    assert "n=300 per level, chance 0.2500" in lines[0]
    assert lines[1].split("|")[1].strip() == "BP_k \\ data k'"
    rows = [line for line in lines[2:] if line.startswith("| BP_")]
    assert [row.split("|")[1].strip() for row in rows] == [f"BP_{k}" for k in range(5)]
    assert rows[0].split("|")[2].strip() == "1.0000"


def test_oracle_table_mlm_beats_chance(capsys) -> None:
    code, out, _ = run(
        capsys, "oracle-table", "--q", "3", "--depth", "3", "--task", "mlm", "--n", "3000",
        "--json",
    )  # fmt: skip
    assert code == 0
    accuracy = np.array(json.loads(out)["accuracy"])
    assert np.all(np.diag(accuracy) > 1 / 3 + 0.03)


# --- plugins and list --------------------------------------------------------------------------


def test_plugins_text_and_json(capsys) -> None:
    code, out, err = run(capsys, "plugins")
    assert (code, err) == (0, "")
    tree = next(line for line in out.splitlines() if line.startswith("tree "))
    assert "hbench" in tree and "loaded" in tree
    for name in ("hierarchical", "bp"):
        assert name in out

    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    data = json.loads(out)
    tree = next(p for p in data["plugins"] if p["name"] == "tree")
    assert (tree["status"], tree["errors"], tree["distribution"]) == ("loaded", [], "hbench")
    kinds = {(item["kind"], item["name"]) for item in data["items"]}
    assert {("grammar", "hierarchical"), ("filter", "hierarchical"), ("oracle", "bp")} <= kinds


@pytest.mark.parametrize("kind", ["grammars", "filters", "oracles", "tasks", "models"])
def test_list_every_kind(capsys, kind: str) -> None:
    code, out, err = run(capsys, "list", kind, "--json")
    assert (code, err) == (0, "")
    items = json.loads(out)
    assert all(item["kind"] == kind.removesuffix("s") for item in items)

    code, text, _ = run(capsys, "list", kind)
    assert code == 0
    if items:
        assert text.splitlines()[0].split() == ["name", "options", "from", "description"]
        assert all(item["name"] in text for item in items)
    else:
        assert text.strip() == f"no {kind} registered"


def test_list_grammars_shows_options(capsys) -> None:
    code, out, _ = run(capsys, "list", "grammars", "--json")
    assert code == 0
    grammar = next(item for item in json.loads(out) if item["name"] == "hierarchical")
    assert grammar["options"][:6] == ["q", "depth", "sigma", "seed", "productions", "root_prior"]
    code, out, _ = run(capsys, "list", "grammars")
    assert "q, depth, sigma, seed, productions, root_prior" in out


def test_list_unknown_kind_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "list", "grammar")
    assert code == 2
    assert "invalid choice: 'grammar'" in err and "grammars" in err


# --- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Input files, good and bad, in the test's folder (the current directory)."""
    good = build_grammar(q=3, depth=2, seed=0).productions
    np.save("M_ok.npy", good)
    np.save("M_shape.npy", np.full((3, 3), 1 / 9))
    negative = good.copy()
    negative[0, 1, 2] = -0.1
    np.save("M_negative.npy", negative)
    np.save("M_unnormalised.npy", good * 2)
    np.save("M_nan.npy", np.where(good > 0, np.nan, 0.0))
    np.save("prior_3.npy", np.full(3, 1 / 3))
    np.save("prior_4.npy", np.full(4, 1 / 4))
    leaves = np.zeros((2, 16), dtype=np.int64)
    np.save("X_ok.npy", leaves)
    too_big = leaves.copy()
    too_big[1, 2] = 4
    np.save("X_symbol.npy", too_big)
    too_small = leaves.copy()
    too_small[0, 5] = -2
    np.save("X_negative.npy", too_small)
    np.save("X_length.npy", np.zeros((2, 8), dtype=np.int64))
    np.save("X_1d.npy", np.zeros(16, dtype=np.int64))
    np.save("X_empty.npy", np.zeros((0, 16), dtype=np.int64))
    np.save("X_float.npy", np.full((2, 16), 0.5))
    np.save("X_object.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    Path("X.txt").write_text("0 1 2 3\n")
    np.savez("X.npz", leaves=leaves)
    Path("a_file").write_text("not a folder")
    return tmp_path


ORACLE = ["oracle", "--out", "post.npz", "--leaves"]
GEN = ["generate", "--n", "10", "--out", "out.npz"]

BAD_INPUTS = {
    "q-1": ([*GEN, "--q", "1"], ["--q=1", "greater than or equal to 2"]),
    "depth-0": ([*GEN, "--depth", "0"], ["--depth=0", "greater than or equal to 1"]),
    "depth-too-big": ([*GEN, "--depth", "31"], ["--depth=31", "less than or equal to 30"]),
    "filter-above-depth": (
        [*GEN, "--depth", "4", "--filter", "5"],
        ["--filter=5", "[0, 4]", "depth"],
    ),
    "filter-negative": ([*GEN, "--filter", "-1"], ["--filter=-1", "[0, 4]"]),
    "sigma-negative": ([*GEN, "--sigma", "-1"], ["--sigma=-1.0", "greater than or equal to 0"]),
    "sigma-nan": ([*GEN, "--sigma", "nan"], ["--sigma=nan", "finite"]),
    "grammar-seed-negative": ([*GEN, "--grammar-seed", "-2"], ["--grammar-seed=-2"]),
    "seed-negative": ([*GEN, "--seed", "-1"], ["--seed=-1", ">= 0"]),
    "n-0": ([*GEN[:1], "--n", "0", "--out", "out.npz"], ["--n=0", ">= 1"]),
    "n-0-table": (["oracle-table", "--n", "0"], ["--n=0", ">= 1"]),
    "productions-shape": (
        [*GEN, "--productions", "M_shape.npy"],
        ["--productions", "shape (3, 3)", "(q, q, q)"],
    ),
    "productions-negative": (
        [*GEN, "--productions", "M_negative.npy"],
        ["--productions[0, 1, 2]=-0.1", "non-negative"],
    ),
    "productions-unnormalised": (
        [*GEN, "--productions", "M_unnormalised.npy"],
        ["sum of --productions[0]=2.0", "sum to 1"],
    ),
    "productions-nan": ([*GEN, "--productions", "M_nan.npy"], ["--productions", "finite"]),
    "productions-missing": (
        [*GEN, "--productions", "nowhere.npy"],
        ["--productions='nowhere.npy'", "an existing .npy file"],
    ),
    "productions-and-q": (
        [*GEN, "--productions", "M_ok.npy", "--q", "4"],
        ["--q=4", "productions tensor (3)"],
    ),
    "productions-and-sigma": (
        [*GEN, "--productions", "M_ok.npy", "--sigma", "2"],
        ["--sigma=2.0", "--productions=M_ok.npy", "leave them out"],
    ),
    "productions-and-grammar-seed": (
        [*GEN, "--productions", "M_ok.npy", "--grammar-seed", "3"],
        ["--grammar-seed=3", "--productions=M_ok.npy"],
    ),
    "root-prior-length": (
        [*GEN, "--productions", "M_ok.npy", "--root-prior", "prior_4.npy"],
        ["--root-prior", "shape (4,)", "shape (3,)"],
    ),
    "root-prior-length-random-grammar": (
        [*GEN, "--q", "4", "--root-prior", "prior_3.npy"],
        ["--root-prior", "shape (3,)", "shape (4,)"],
    ),
    "leaves-symbol-too-big": (
        [*ORACLE, "X_symbol.npy"],
        ["--leaves='X_symbol.npy'", "entry [1, 2] = 4", "0..3", "-1 (masked)"],
    ),
    "leaves-below-mask": (
        [*ORACLE, "X_negative.npy"],
        ["--leaves='X_negative.npy'", "entry [0, 5] = -2"],
    ),
    "leaves-length": ([*ORACLE, "X_length.npy"], ["--leaves", "(2, 8)", "(n, 16)"]),
    "leaves-one-dimensional": ([*ORACLE, "X_1d.npy"], ["--leaves", "(16,)", "(n, 16)"]),
    "leaves-empty": ([*ORACLE, "X_empty.npy"], ["--leaves", "(0, 16)", "n >= 1"]),
    "leaves-float": ([*ORACLE, "X_float.npy"], ["--leaves", "entry [0, 0] = 0.5", "integers"]),
    "leaves-object": ([*ORACLE, "X_object.npy"], ["--leaves='X_object.npy'", "Python objects"]),
    "leaves-missing": ([*ORACLE, "missing.npy"], ["--leaves='missing.npy'", "existing .npy"]),
    "leaves-text-file": ([*ORACLE, "X.txt"], ["--leaves='X.txt'", "not a .npy file"]),
    "leaves-npz": ([*ORACLE, "X.npz"], ["--leaves='X.npz'", "an .npz archive"]),
    "leaves-folder": ([*ORACLE, "."], ["--leaves='.'", "not a folder"]),
    "leaves-filter": (
        [*ORACLE, "X_ok.npy", "--filter", "7"],
        ["--filter=7", "[0, 4]"],
    ),
    "unknown-grammar": (
        [*GEN, "--grammar", "hierarchicl"],
        ["unknown grammar 'hierarchicl'", "did you mean 'hierarchical'?"],
    ),
    "unknown-filter": ([*GEN, "--filter-plugin", "nope"], ["unknown filter 'nope'"]),
    "unknown-oracle": ([*ORACLE, "X_ok.npy", "--oracle", "bq"], ["unknown oracle 'bq'"]),
    "unknown-grammar-arg": (
        [*GEN, "--grammar-arg", "colour=red"],
        ["--grammar-arg colour=red", "has no option 'colour'", "--q, --depth"],
    ),
    "misspelt-grammar-arg": (
        [*GEN, "--grammar-arg", "sigmaa=2"],
        ["--grammar-arg sigmaa=2", "did you mean --sigma?"],
    ),
    "bad-grammar-arg-value": (
        [*GEN, "--grammar-arg", "depth=deep"],
        ["--grammar-arg depth=deep", "valid integer"],
    ),
    "grammar-arg-repeats-flag": (
        [*GEN, "--depth", "3", "--grammar-arg", "depth=5"],
        ["--grammar-arg depth=5", "already given", "--depth=3"],
    ),
    "grammar-arg-repeated": (
        [*GEN, "--grammar-arg", "depth=3", "--grammar-arg", "depth=5"],
        ["--grammar-arg depth=5", "already given"],
    ),
    "out-under-a-file": (
        ["generate", "--n", "3", "--out", "a_file/data.npz"],
        ["--out='a_file/data.npz'", "'a_file' is a file"],
    ),
    "out-is-a-folder": (
        ["generate", "--n", "3", "--out", "folder.npz/"],
        ["--out='folder.npz'", "not a folder"],
    ),
    "out-not-npz": (["generate", "--n", "3", "--out", "data.npy"], ["--out='data.npy'", ".npz"]),
    "oracle-out-under-a-file": (
        ["oracle", "--leaves", "X_ok.npy", "--out", "a_file/post.npz"],
        ["--out='a_file/post.npz'", "is a file"],
    ),
}


@pytest.mark.parametrize(("argv", "expected"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_clear_line(
    capsys, files: Path, argv: list[str], expected: list[str]
) -> None:
    if argv[-1] == "folder.npz/":
        Path("folder.npz").mkdir()
    before = files_in(files)

    code, out, err = run(capsys, *argv)

    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("hbench: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err
    assert out == ""
    assert files_in(files) == before  # nothing written, not even a temporary file


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--productions", "M_ok.npy", "--sigma", "2", "--grammar-seed", "3"],
            "--sigma=2.0, --grammar-seed=3 and --productions=M_ok.npy are invalid together for"
            " grammar 'hierarchical': --sigma, --grammar-seed and ambiguity draw a random grammar:"
            " leave them out with --productions",
        ),
        (
            ["--grammar-arg", "see=1"],
            "--grammar-arg see=1 is invalid: grammar 'hierarchical' has no option 'see'; did you"
            " mean --grammar-seed? its options: --q, --depth, --sigma, --grammar-seed,"
            " --productions, --root-prior, --grammar-arg arity=..., --grammar-arg per_level=...,"
            " --grammar-arg ambiguity=..., --grammar-arg classes=..., --grammar-arg rng=...",
        ),
        (
            ["--depth", "0", "--grammar-arg", "q=x"],
            "--grammar-arg q=x is invalid for grammar 'hierarchical': must be a valid integer,"
            " unable to parse string as an integer; --depth=0 is invalid for grammar"
            " 'hierarchical': must be greater than or equal to 1",
        ),
        (
            ["--productions", "nowhere.npy"],
            "--productions='nowhere.npy' is invalid: an existing .npy file",
        ),
    ],
)
def test_grammar_option_errors_read_in_flags(capsys, files, argv: list[str], line: str) -> None:
    code, _, err = run(capsys, *GEN, *argv)
    assert (code, err) == (2, f"hbench: error: {line}\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--n", "100000000", "--out", "data.npy"],
        ["generate", "--n", "100000000", "--out", "a_file/data.npz"],
        ["oracle", "--leaves", "missing.npy", "--out", "post.txt"],
    ],
)
def test_bad_out_is_refused_before_any_work(capsys, files, monkeypatch, argv) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e6")  # sampling first would be refused for memory
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith(f"hbench: error: --out='{argv[-1]}' is invalid")


LONG = "x" * 300


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["generate", "--n", "100000000", "--out", f"{LONG}.npz"], "a file name"),
        (["generate", "--n", "100000000", "--out", f"{LONG}/d.npz"], "folder names"),
        (["oracle", "--leaves", "X_ok.npy", "--out", f"{LONG}.npz"], "a file name"),
    ],
)
def test_a_name_too_long_for_the_file_system_is_refused_first(
    capsys, files, monkeypatch, argv, what
) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e6")  # sampling first would be refused for memory
    before = files_in(files)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("hbench: error: --out='") and "is invalid: " in err
    assert f"{what} of at most " in err and " bytes on this file system, not 30" in err
    assert files_in(files) == before


def test_a_huge_vocabulary_is_refused_before_any_tensor(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, "generate", "--q", "10000", "--n", "1", "--out", "d.npz")
    assert code == 2 and err.count("\n") == 1 and "--q=10000 is invalid" in err
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e8")
    code, _, err = run(capsys, "generate", "--q", "200", "--n", "1", "--out", "d.npz")
    assert code == 2 and err.count("\n") == 1
    assert "production tensor of q=200" in err and "needs an estimated" in err
    assert not Path("d.npz").exists()


def test_memory_refusal_is_deterministic_with_the_override(capsys, monkeypatch) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e8")

    code, _, err = run(capsys, "generate", "--depth", "20", "--n", "1000", "--out", "d.npz")

    assert code == 2 and err.count("\n") == 1
    assert "sampling n=1000 sequences of depth 20 needs an estimated" in err
    assert "HBENCH_MEMORY_LIMIT" in err
    assert not Path("d.npz").exists()

    # the same command fits once the limit is raised
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e12")
    code, _, _ = run(capsys, "generate", "--depth", "20", "--n", "1", "--out", "d.npz")
    assert code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["oracle-table", "--depth", "14", "--n", "1000"],
        ["generate", "--depth", "12", "--filter", "12", "--q", "64", "--n", "1", "--out", "x.npz"],
    ],
)
def test_memory_refusals_of_other_commands(capsys, monkeypatch, argv: list[str]) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e7")
    code, _, err = run(capsys, *argv)
    assert code == 2 and "needs an estimated" in err and err.count("\n") == 1


def test_bad_memory_override_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "lots")
    code, _, err = run(capsys, "generate", "--n", "3", "--out", "d.npz")
    assert code == 2
    assert "HBENCH_MEMORY_LIMIT='lots' is invalid: a number of bytes" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generate", "--n", "3"], "the following arguments are required: --out"),
        (["generate", "--q", "four", "--n", "3", "--out", "d.npz"], "argument --q: invalid int"),
        (["generate", "--grammar-arg", "depth", "--n", "3", "--out", "d.npz"], "KEY=VALUE"),
        (
            ["oracle-table", "--task", "bigram"],
            "unknown task 'bigram'; available: ancestor, denoise, generate, mlm",
        ),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_argparse_errors_exit_2(capsys, argv: list[str], expected: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert expected in err and "Traceback" not in err


def test_debug_raises_instead(capsys) -> None:
    with pytest.raises(UsageError, match="--q=1"):
        main(["generate", "--q", "1", "--n", "1", "--out", "d.npz", "--debug"])


# --- plugin failures ---------------------------------------------------------------------------


class _FakeModel:
    q = 4
    depth = 2

    def sample(self, n, seed, *, internal=False, progress=None):
        raise ValueError("the fake sampler is broken")


class _Fragile:
    """Registers a grammar that cannot be built, one that cannot sample, and a no-op filter."""

    @hookimpl
    def hbench_register_grammars(self, register):
        def crash(config):
            raise RuntimeError("boom")

        register("crashy", crash)
        register("fragile", lambda config: _FakeModel())

    @hookimpl
    def hbench_register_filters(self, register):
        class Identity:
            def apply(self, model, level):
                return model

        register("identity", lambda config: Identity())


@pytest.fixture
def fragile(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry(extra_plugins=[("fragile", _Fragile())])
    monkeypatch.setattr(hbench.cli.data, "_registry", lambda: registry)


def test_plugin_that_fails_to_build_exits_1(capsys, fragile) -> None:
    code, _, err = run(capsys, "generate", "--grammar", "crashy", "--n", "2", "--out", "d.npz")
    assert code == 1
    assert err == (
        "hbench: error: grammar 'crashy' from plugin 'fragile' failed to build: RuntimeError:"
        " boom\n"
    )


def test_plugin_that_crashes_while_working_exits_1(capsys, fragile) -> None:
    argv = ["generate", "--grammar", "fragile", "--filter-plugin", "identity", "--n", "2"]
    code, _, err = run(capsys, *argv, "--out", "d.npz")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "generate failed: ValueError: the fake sampler is broken" in err
    assert "--debug" in err
    assert not Path("d.npz").exists()

    with pytest.raises(ValueError, match="fake sampler"):
        main([*argv, "--out", "d.npz", "--debug"])


def test_model_rejected_by_the_filter_is_a_usage_error(capsys, fragile) -> None:
    code, _, err = run(capsys, "generate", "--grammar", "fragile", "--n", "2", "--out", "d.npz")
    assert code == 2
    assert "filter 'hierarchical' works on tree models, not on _FakeModel" in err


# --- atomic writes -----------------------------------------------------------------------------


def _interrupt_mid_write(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make the second array written to any .npz fail after some of its bytes are out."""
    real = np.lib.format.write_array
    calls = []

    def write_array(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fp.write(b"\x93NUMPY partial")
            raise exc
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array)


@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_generate_leaves_no_file(capsys, monkeypatch, tmp_path, existing) -> None:
    if existing:
        Path("data.npz").write_bytes(b"the previous data")
    _interrupt_mid_write(monkeypatch, KeyboardInterrupt())

    code, out, err = run(capsys, "generate", "--n", "20", "--out", "data.npz")

    assert code == 130
    assert "interrupted" in err and "Traceback" not in err
    assert out == ""
    if existing:
        assert Path("data.npz").read_bytes() == b"the previous data"
        assert files_in(tmp_path) == ["data.npz"]
    else:
        assert files_in(tmp_path) == []


def test_failed_write_of_oracle_output_leaves_no_file(capsys, monkeypatch, tmp_path) -> None:
    np.save("X.npy", np.zeros((3, 16), dtype=np.int8))
    Path("post.npz").write_bytes(b"old posteriors")
    _interrupt_mid_write(monkeypatch, OSError(28, "No space left on device"))

    code, _, err = run(capsys, "oracle", "--leaves", "X.npy", "--out", "post.npz")

    assert code == 2
    assert err == (
        "hbench: error: --out='post.npz' could not be written: No space left on device\n"
    )
    assert Path("post.npz").read_bytes() == b"old posteriors"
    assert files_in(tmp_path) == ["X.npy", "post.npz"]


def test_output_file_gets_ordinary_permissions(capsys) -> None:
    umask = os.umask(0o022)
    try:
        generate(capsys, "data.npz", "--n", "2")
    finally:
        os.umask(umask)
    assert Path("data.npz").stat().st_mode & 0o777 == 0o644
