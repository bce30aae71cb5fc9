"""Text from a policy or the service, made safe to show on a terminal.

A Sid, a principal, an error message quoting them or a bucket-side value is whatever
someone stored (the service keeps any bytes a client puts). Printed raw, an ESC sequence
in a Sid can erase the line that reports it, a NUL can hide the rest of a line and a
right-to-left override can make `allow` read as `wolla` (Trojan Source). Every such
character is shown as its escape instead:

```
C0 controls (NUL … US), DEL, C1 controls (0x80 … 0x9f)   ─► \\x1b, \\x00, \\x7f, \\x9b
tab, newline, carriage return                          ─► \\t, \\n, \\r
bidi embeddings, overrides, isolates and marks,
line and paragraph separators (U+061C, U+200E-200F,
U+2028-202E, U+2066-2069)                              ─► \\u202e, …
```

`visible` escapes a piece of text (a newline in a Sid cannot start a line of its own);
`visible_lines` keeps newlines, for a whole block the command built itself, and is what
every console of the command applies to every string it prints (`render.make_console`),
so a line that forgot `visible` still reaches the terminal harmless. A backslash is left
as it is, so escaping twice changes nothing. Files (JSONL, SARIF, JSON) keep the true
values: JSON escapes them already. This module imports nothing, so any module can use it.
"""

from __future__ import annotations

__all__ = ("visible", "visible_lines")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: bidi formatting characters (Unicode UAX #9) and the line/paragraph separators
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x2028, 0x202F), *range(0x2066, 0x206A))


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: code point -> its visible escape, for str.translate
_TABLE = {code: _escape(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI)}
_LINES_TABLE = {code: text for code, text in _TABLE.items() if code != ord("\n")}


def visible(text: str) -> str:
    """`text` with every control, bidi or separator character shown as its escape
    (newlines too): safe to print as part of a line."""
    return text.translate(_TABLE)


def visible_lines(text: str) -> str:
    """`text` as `visible` shows it, but with its newlines kept: a block of lines."""
    return text.translate(_LINES_TABLE)
