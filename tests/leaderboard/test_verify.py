"""Verified rows: `hbench verify` re-runs a claim and compares, and what a board refuses."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from verified_rows import trusting_root

from hbench.cli import main
from hbench.errors import UsageError
from hbench.io import write_json
from hbench.leaderboard import rules, signing
from hbench.leaderboard.submission import submit
from hbench.leaderboard.tables import tables
from hbench.leaderboard.tree import load_tree
from hbench.leaderboard.verify import (
    _source_check,
    agree,
    make_environment,
    plugin_kind,
    rerun_folder,
    verify,
    welch_quantile,
)
from hbench.results import RunResult, read_result
from hbench.scoring import headline

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "hbench-example-model"


# --- the tolerance -----------------------------------------------------------------------------


def test_agreement_is_within_z_combined_standard_errors() -> None:
    ok, tolerance = agree(0.50, 0.03, 0.60, 0.04, z=3.0)
    assert ok and math.isclose(tolerance, 3.0 * 0.05 + 1e-6)
    assert not agree(0.50, 0.03, 0.70, 0.04, z=3.0)[0]
    assert agree(1.0, 0.0, 1.0, 0.0)[0]  # exact references
    assert not agree(1.0, 0.0, 0.999, 0.0)[0]
    assert agree(math.nan, 0.0, math.nan, 0.0)[0] and not agree(0.5, 0.0, math.nan, 0.0)[0]


def test_errors_from_few_seeds_widen_the_tolerance_to_students_t() -> None:
    """Two 5-seed runs with equal errors: Welch-Satterthwaite gives (2 s^2)^2 / (2 s^4 / 4) = 8
    degrees of freedom, and the tolerance is t_8 at the normal 3.0's two-sided tail (0.27%):
    4.2766 (scipy: t.isf(0.0013499, 8)) combined errors. A difference of 3.3 combined errors,
    refused by the normal rule, passes; 4.5 does not."""
    from scipy import stats as distributions

    se = 0.015
    combined = math.hypot(se, se)
    t8 = float(distributions.t.isf(distributions.norm.sf(3.0), 8))
    assert t8 == pytest.approx(4.2766, abs=1e-4)
    assert welch_quantile(3.0, se, se, 5, 5) == pytest.approx(t8, rel=1e-9)
    ok, tolerance = agree(0.50, se, 0.50 + 3.3 * combined, se, z=3.0, seeds=(5, 5))
    assert ok and tolerance == pytest.approx(t8 * combined + 1e-6, rel=1e-12)
    assert not agree(0.50, se, 0.50 + 3.3 * combined, se, z=3.0)[0]  # the normal rule
    assert not agree(0.50, se, 0.50 + 4.5 * combined, se, z=3.0, seeds=(5, 5))[0]
    # many seeds: the normal rule; one seed (a test-set error alone): z itself
    assert welch_quantile(3.0, se, se, 1000, 1000) == pytest.approx(3.0, abs=0.01)
    assert welch_quantile(3.0, se, se, 1, 5) == 3.0


# --- the board ---------------------------------------------------------------------------------


def test_a_hand_edited_verified_file_fails_the_check_in_one_line(tree, capsys) -> None:
    assert main(["leaderboard", "check", "--root", str(tree)]) == 0
    assert "4 verified" in capsys.readouterr().out
    path = next((tree / "smoke" / "root" / "results").glob("*naive-bayes*.json"))
    data = json.loads(path.read_text())
    ood = next(cell for cell in data["metrics"] if cell["k_test"] == "ood")
    ood["kl_bp"] *= 0.5  # one number, consistent with everything else in the file
    path.write_text(json.dumps(data))
    assert main(["leaderboard", "check", "--root", str(tree)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and path.name in err
    assert "signature does not match its content" in err


def test_unsigned_rows_are_self_reported_and_unranked(tree, results) -> None:
    claim = results["one-seed"].parent / "nb-3-seeds.json"
    data = json.loads(results["naive-bayes"].read_text())
    data["created"] = "2026-01-02T00:00:00+00:00"
    ood = next(cell for cell in data["metrics"] if cell["k_test"] == "ood")
    ood["kl_bp"] += 0.01  # another run, as far as the board can tell
    claim.write_text(json.dumps(data))
    submit(claim, tree)
    found = tables("smoke", "root", load_tree(tree)[("smoke", "root")])
    assert [t.kind for t in found] == ["verified", "self-reported"]
    assert found[0].labels == ["ref", "1", "2"]
    assert found[1].labels == ["-"] and found[1].rows[0]["standing"] == "self-reported"
    markdown = (tree / "smoke" / "root.md").read_text()
    assert "self-reported (unranked)" in markdown
    page = (tree / "smoke" / "root.html").read_text()
    assert page.count('<table class="leaderboard"') == 2 and "Self-reported, unranked" in page
    rows = json.loads((tree / "smoke" / "root.json").read_text())["rows"]
    assert sorted(r["table_kind"] for r in rows) == ["self-reported", *["verified"] * 3]


def test_a_renamed_reference_is_refused(tmp_path, results, capsys) -> None:
    root = tmp_path / "board"
    root.mkdir()
    submit(results["bp"], root)
    data = json.loads(results["bp"].read_text())
    data["spec"]["model"] = "naive-bayes"
    data["privileged"] = False
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(data))
    before = sorted(root.rglob("*"))
    assert main(["submit", str(renamed), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "renamed.json" in err and len(err.strip().splitlines()) == 1
    assert sorted(root.rglob("*")) == before


def test_the_same_run_filed_twice_is_refused(tmp_path, results, capsys) -> None:
    root = tmp_path / "board"
    root.mkdir()
    submit(results["naive-bayes"], root)
    data = json.loads(results["naive-bayes"].read_text())
    data["created"] = "2030-01-01T00:00:00+00:00"  # only the time stamp changed
    again = tmp_path / "again.json"
    again.write_text(json.dumps(data))
    assert main(["submit", "--dry-run", str(again), "--root", str(root)]) == 2
    assert "has exactly the numbers of the filed row" in capsys.readouterr().err
    assert main(["submit", str(again), "--root", str(root)]) == 2
    assert len(list(root.glob("smoke/root/results/*.json"))) == 1


# --- hbench verify -----------------------------------------------------------------------------


def test_verify_re_runs_a_built_in_model_and_signs_it(tmp_path, results, test_key) -> None:
    found = verify(results["naive-bayes"], out=tmp_path / "out", sign_key=test_key[1])
    assert found.verified and found.signed, found.to_json()
    assert [c.name for c in found.checks] == [
        "valid",
        "source",
        "protocol",
        "sandbox",
        "numbers",
    ]
    assert {q["quantity"] for q in found.quantities} >= {"normalised_accuracy", "kl_bp", "k=0"}
    rerun = json.loads(found.rerun.read_text())
    block = rerun["extra"]["verification"]
    assert block["claimed_sha256"] == signing.content_hash(
        json.loads(results["naive-bayes"].read_text())
    )
    assert (
        rerun["spec"]["official"]
        and rerun["spec"]["grammar_seeds"]
        != json.loads(results["naive-bayes"].read_text())["spec"]["grammar_seeds"]
    )  # freshly drawn grammars
    comparison = json.loads(found.comparison.read_text())
    assert comparison["verified"] and comparison["claimed"]["sha256"] == block["claimed_sha256"]
    # on a board: the verified re-run is ranked and replaces its claim
    root = trusting_root(tmp_path / "board", test_key[2])
    submit(results["naive-bayes"], root)
    submit(found.rerun, root)
    (table,) = tables("smoke", "root", load_tree(root)[("smoke", "root")])
    assert table.kind == "verified" and table.labels == ["1"]
    assert table.rows[0]["file"].endswith(found.rerun.name)


class _Stop(KeyboardInterrupt):
    """Ctrl-C, after some fits of a re-run have finished."""


def test_an_interrupted_re_run_is_resumed_by_the_same_verify(tmp_path, results) -> None:
    """A re-run stopped after two fits keeps them in the claim's ``.rerun-`` folder; the same
    ``hbench verify`` fits only the rest, on the grammars the first attempt drew, and a result
    an earlier attempt finished but never compared is not taken for the re-run."""
    from hbench.run.execute import execute
    from hbench.run.spec import RunSpec

    claim = results["naive-bayes"]
    data = json.loads(claim.read_text())
    out = tmp_path / "out"
    out.mkdir()
    staging = out / f".rerun-{signing.content_hash(data)[:16]}"
    spec = data["spec"]  # what the re-run command asks for (rerun_command)
    rerun_spec = RunSpec(
        model=spec["model"],
        suite=spec["suite_name"],
        overrides=spec["overrides"],
        model_args=spec["model_config"],
        task_args=spec["task_config"],
        device="cpu",
        threads=spec["threads"] or 1,
        official=True,
    )
    seen: list = []

    def stop_after_two(outcome) -> None:
        seen.append(outcome)
        if len(seen) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        execute(rerun_spec, out=staging, jobs=1, on_fit=stop_after_two)  # isolated, as verify
    (journal,) = [p for p in staging.iterdir() if p.name.startswith(".fits-")]
    drawn = json.loads(next(journal.glob("*.json")).read_text())["spec"]["grammar_seeds"]
    (staging / "left-by-a-killed-attempt.json").write_text("{}")
    assert sorted(p.name for p in staging.iterdir())[0].startswith(".fits-")

    found = verify(claim, out=out)
    assert found.verified, found.to_json()
    rerun = json.loads(found.rerun.read_text())
    assert len(rerun["extra"]["resumed_fits"]) == 2 and found.resumed == 2
    assert json.loads(found.comparison.read_text())["resumed_fits"] == 2
    assert rerun["spec"]["grammar_seeds"] == drawn
    assert not staging.exists()  # compared: nothing kept
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [found.rerun.name, found.comparison.name]
    )  # neither the stale result nor the lock came along


def test_a_killed_re_run_says_where_its_fits_are_kept(
    tmp_path, results, monkeypatch, caplog
) -> None:
    """SIGTERM kills the re-run's process (its fits written so far stay); verify says where."""
    import hbench.leaderboard.verify as verifying

    def killed(command, cwd):
        out = Path(command[command.index("--out") + 1])
        (out / ".fits-0123456789abcdef").mkdir()
        for name in ("s0_k0.json", "s0_k1.json"):
            (out / ".fits-0123456789abcdef" / name).write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(verifying, "_run", killed)
    with pytest.raises(KeyboardInterrupt), caplog.at_level("WARNING", logger="hbench"):
        verify(results["naive-bayes"], out=tmp_path / "out")
    assert "2 finished fits of the re-run are kept in" in caplog.text
    assert "the same hbench verify resumes it" in caplog.text
    (staging,) = (tmp_path / "out").iterdir()
    assert staging.name.startswith(".rerun-") and (staging / ".fits-0123456789abcdef").is_dir()


def test_a_second_verify_of_a_claim_is_refused_while_one_runs(tmp_path, results) -> None:
    claim = results["naive-bayes"]
    sha = signing.content_hash(json.loads(claim.read_text()))
    out = tmp_path / "out"
    out.mkdir()
    with rerun_folder(out, sha, claim) as staging:
        (staging / ".fits-0123456789abcdef").mkdir()
        (staging / "finished-but-not-compared.json").write_text("{}")
        with pytest.raises(UsageError, match=r"another hbench verify of .* is running"):
            verify(claim, out=out)
        assert oct(staging.stat().st_mode & 0o777) == "0o700"
    with rerun_folder(out, sha, claim) as again:  # the next attempt: same folder, fits kept
        assert again == staging
        assert [p.name for p in again.iterdir() if p.name != ".lock"] == [".fits-0123456789abcdef"]


def test_a_doctored_claim_is_not_verified(tmp_path, results, capsys) -> None:
    """Every cell set to perfect and the headline recomputed: consistent, but the re-run
    tells. The model is prior, at chance on every grammar: the re-run's fresh grammars cannot
    bring it near the doctored claim (naive-bayes came within the t-tolerance on some draws)."""
    data = json.loads(results["prior"].read_text())
    for cell in data["metrics"]:
        if cell["k_test"] != "ood":
            cell["acc"] = cell["agree"] = cell["acc_bp"]
            cell["kl_bp"] = 0.0
    perfect = RunResult.model_validate(data)
    perfect = perfect.model_copy(update={"headline": headline(perfect.metrics)})
    doctored = write_json(tmp_path / "doctored.json", perfect.model_dump(mode="json"))
    assert main(["validate", "--leaderboard", str(doctored)]) == 0  # consistent with itself
    code = main(["verify", str(doctored), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAILED: numbers" in out and out.strip().endswith("not verified")
    (comparison,) = (tmp_path / "out").glob("*.comparison.json")
    assert not json.loads(comparison.read_text())["verified"]


@pytest.mark.parametrize("quiet", [False, True])
def test_the_re_run_shows_its_progress_unless_quiet(tmp_path, results, capfd, quiet) -> None:
    """A re-run of a trained model takes an hour: off a terminal, the verification says what
    it re-runs and the re-run logs a line per finished fit; ``--quiet`` silences both."""
    flags = ["--quiet"] if quiet else []
    assert main([*flags, "verify", str(results["prior"]), "--out", str(tmp_path)]) == 0
    err = capfd.readouterr().err
    fits = err.count("hbench: fit seed=")
    if quiet:
        assert fits == 0 and "re-running" not in err, err
    else:
        assert "re-running prior on smoke/root: 5 grammars" in err, err
        assert fits == 5 * 4, err  # every fit of the 5 grammars x 4 training levels


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--plugin", "x.whl"], "is built into hbench"),
        (["--sign", "/no/such/key.pem"], "--sign='/no/such/key.pem' is invalid"),
        (["--z", "0"], "--z=0.0 is invalid"),
    ],
)
def test_bad_verify_arguments_are_one_line_and_exit_2(tmp_path, results, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["verify", str(results["prior"]), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_a_plugin_must_be_one_pinned_artifact(tmp_path) -> None:
    wheel = tmp_path / "m-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert plugin_kind(str(wheel)) == "wheel" and plugin_kind(str(tmp_path)) == "folder"
    assert plugin_kind("m==1.0 --hash=sha256:" + "a" * 64) == "requirement"
    assert plugin_kind("m @ git+https://example.org/m.git@" + "0" * 40) == "requirement"
    for loose in ("m", "m==1.0", "m @ git+https://example.org/m.git@main", "gone.whl"):
        with pytest.raises(UsageError, match=r"^--plugin="):
            plugin_kind(loose)


def test_a_plugin_whose_source_differs_is_refused(results) -> None:
    claimed = read_result(results["prior"])
    claimed.environment.sources["my-model"] = "record:sha256:" + "0" * 64
    check = _source_check(claimed, "my-model", "record:sha256:" + "1" * 64)
    assert not check.ok and "not the code that produced it" in check.detail
    assert _source_check(claimed, "my-model", "record:sha256:" + "0" * 64).ok
    assert _source_check(claimed, "hbench", None).ok  # prior is built in
    renamed = claimed.model_copy(update={"spec": claimed.spec.model_copy(update={"model": "x"})})
    check = _source_check(renamed, "hbench", None)  # "built in", says the file
    assert not check.ok and "not registered" in check.detail


@pytest.fixture(scope="module")
def example_wheel(tmp_path_factory) -> Path:
    """The example plugin built once into a wheel, from a copy of its folder."""
    folder = tmp_path_factory.mktemp("example")
    source = folder / "src"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps"]
    if importlib.util.find_spec("setuptools") is not None:  # else pip fetches it to build
        command.append("--no-build-isolation")
    subprocess.run([*command, str(source), "-w", str(folder / "dist")], check=True)
    (wheel,) = (folder / "dist").glob("*.whl")
    return wheel


def test_verify_reproduces_the_example_plugin(tmp_path, example_wheel) -> None:
    """A third party's plugin: the submitter runs it from the wheel, the verifier installs the
    same wheel into a fresh environment, checks its source hash and re-runs it."""
    python = make_environment(tmp_path / "submitter", str(example_wheel))
    claims = tmp_path / "claims"
    command = [str(python), "-m", "hbench", "--quiet", "run", "--model", "treenet"]
    seeds = ",".join(str(s) for s in range(rules.MIN_SEEDS))
    command += ["--suite", "smoke", "--seeds", seeds, "--official", "--json"]
    command += ["--model-arg", "epochs=1", "--set", "P=128", "--out", str(claims)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=tmp_path)
    claim = Path(json.loads(done.stdout)["path"])
    recorded = read_result(claim).environment.sources["hbench-example-model"]
    assert recorded.startswith("record:sha256:")
    found = verify(claim, plugin=str(example_wheel), out=tmp_path / "out")
    assert found.verified, found.to_json()
    assert recorded in next(c.detail for c in found.checks if c.name == "source")
    rerun = read_result(found.rerun)
    assert rerun.environment.sources["hbench-example-model"] == recorded
