"""`-v`/`-q`: what hbench writes on stderr through Python's logging."""

from __future__ import annotations

import io
import logging

import pytest

import hbench.progress
from hbench.cli import main
from hbench.cli.app import build_parser
from hbench.cli.logs import REPRODUCE, STEPS, configure_logging

#: A run of seconds: the class prior on the smoke suite at one level, in this process.
RUN = ["run", "--model", "prior", "--suite", "smoke", "--seeds", "0", "--set", "P=256"]
RUN += ["--set", "n_test=64", "--train-filter", "0", "--in-process"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging():
    """Leave the ``hbench`` loggers as a plain import finds them."""
    yield
    root = logging.getLogger("hbench")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for name in ("hbench", STEPS, REPRODUCE):
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.propagate = True
    hbench.progress.QUIET = False


@pytest.mark.parametrize(
    ("argv", "verbose", "quiet"),
    [
        ([], 0, False),
        (["-v"], 1, False),
        (["-vv"], 2, False),
        (["--verbose", "--verbose"], 2, False),
        (["-q"], 0, True),
        (["--quiet"], 0, True),
    ],
)
def test_the_flags_parse_before_and_after_the_command(argv, verbose, quiet) -> None:
    for args in (
        build_parser().parse_args([*argv, "list", "suites"]),
        build_parser().parse_args(["list", "suites", *argv]),
    ):
        assert (args.verbose, args.quiet) == (verbose, quiet)


def test_off_a_terminal_each_fit_is_one_line_by_default(tmp_path, capsys) -> None:
    assert main([*RUN, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert [line[:28] for line in err.splitlines()] == ["hbench: fit seed=0 k_train=0"]


def test_quiet_says_nothing_but_warnings(tmp_path, capsys) -> None:
    assert main(["-q", *RUN, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert hbench.progress.QUIET
    logging.getLogger("hbench.anything").warning("a warning still shows")
    assert capsys.readouterr().err == "hbench: a warning still shows\n"


def test_on_a_terminal_the_bars_say_it_unless_verbose(tmp_path, monkeypatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    configure_logging()
    assert not logging.getLogger(STEPS).isEnabledFor(logging.INFO)
    configure_logging(verbose=1)
    assert logging.getLogger(STEPS).isEnabledFor(logging.INFO)
    logging.getLogger(STEPS).info("fit done")
    assert terminal.getvalue() == "hbench: fit done\n"


def test_levels_of_each_flag(capsys) -> None:
    log = logging.getLogger("hbench.some.module")
    shown = {}
    for name, options in {
        "default": {},
        "-v": {"verbose": 1},
        "-vv": {"verbose": 2},
        "-q": {"quiet": True},
    }.items():
        configure_logging(**options)
        log.debug("debug")
        log.info("info")
        log.warning("warning")
        logging.getLogger(REPRODUCE).info("step")
        shown[name] = capsys.readouterr().err
    assert shown["default"] == "hbench: warning\nhbench reproduce: step\n"
    assert shown["-v"] == "hbench: info\nhbench: warning\nhbench reproduce: step\n"
    assert "debug" in shown["-vv"] and "[hbench.some.module]" in shown["-vv"]
    assert shown["-q"] == "hbench: warning\n"


def test_configuring_twice_keeps_one_handler(capsys) -> None:
    configure_logging()
    configure_logging(verbose=1)
    logging.getLogger("hbench").warning("once")
    assert capsys.readouterr().err == "hbench: once\n"
