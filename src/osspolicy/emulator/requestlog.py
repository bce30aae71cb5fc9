"""The request log: one `RequestLogEntry` per request, in memory and optionally in a file.

`RequestLog` keeps the newest entries for the Python API (`Emulator.request_log`); with a
file (`--request-log FILE`) each entry is also appended as one JSON line, flushed, so a
test or a CI job sees from outside what a client really sent::

    {"time": "2026-11-23T01:45:01.123Z", "method": "GET", "host": "b.oss-cn-hangzhou.emu.test:9000",
     "bucket": "b", "subresource": "policy", "action": null, "status": 200,
     "request_id": "...", "scope_region": "cn-hangzhou", "access_key_id": "LTAI..."}

Neither ever holds a secret or a security token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from osspolicy.emulator.faults import FaultKind

__all__ = ("RequestLog", "RequestLogEntry", "entry_json")


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One request as the emulator saw it (never the secret).

    `time` is when the request arrived (wall clock, before any injected latency): the
    instant a service's throttling counts. `status` is None when no response was sent (a
    `reset` or `after` fault); `ordinal` counts the earlier authenticated requests with
    the same (method, bucket, sub-resource), the key the fault decision hashes. `host` is
    the Host header as addressed; `action` is `AssumeRole` for an STS call, the API name
    (`x-acs-action`, e.g. `ListAccounts`) for a Resource Directory call, else None.
    """

    time: float
    method: str
    bucket: str | None
    subresource: str
    status: int | None
    request_id: str
    region: str | None
    access_key_id: str | None
    fault: FaultKind | None
    error_code: str | None = None
    ordinal: int | None = None
    host: str | None = None
    action: str | None = None


def entry_json(entry: RequestLogEntry) -> str:
    """The entry as the one JSON line `--request-log` writes (no trailing newline)."""
    stamp = dt.datetime.fromtimestamp(entry.time, dt.UTC).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "time": stamp.replace("+00:00", "Z"),
            "method": entry.method,
            "host": entry.host,
            "bucket": entry.bucket,
            "subresource": entry.subresource,
            "action": entry.action,
            "status": entry.status,
            "request_id": entry.request_id,
            "scope_region": entry.region,
            "access_key_id": entry.access_key_id,
        },
        separators=(",", ":"),
    )


class RequestLog:
    """The newest `limit` entries, appended by the server, read from any thread.

    With `path`, every entry is also appended to that file as a JSON line (created 0600).
    """

    def __init__(self, limit: int | None = 100_000, *, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestLogEntry] = deque(maxlen=limit)
        self.path = path
        self._file: IO[str] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def open(self) -> None:
        """Open the file (appending), if there is one; the server calls this at start."""
        if self.path is not None and self._file is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            file.close()

    def append(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(entry_json(entry) + "\n")
                self._file.flush()

    def snapshot(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
