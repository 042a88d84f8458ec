"""Text from models, files and sweeps is printed without its escape codes."""

from __future__ import annotations

import pytest

from hbench.text import printable, unprintable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ünïcode and 中文", "plain text, ünïcode and 中文"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b[2J\x1b[Hb", "ab"),
        ("\x1b]0;new title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x9b31mred", "red"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("one\ntwo\rthree\u2028four\u2029five", "one two three four five"),
        ("right\u202eto left", "rightto left"),
        ("tab\tkept", "tab\tkept"),
        ("dangling \x1b", "dangling "),
    ],
)
def test_printable_removes_escape_sequences_and_controls(text, shown):
    assert printable(text) == shown


def test_newlines_may_be_kept_and_anything_is_turned_into_text():
    assert printable("a\nb\x1b[1m", newlines=True) == "a\nb"
    assert printable(ValueError("bad \x1b[31mvalue")) == "bad value"


def test_unprintable_names_the_first_character_a_name_must_not_hold():
    assert unprintable("my-model") is None
    assert unprintable("nb\u2028x") == "U+2028"
    assert unprintable("a\x1b[31m") == "U+001B"
    assert unprintable("tab\there") == "U+0009"
