"""Counts as words, with singulars: `1 bucket`, `2 buckets`, `put 300, delete 2`.

One helper for every message of the library and the command (contracts §15 "CLI");
it imports nothing, so any module can use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ("count_words", "plural")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 bucket`, `2 buckets`, `1,000 buckets` (`many` for a plural that is not word + s)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def count_words(counts: Mapping[str, int], *, zeros: bool = False) -> str:
    """`put 300, delete 2`: each name then its count (zeros left out unless asked)."""
    return ", ".join(f"{name} {count:,}" for name, count in counts.items() if count or zeros)
