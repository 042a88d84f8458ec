"""Fixtures shared by every test folder."""

from __future__ import annotations

import signal

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
