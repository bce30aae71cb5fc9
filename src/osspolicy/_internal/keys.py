"""An access key given as an object (contracts §16): for a caller that holds its keys
itself (a secrets manager, a test's emulator) instead of naming where a job finds them.
The secret and the token never appear in a repr, a log line or any file a job writes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ("AccessKey",)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AccessKey pair (and an STS token, for temporary keys). Pass it to a job as
    `credentials=AccessKey(...)` (every account of the job) or `credentials={"name":
    AccessKey(...)}` (per account); `Emulator.credentials` is one."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.access_key_id or not self.access_key_secret:
            raise ValueError("an AccessKey needs an access key id and a secret")
