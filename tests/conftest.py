"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest


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
