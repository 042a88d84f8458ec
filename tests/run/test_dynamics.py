"""The staircase summary of learning dynamics."""

from __future__ import annotations

from hbench.run.dynamics import staircase


def test_staircase_reports_closest_and_first_order():
    kl = [
        {"0": 2.0, "1": 1.5, "2": 0.5},
        {"0": 1.0, "1": 0.4, "2": 0.6},
        {"0": 0.3, "1": 0.4, "2": 0.9},
        {"0": 0.5, "1": 0.2, "2": 0.9},
    ]
    summary = staircase([{"kl": k} for k in kl])
    assert summary["closest"] == [2, 1, 0, 1]
    assert summary["first_closest_order"] == [2, 1, 0]
