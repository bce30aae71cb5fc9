"""The manifest's bounded numbers (contracts §1): counts, fractions, paces, each checked
with a message that names the fix, and carried into the JSON Schema as its bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

__all__ = ("Accounts", "Count", "Fraction", "PerSecond", "Workers")


def _number(value: object) -> object:
    """A YAML `true` is not a number (pydantic's lax mode would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError(f"is {str(value).lower()}; write a number")  # noqa: TRY004 - pydantic's
    return value


def _at_least_zero(fix: str) -> Callable[[int], int]:
    """The check of a count that may be 0 but not negative; `fix` ends its message."""

    def check(value: int) -> int:
        if value < 0:
            raise ValueError(f"is {value}; write {fix}")
        return value

    return check


_count = _at_least_zero("0 (none) or a number of targets")


def _fraction(value: float) -> float:
    if not 0 <= value <= 1:
        shown = value if math.isfinite(value) else str(value)
        raise ValueError(f"is {shown}; write a fraction in (0, 1], e.g. 0.1, or 0 for none")
    return value


#: a number of targets, 0 for none (checked by `_count`: its message)
Count = Annotated[
    int,
    BeforeValidator(_number),
    AfterValidator(_count),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]
#: a fraction in [0, 1], 0 for none (checked by `_fraction`: its message)
Fraction = Annotated[
    float,
    BeforeValidator(_number),
    AfterValidator(_fraction),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]


def _per_second(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        shown = value if math.isfinite(value) else str(value)
        raise ValueError(f"is {shown}; write a positive number of calls a second, e.g. 20")
    return value


_workers = _at_least_zero("0 (the job's concurrency) or a number of workers")
_accounts = _at_least_zero("0 (none) or a number of accounts")


#: calls a second, more than 0 (checked by `_per_second`: its message)
PerSecond = Annotated[
    float,
    BeforeValidator(_number),
    AfterValidator(_per_second),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
]
#: a number of workers, 0 for the job's concurrency (checked by `_workers`)
Workers = Annotated[
    int,
    BeforeValidator(_number),
    AfterValidator(_workers),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]
#: a number of accounts, 0 for none (checked by `_accounts`)
Accounts = Annotated[
    int,
    BeforeValidator(_number),
    AfterValidator(_accounts),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]
