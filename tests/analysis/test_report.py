"""Every analysis of `hbench.analysis` is registered, reachable from ``hbench analyze NAME``
and from Python, with one flag per option; an analysis is held to its contract."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import hbench.analysis
from hbench.analysis.report import Report, analyses, get_analysis
from hbench.cli import main
from hbench.errors import PluginError, UsageError
from hbench.registry.hookspecs import hookimpl
from hbench.registry.registry import load_registry


def test_every_analysis_module_is_registered() -> None:
    factories = {analysis.entry.factory for analysis in analyses()}
    modules = [
        importlib.import_module(f"hbench.analysis.{info.name}")
        for info in pkgutil.iter_modules(hbench.analysis.__path__)
    ]
    with_report = {f"{m.__name__}:report" for m in modules if callable(getattr(m, "report", None))}
    assert with_report == factories
    assert {a.name for a in analyses()} >= {"attention", "probe", "mismatch", "calibration"}


@pytest.mark.parametrize("name", [analysis.name for analysis in analyses()])
def test_each_has_a_command_with_a_flag_per_option(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["analyze", name, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for option in get_analysis(name).options_class.model_fields:
        assert f"--{option.replace('_', '-')}" in shown


def test_options_are_validated_and_spelled_as_flags(tmp_path: Path, capsys) -> None:
    with pytest.raises(UsageError, match="analysis 'mismatch' has no option 'sequences'"):
        get_analysis("mismatch")(tmp_path / "none.json", {"sequences": 3})
    with pytest.raises(SystemExit) as done:  # a Literal option's values are its choices
        main(["analyze", "budget", str(tmp_path), "--lines", "nope"])
    assert done.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_an_analysis_must_return_a_report(tmp_path: Path) -> None:
    def broken(source, options):
        return {"not": "a report"}

    def fine(source, options):
        return Report("fine", source, skipped="nothing to see")

    def register_them(register):
        register("broken", broken)
        register("fine", fine)

    plugin = SimpleNamespace(hbench_register_analyses=hookimpl(register_them))
    registry = load_registry(entry_points=False, extra_plugins=[("p", plugin)], disabled=[])
    with pytest.raises(PluginError, match=r"returned dict, not a hbench\.analysis\.report\.Report"):
        get_analysis("broken", registry)(tmp_path)
    report = get_analysis("fine", registry)(tmp_path)
    assert report.write(tmp_path) == [] and report.to_json() == {
        "analysis": "fine",
        "skipped": "nothing to see",
    }
