"""Job ids and UTC timestamps: the names and times a job writes on disk (contracts §2).

A job id is `<UTC yyyymmddTHHMMSSZ>-<action>-<4 hex>`, e.g. `20261123T014501Z-apply-3f9a`;
it names the job's report folder and its backup folder. Job ids sort by start time.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ("JobId", "new_job_id", "parse_job_id", "utc_timestamp")

_STAMP = "%Y%m%dT%H%M%SZ"
_JOB_ID = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)-(?P<action>[a-z]+)-(?P<suffix>[0-9a-f]{4})")
_ACTION = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class JobId:
    """A parsed job id; `str()` gives it back."""

    started_at: datetime
    action: str
    suffix: str

    def __str__(self) -> str:
        return f"{self.started_at.strftime(_STAMP)}-{self.action}-{self.suffix}"


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one")
    return now.astimezone(UTC)


def new_job_id(action: str, now: datetime | None = None) -> str:
    """A fresh job id for `action` (lowercase letters) started at `now` (default: now)."""
    if not _ACTION.fullmatch(action):
        raise ValueError(f"action {action!r} must be lowercase letters, e.g. apply")
    return str(JobId(_utc(now).replace(microsecond=0), action, secrets.token_hex(2)))


def parse_job_id(text: str) -> JobId:
    """Read a job id back; `ValueError` if `text` is not one."""
    match = _JOB_ID.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a job id like 20261123T014501Z-apply-3f9a")
    started = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
    return JobId(started, match["action"], match["suffix"])


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def utc_timestamp(when: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a Z, e.g. `2026-11-23T01:45:01.123Z`.

    Now's is built from `time.time()` and a cached whole second: a backup stamps every
    bucket, and `datetime.now().isoformat()` was a visible part of its CPU (issue 15).
    """
    if when is None:
        now = time.time()
        seconds = int(now)
        return f"{_second(seconds)}.{min(int((now - seconds) * 1000), 999):03d}Z"
    return _utc(when).isoformat(timespec="milliseconds").replace("+00:00", "Z")
