"""The ``hbench`` process as a whole: what it imports, global flags, exit codes, signals,
tracebacks, and plugins found through installed distribution metadata.

These run hbench in a subprocess where the process itself matters; the rest in-process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import pytest


def _python(code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def _env(*paths: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HBENCH_DISABLE_PLUGINS", "HBENCH_MEMORY_LIMIT")
    }
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def test_help_and_plugins_do_not_import_torch(tmp_path: Path) -> None:
    # A stand-in torch on the path: if anything imports torch, it lands in sys.modules.
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("")
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from hbench.cli import build_parser, main

        with contextlib.redirect_stdout(io.StringIO()):
            for argv in (["--help"], ["generate", "--help"], ["oracle-table", "--help"]):
                try:
                    build_parser().parse_args(argv)
                except SystemExit as exc:
                    assert exc.code == 0
            assert main(["plugins"]) == 0
            assert main(["plugins", "--json"]) == 0
            assert main(["list", "models"]) == 0
        print(sorted(name for name in sys.modules if name.split(".")[0] == "torch"))
        """
    )

    result = _python(code, env=_env(tmp_path), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    code = "import sys; from hbench.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["generate", "--q", "1", "--n", "1", "--out", "d.npz"]

    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "hbench: error: --q=1 is invalid for grammar 'hierarchical': must be greater than or"
        " equal to 2\n"
    )

    debug = subprocess.run(
        [sys.executable, "-c", code, *argv, "--debug"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "UsageError: --q=1" in debug.stderr


GOOD_PLUGIN = """
    from hbench.registry.hookspecs import hookimpl


    def make_grammar(config):
        return "third-party grammar"


    @hookimpl
    def hbench_register_grammars(register):
        register("third-party", make_grammar, description="A grammar from elsewhere.")
"""

BROKEN_PLUGIN = """
    raise ImportError("cli_fake_broken needs a library that is not installed")
"""


@pytest.fixture
def third_party(tmp_path: Path) -> Path:
    """An installed-looking distribution with a good and a broken plugin in group 'hbench'."""
    site = tmp_path / "site"
    info = site / "fake_cli_plugins-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-cli-plugins\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(
        "[hbench]\nthirdgood = cli_fake_good\nthirdbroken = cli_fake_broken\n"
    )
    (site / "cli_fake_good.py").write_text(textwrap.dedent(GOOD_PLUGIN))
    (site / "cli_fake_broken.py").write_text(textwrap.dedent(BROKEN_PLUGIN))
    return site


def _hbench(site: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from hbench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=_env(site, **env),
        cwd=site.parent,
        timeout=60,
    )


def test_broken_third_party_plugin_does_not_break_the_cli(third_party: Path) -> None:
    result = _hbench(third_party, "plugins", "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    status = {p["name"]: p for p in data["plugins"]}
    assert status["tree"]["status"] == "loaded"
    assert status["thirdgood"]["status"] == "loaded"
    assert status["thirdgood"]["distribution"] == "fake-cli-plugins"
    broken = status["thirdbroken"]
    assert broken["status"] == "failed"
    assert broken["errors"] == [
        "plugin 'thirdbroken' (fake-cli-plugins 0.3) failed to load 'cli_fake_broken':"
        " ImportError: cli_fake_broken needs a library that is not installed"
    ]
    names = {(item["kind"], item["name"]) for item in data["items"]}
    assert {("grammar", "third-party"), ("grammar", "hierarchical")} <= names

    text = _hbench(third_party, "plugins")
    assert text.returncode == 0
    assert "thirdbroken" in text.stdout and "failed" in text.stdout
    assert "error: plugin 'thirdbroken'" in text.stdout

    # the built-ins still work beside the broken plugin
    work = _hbench(third_party, "generate", "--n", "3", "--out", "d.npz", "--quiet")
    assert work.returncode == 0, work.stderr
    assert (third_party.parent / "d.npz").is_file()


def test_broken_plugin_can_be_disabled(third_party: Path) -> None:
    result = _hbench(third_party, "plugins", "--json", HBENCH_DISABLE_PLUGINS="thirdbroken")

    assert result.returncode == 0, result.stderr
    status = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert (status["thirdbroken"]["status"], status["thirdbroken"]["errors"]) == ("disabled", [])
    assert status["thirdgood"]["status"] == "loaded"
    assert status["tree"]["status"] == "loaded"


# --- entry points and global flags -------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``hbench argv`` in-process, argparse's exits included."""
    from hbench.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_python_dash_m_hbench_is_the_command_line(tmp_path: Path) -> None:
    def python_m(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hbench", *argv],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=60,
        )

    version = python_m("--version")
    assert version.returncode == 0 and version.stdout.startswith("hbench ")
    suites = python_m("--quiet", "list", "suites", "--json")
    assert suites.returncode == 0, suites.stderr
    assert {"smoke", "cpu", "paper"} <= set(json.loads(suites.stdout))
    bad = python_m("generate", "--q", "1", "--n", "1", "--out", "d.npz")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--q=1" in bad.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--quiet", "list", "suites", "--json"],
        ["list", "suites", "--quiet", "--json"],
        ["list", "--quiet", "suites", "--json"],
        ["--json", "list", "suites"],
        ["--json", "--quiet", "--debug", "list", "suites"],
    ],
)
def test_global_flags_before_or_after_the_command(capsys, monkeypatch, argv) -> None:
    import hbench.progress

    monkeypatch.setattr(hbench.progress, "QUIET", False)
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert {"smoke", "cpu", "paper"} <= set(json.loads(out))
    assert hbench.progress.QUIET is ("--quiet" in argv)


def test_global_flags_parse_alike_in_every_position() -> None:
    from hbench.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(
        ["--quiet", "--debug", "--json", "analyze", "sample-complexity", "out"]
    )
    after = parser.parse_args(
        ["analyze", "sample-complexity", "out", "--quiet", "--debug", "--json"]
    )
    middle = parser.parse_args(
        ["analyze", "--quiet", "sample-complexity", "--debug", "out", "--json"]
    )
    for args in (before, after, middle):
        assert (args.quiet, args.debug, args.json) == (True, True, True)
    plain = parser.parse_args(["analyze", "sample-complexity", "out"])
    assert (plain.quiet, plain.debug, plain.json) == (False, False, False)


def test_debug_before_the_command_shows_the_traceback(capsys) -> None:
    from hbench.errors import UsageError

    with pytest.raises(UsageError, match="--q=1"):
        run(capsys, "--debug", "generate", "--q", "1", "--n", "1", "--out", "d.npz")


def test_global_json_on_a_command_without_a_report_is_refused(capsys, monkeypatch) -> None:
    import argparse

    import hbench.cli.app

    class Silent:
        @staticmethod
        def add_parsers(sub, common):
            sub.add_parser("silent", parents=[common])
            return {"silent": lambda args: 0}

    groups = hbench.cli.app.command_groups
    monkeypatch.setattr(hbench.cli.app, "command_groups", lambda: (*groups(), Silent))
    assert run(capsys, "silent")[0] == 0
    code, out, err = run(capsys, "--json", "silent")
    assert (code, out) == (2, "")
    assert err == "hbench: error: --json is invalid for `hbench silent`: it has no JSON report\n"
    assert isinstance(hbench.cli.app.build_parser(), argparse.ArgumentParser)


# --- help --------------------------------------------------------------------------------------


def _commands() -> list[str]:
    from hbench.cli import build_parser
    from hbench.cli.app import subparsers

    return [path for path, _ in subparsers(build_parser())]


def test_every_command_is_covered() -> None:
    commands = _commands()
    for name in ("generate", "run", "check", "sweep", "analyze probe", "leaderboard show"):
        assert name in commands


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_has_a_description_and_examples(command: str) -> None:
    from hbench.cli import build_parser
    from hbench.cli.app import subparsers

    parser = dict(subparsers(build_parser()))[command]
    text = parser.format_help()
    assert parser.description and "\n" not in parser.description.strip(), command
    assert parser.description in text
    examples = text.split("\nexamples:\n", 1)[1].splitlines()
    lines = [line.strip() for line in examples if line.strip()]
    assert 2 <= len(lines) <= 3, text
    assert all(line.startswith(("hbench ", "HBENCH_")) for line in lines), lines


# --- closed pipes and signals ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["list", "models"], ["plugins", "--json"], ["oracle-table", "--n", "50"]]
)
def test_a_closed_stdout_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    """`hbench list models | head -1`: the reader is gone before hbench writes."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hbench", *argv, "--quiet"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_pipe_to_head_ends_quietly(tmp_path: Path) -> None:
    script = f"set -o pipefail; {sys.executable} -m hbench list models | head -1"
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["name", "options", "from", "description"]


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hbench", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )


def _wait_for(condition, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


BIG = ["generate", "--depth", "6", "--n", "2000000", "--out", "big.npz", "--quiet"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, signum, code) -> None:
    process = _start(tmp_path, *BIG)
    try:
        _wait_for(lambda: any(tmp_path.glob(".big.npz.*.tmp")), process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "nothing half-written was left behind" in err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_while_sampling_exits_143_without_output(tmp_path) -> None:
    process = _start(tmp_path, *BIG)
    try:
        time.sleep(2.0)  # well into start-up or sampling; either way nothing is written yet
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert err == "hbench: terminated (SIGTERM); nothing half-written was left behind\n"
    assert list(tmp_path.iterdir()) == []


#: What the ``hbench`` script does, saying when the package is imported (what hbench.cli
#: imports itself happens inside `main`, where Ctrl-C is caught).
READY = (
    "import sys; from hbench.cli import main; print('ready', flush=True);"
    " sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.5])
def test_ctrl_c_during_start_up_has_no_traceback(tmp_path, delay: float) -> None:
    """From the moment the package is imported: while the command line imports, while the
    plugins load, and while the command runs."""
    process = subprocess.Popen(
        [sys.executable, "-c", READY, "oracle-table", "--n", "20000", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        assert process.stdout.readline() == "ready\n"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    # -SIGINT: the command had finished and the interpreter was shutting down, where Python
    # gives SIGINT its default action back (the shell reports 130 for it too)
    assert process.returncode in (0, 130, -signal.SIGINT), err
    assert "Traceback" not in err and "Exception ignored" not in err
    if process.returncode == -signal.SIGINT:
        assert err == ""
    if process.returncode == 130:
        assert err.startswith("hbench: interrupted") and err.count("\n") == 1


def _interrupt_from_a_weakref_callback(exc_type: type[BaseException]) -> int:
    """What a Ctrl-C that lands while the garbage collector runs a weakref callback looks like:
    the callback raises, and Python can only report it ("Exception ignored in ...")."""

    class Thing:
        pass

    def callback(ref: object) -> None:
        raise exc_type

    thing = Thing()
    ref = weakref.ref(thing, callback)  # noqa: F841 (kept alive so that its callback runs)
    del thing
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the interrupt is raised here, at the next check
        time.sleep(0.001)
    return 0


@pytest.mark.parametrize(("kind", "code"), [("interrupted", 130), ("terminated (SIGTERM)", 143)])
def test_an_interrupt_python_could_only_report_still_stops_the_command(
    monkeypatch, capsys, kind: str, code: int
) -> None:
    """Not "Exception ignored ... KeyboardInterrupt" and a command that runs on: the interrupt
    is delivered again, and the command ends as any interrupted one does."""
    import hbench.cli
    import hbench.cli.app

    exc_type = KeyboardInterrupt if code == 130 else hbench.cli.app.Terminated
    monkeypatch.setattr(
        hbench.cli.app, "_run", lambda argv: _interrupt_from_a_weakref_callback(exc_type)
    )
    hook = sys.unraisablehook
    assert hbench.cli.main(["list", "models"]) == code
    assert capsys.readouterr().err == f"hbench: {kind}; nothing half-written was left behind\n"
    assert sys.unraisablehook is hook


def test_an_interrupt_on_its_way_when_the_command_returns_still_ends_it(monkeypatch, capsys):
    """The interrupt lands in a weakref callback as the command returns: it arrives before
    `main` returns (exit 130), never later at the top level with a traceback."""
    import hbench.cli
    import hbench.cli.app

    class Thing:
        pass

    def callback(ref: object) -> None:
        raise KeyboardInterrupt

    def returns_at_once(argv) -> int:
        thing = Thing()
        ref = weakref.ref(thing, callback)  # noqa: F841
        del thing
        return 0

    monkeypatch.setattr(hbench.cli.app, "_run", returns_at_once)
    assert hbench.cli.main(["list", "models"]) == 130
    time.sleep(0.2)  # a stray interrupt would be raised here, failing the test
    assert capsys.readouterr().err.startswith("hbench: interrupted")


def test_other_unraisable_exceptions_are_still_reported(monkeypatch) -> None:
    from hbench.cli import interrupts_not_swallowed

    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Thing:
        pass

    def callback(ref: object) -> None:
        raise ValueError("a callback's own bug")

    with interrupts_not_swallowed():
        thing = Thing()
        ref = weakref.ref(thing, callback)  # noqa: F841
        del thing
    assert [str(u.exc_value) for u in seen] == ["a callback's own bug"]


def test_sigterm_during_a_run_with_saved_models_leaves_nothing(tmp_path) -> None:
    """The trained models are staged in a hidden folder that an interrupted run removes; the
    model's worker process goes with the run."""
    import psutil

    process = _start(
        tmp_path,
        "run",
        "--model",
        "transformer",
        "--suite",
        "smoke",
        "--save-models",
        "--quiet",
        "--out",
        "out",
        "--model-arg",
        "epochs=200",
        "--jobs",
        "1",
    )
    try:
        _wait_for(lambda: any((tmp_path / "out").glob(".models-*.tmp")), process)
        time.sleep(1.0)
        workers = psutil.Process(process.pid).children(recursive=True)
        assert workers  # the model's worker
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


def test_sigterm_keeps_the_finished_fits_and_the_same_command_resumes(tmp_path, sleepy) -> None:
    """A run stopped after its first fit keeps that fit (and says so); the same command then
    fits only the others, says how many it resumed, and leaves one result and no journal."""
    argv = [
        "run", "--model", "sleepy", "--suite", "smoke", "--seeds", "0,1",
        "--train-filter", "0", "--train-filter", "1", "--model-arg", "seconds=2",
        "--jobs", "1", "--out", "out",
    ]  # fmt: skip
    out = tmp_path / "out"
    process = _start(tmp_path, *argv, "--quiet")
    try:
        _wait_for(lambda: any(out.glob(".fits-*/s*_k*.json")), process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "finished fits of this run are kept in" in err and "Traceback" not in err
    assert not list(out.glob("*.json"))
    again = subprocess.run(
        [sys.executable, "-m", "hbench", *argv],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert re.search(r"resumed: [123] of 4 fits", again.stdout), again.stdout
    assert len(list(out.glob("*.json"))) == 1 and not list(out.glob(".fits-*"))


def test_sigterm_stops_parallel_fits_at_once(tmp_path) -> None:
    """Two fits in their workers: the run kills both and exits instead of waiting for them."""
    import psutil

    process = _start(
        tmp_path,
        "run",
        "--model",
        "transformer",
        "--suite",
        "smoke",
        "--quiet",
        "--out",
        "out",
        "--model-arg",
        "epochs=500",
        "--jobs",
        "2",
    )
    try:
        _wait_for(lambda: len(psutil.Process(process.pid).children(recursive=True)) >= 2, process)
        time.sleep(2.0)
        workers = psutil.Process(process.pid).children(recursive=True)
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        stopped_in = time.monotonic() - start
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert stopped_in < 30  # not the minutes the fits would take
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    assert not list((tmp_path / "out").glob("*.json"))


def _wrapped_interrupt(exc_type: type[BaseException]) -> RuntimeError:
    """What Python makes of a Ctrl-C landing in a class body's ``__set_name__`` (3.11)."""
    try:
        raise exc_type
    except BaseException as interrupt:
        error = RuntimeError("Error calling __set_name__ on 'X' instance 'y' in 'Z'")
        error.__cause__ = interrupt
        return error


@pytest.mark.parametrize(("kind", "code"), [("interrupted", 130), ("terminated (SIGTERM)", 143)])
@pytest.mark.parametrize("where", ["parser", "handler"])
def test_an_interrupt_python_wrapped_still_ends_the_command_as_one(
    monkeypatch, capsys, where: str, kind: str, code: int
) -> None:
    """Not "failed" and not a traceback: while the parser is built, or inside a command."""
    import hbench.cli
    import hbench.cli.app
    import hbench.cli.data

    exc_type = KeyboardInterrupt if code == 130 else hbench.cli.app.Terminated

    def raises(*args, **kwargs):
        raise _wrapped_interrupt(exc_type)

    if where == "parser":
        monkeypatch.setattr(hbench.cli.app, "build_parser", raises)
    else:
        monkeypatch.setattr(hbench.cli.data, "cmd_list", raises)
    assert hbench.cli.main(["list", "models"]) == code
    assert capsys.readouterr().err == f"hbench: {kind}; nothing half-written was left behind\n"


def test_a_failure_not_caused_by_an_interrupt_is_still_a_failure(monkeypatch, capsys) -> None:
    import hbench.cli
    import hbench.cli.data

    def raises(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(hbench.cli.data, "cmd_list", raises)
    assert hbench.cli.main(["list", "models"]) == 1
    assert "list failed: RuntimeError: a bug" in capsys.readouterr().err
