"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C its meaning back when the test run inherited it ignored.

    A shell without job control starts a background command (``pytest ... &``, ``nohup``) with
    SIGINT ignored, and that disposition passes to every child: the commands the tests
    interrupt would then never see their Ctrl-C and run to the end, and the in-process tests'
    re-delivered interrupt (``_thread.interrupt_main``) would do nothing. An interrupt of the
    test run itself then stops it as it would in a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def torch_load_calls(monkeypatch) -> list:
    """Wrap ``torch.load`` and record the ``weights_only`` of every call (None if not given)."""
    torch = pytest.importorskip("torch")
    calls: list = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


@pytest.fixture
def sleepy(tmp_path, monkeypatch):
    """Install the test-only `sleepy` model as a real plugin, visible to worker processes; the
    folder its fits leave marks in (its ``marks`` option)."""
    from hbench.registry.registry import reset_registry

    folder = tmp_path / "plugin"
    folder.mkdir()
    shutil.copy(Path(__file__).parent / "sleepy_plugin.py", folder / "hbench_sleepy_test.py")
    info = folder / "hbench_sleepy_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hbench-sleepy-test\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[hbench]\nsleepy = hbench_sleepy_test\n", encoding="utf-8"
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    )
    reset_registry()
    yield marks
    reset_registry()
