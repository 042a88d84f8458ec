"""Shell completion: `hbench completion SHELL` and the answers a shell gets from argcomplete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hbench.cli import main


def complete(line: str, tmp_path: Path) -> list[str]:
    """What ``hbench`` answers a shell that asks to complete ``line`` (argcomplete's protocol,
    as the script of `hbench completion bash` drives it), from a real process."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    code = "import sys; from hbench.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [word.strip() for word in out.read_text().split("\n") if word.strip()]


def test_a_command_is_completed(tmp_path) -> None:
    assert complete("hbench ru", tmp_path) == ["run"]
    assert "completion" in complete("hbench co", tmp_path)


def test_suites_and_models_are_the_registered_ones(tmp_path) -> None:
    from hbench.registry.registry import get_registry

    registry = get_registry()
    suites = [item.name for item in registry.in_order("suite")]
    assert complete("hbench run --suite ", tmp_path) == suites
    assert "smoke" in suites and "cpu" in suites
    assert complete("hbench run --model naive", tmp_path) == ["naive-bayes"]
    assert set(complete("hbench run --model ", tmp_path)) == set(registry.names("model"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_of_each_shell_names_hbench(shell, capsys) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "hbench" in script and "_ARGCOMPLETE" in script


def test_an_unknown_shell_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "powershell-9"])
    assert exc.value.code == 2


def test_argcomplete_is_not_imported_by_an_ordinary_command(capsys) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from hbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['list', 'suites'])\n"
        "print('argcomplete' in sys.modules)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "_ARGCOMPLETE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_bash(tmp_path) -> None:
    # the script `hbench completion bash` prints, sourced by a real bash, as README says
    line = "hbench run --suite "
    script = (
        'source <(hbench completion bash); COMP_WORDS=(hbench run --suite ""); COMP_CWORD=3;'
        f' COMP_LINE="{line}"; COMP_POINT={len(line)}; _python_argcomplete hbench;'
        ' printf "%s\\n" "${COMPREPLY[@]}"'
    )
    bin_dir = str(Path(sys.executable).parent)  # where the `hbench` script is installed
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "smoke" in result.stdout.split() and "cpu" in result.stdout.split()
