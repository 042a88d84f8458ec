"""Fixtures of the `hbench_nets` tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread, as a run's fit has by default: the tiny steps of these tests are
    several times slower with more on a busy machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
