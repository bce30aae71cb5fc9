"""Deterministic fault injection: random-looking but reproducible, plus scripted faults.

A request's fate is a pure function of (seed, method, bucket, sub-resource, ordinal),
where the ordinal counts the earlier requests with that same key. Which request of a
key arrives first may vary under concurrency, but the set of faulted
(method, bucket, sub-resource, ordinal) is the same for a seed under any concurrency.

Kinds: `error` (an error response, nothing changed), `reset` (the connection is reset
without a response, nothing changed) and `after` (the change is applied, then the
connection is reset: the client cannot tell whether its write happened). Scripted only:
`hang` (the request is read and never answered: the connection stays open until the
client gives up or the emulator stops; nothing changed) and `trickle` (the request is
served, and its response body sent at `bytes_per_s`: a client whose read timeout restarts
on every byte waits as long as the body lasts).

ListBuckets also has answers that lie (contracts §14), scripted only, each a 200:
`empty` (no body at all), `no-next-marker` (IsTruncated true, no NextMarker),
`stuck-marker` (IsTruncated true, NextMarker the marker that was sent: a client that
believes it lists forever) and `overlap` (NextMarker the name before the page's last, so
the next page repeats that last name). `--list-fault SHAPE[:AFTER]` scripts one of them
for every ListBuckets answer after the first AFTER (`parse_list_fault`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Literal

from osspolicy.emulator.state import EC

__all__ = ("LIST_SHAPES", "Fault", "FaultInjector", "FaultKind", "ListShape", "parse_list_fault")

#: a ListBuckets answer that lies (see the module docstring)
ListShape = Literal["empty", "no-next-marker", "stuck-marker", "overlap"]
LIST_SHAPES: tuple[ListShape, ...] = ("empty", "no-next-marker", "stuck-marker", "overlap")
FaultKind = Literal["error", "reset", "after", "hang", "trickle"] | ListShape
_KINDS = ("error", "reset", "after", "hang", "trickle", *LIST_SHAPES)

_SCALE = float(1 << 56)


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one request instead of (or after) serving it."""

    kind: FaultKind
    status: int = 0
    code: str = ""
    message: str = ""
    ec: str = ""
    #: `trickle`: how fast the response body is sent
    bytes_per_s: float = 0.0


_INTERNAL_ERROR = Fault(
    "error", 500, "InternalError", "We encountered an internal error. Please try again.",
    EC["InternalError"],
)  # fmt: skip
_THROTTLED = Fault(
    "error", 503, "ServiceUnavailable", "Please reduce your request rate.",
    EC["ServiceUnavailable"],
)  # fmt: skip
_RESET = Fault("reset")
_AFTER = Fault("after")
_RANDOM_FAULTS = (_INTERNAL_ERROR, _THROTTLED, _RESET)


def parse_list_fault(spec: str) -> tuple[ListShape, int]:
    """`SHAPE[:AFTER]` (`--list-fault`): the shape, and how many ListBuckets answers come
    first untouched (0 when not given); ValueError naming the shapes otherwise."""
    shape, _, after = spec.partition(":")
    if shape not in LIST_SHAPES:
        raise ValueError(f"{shape!r} is not a listing fault; use one of {', '.join(LIST_SHAPES)}")
    if after and not after.isdigit():
        raise ValueError(f"AFTER must be a number of ListBuckets answers, got {after!r}")
    return shape, int(after or 0)


class _Script:
    __slots__ = ("bucket", "fault", "method", "remaining", "skip", "subresource")

    def __init__(
        self,
        method: str,
        bucket: str | None,
        subresource: str | None,
        count: int | None,
        fault: Fault,
        *,
        skip: int = 0,
    ) -> None:
        self.method = method
        self.bucket = bucket
        self.subresource = subresource
        self.remaining = count
        self.fault = fault
        self.skip = skip

    def matches(self, method: str, bucket: str, subresource: str) -> bool:
        return (
            (self.remaining is None or self.remaining > 0)
            and self.method in ("*", method)
            and self.bucket in (None, bucket)
            and self.subresource in (None, subresource)
        )


class FaultInjector:
    """Decides, per request, whether and how it fails."""

    def __init__(self, rate: float = 0.0, after_rate: float = 0.0, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._ordinals: dict[tuple[str, str, str], int] = {}
        self._scripts: list[_Script] = []
        self.rate = 0.0
        self.after_rate = 0.0
        self.seed = 0
        self.configure(rate, after_rate, seed)

    def __repr__(self) -> str:
        return f"FaultInjector(rate={self.rate}, after_rate={self.after_rate}, seed={self.seed})"

    def configure(self, rate: float = 0.0, after_rate: float = 0.0, seed: int = 0) -> None:
        """Set the random fault rates and seed; the ordinals start again from zero."""
        for name, value in (("rate", rate), ("after_rate", after_rate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name} must be within [0, 1], got {value}")
        with self._lock:
            self.rate, self.after_rate, self.seed = float(rate), float(after_rate), int(seed)
            self._ordinals.clear()

    def script(
        self,
        method: str,
        bucket: str | None = None,
        subresource: str | None = None,
        *,
        count: int | None = 1,
        status: int = 503,
        code: str = "ServiceUnavailable",
        kind: FaultKind = "error",
        skip: int = 0,
        bytes_per_s: float = 1.0,
    ) -> None:
        """Fail `count` matching requests (None: every one) after the first `skip` (None
        matches any; "" is no sub-resource, or for the bucket the service itself:
        ListBuckets). A listing shape (`LIST_SHAPES`) is for ListBuckets only; a `trickle`
        sends the body at `bytes_per_s`."""
        if skip < 0:
            raise ValueError(f"skip must not be negative, got {skip}")
        if kind not in _KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(_KINDS)}, got {kind!r}")
        if kind in LIST_SHAPES and (method.upper(), bucket, subresource) != ("GET", "", ""):
            raise ValueError(f"a {kind} fault is a ListBuckets answer: script it as GET, '', ''")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if kind == "error" and not 400 <= status <= 599:
            raise ValueError(f"an error fault needs a 4xx or 5xx status, got {status}")
        if kind == "trickle" and not bytes_per_s > 0:
            raise ValueError(f"a trickle needs a positive bytes_per_s, got {bytes_per_s}")
        message = "Please reduce your request rate." if status == 503 else f"Scripted {code}."
        fault = Fault(kind, status, code, message, EC.get(code, EC["InternalError"]), bytes_per_s)
        with self._lock:
            self._scripts.append(
                _Script(method.upper(), bucket, subresource, count, fault, skip=skip)
            )

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    def decide(self, method: str, bucket: str, subresource: str) -> tuple[int, Fault | None]:
        """Count this request under its key; return its ordinal and its fault, if any."""
        key = (method, bucket, subresource)
        with self._lock:
            ordinal = self._ordinals.get(key, 0)
            self._ordinals[key] = ordinal + 1
            for script in self._scripts:
                if script.matches(method, bucket, subresource):
                    if script.skip > 0:  # let this one through, untouched by this script
                        script.skip -= 1
                        continue
                    if script.remaining is not None:
                        script.remaining -= 1
                        if script.remaining == 0:
                            self._scripts.remove(script)
                    return ordinal, script.fault
            rate, after_rate, seed = self.rate, self.after_rate, self.seed
        if rate <= 0.0 and after_rate <= 0.0:
            return ordinal, None
        material = f"{seed}\0{method}\0{bucket}\0{subresource}\0{ordinal}".encode()
        digest = hashlib.blake2b(material, digest_size=16).digest()
        if int.from_bytes(digest[0:7]) / _SCALE < rate:
            return ordinal, _RANDOM_FAULTS[digest[14] % len(_RANDOM_FAULTS)]
        if int.from_bytes(digest[7:14]) / _SCALE < after_rate:
            return ordinal, _AFTER
        return ordinal, None
