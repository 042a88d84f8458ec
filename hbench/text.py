"""Text from outside hbench made safe to print: a model's exception, a sweep's label, a name
read from a file.

Such text may hold terminal escape sequences (colours, cursor moves, a rewritten title, a
hidden line) or other control characters; printed as is, it could make a terminal show what
did not happen. `printable` removes them and keeps everything else, tabs and line breaks
included where asked.
"""

from __future__ import annotations

import re
import unicodedata

#: ANSI/VT escape sequences: CSI (``ESC [ ... final``), OSC (``ESC ] ... BEL`` or ``ESC \\``),
#: the other string sequences (DCS, SOS, PM, APC), their 8-bit forms, and two-character
#: escapes (``ESC c``).
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?                        # CSI
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]?                                        # two-character escapes
    """,
    re.VERBOSE | re.DOTALL,
)


def printable(text: object, *, newlines: bool = False) -> str:
    """``str(text)`` without escape sequences and control characters (Unicode category C:
    controls, format characters such as bidirectional overrides, unassigned code points), and
    without line and paragraph separators (U+2028, U+2029).

    Tabs are kept; line breaks become spaces unless ``newlines``, so that one message stays one
    line."""
    text = _ESCAPES.sub("", str(text))
    kept = []
    for char in text:
        if char == "\t" or (newlines and char == "\n"):
            kept.append(char)
        elif char in "\r\n\u2028\u2029":
            kept.append(" ")
        elif unicodedata.category(char).startswith("C") or char in "\u2028\u2029":
            continue
        else:
            kept.append(char)
    return "".join(kept)


def unprintable(text: str) -> str | None:
    """The first character of ``text`` that `printable` would remove or replace, as
    ``U+XXXX``; None when there is none. For refusing such names rather than changing them."""
    for char in text:
        if char in "\n\r\t\u2028\u2029" or unicodedata.category(char).startswith("C"):
            return f"U+{ord(char):04X}"
    return None


__all__ = ["printable", "unprintable"]
