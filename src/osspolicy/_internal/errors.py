"""Every exception osspolicy raises, in one tree.

```
OssPolicyError
├── ConfigError                 bad input: exit 2, nothing sent
│   ├── ManifestError           the job manifest (file, key path, fix)
│   ├── PolicyDocumentError     a baseline policy that the service would refuse
│   ├── CredentialsError        an account's credentials cannot be resolved
│   ├── BackupError             a damaged or unfinished backup folder
│   ├── ReportDirBusy           another writing job holds the report folder's lock
│   ├── NotConfirmed            a writing job's plan was not confirmed: nothing written
│   └── PreflightError          the job's first call showed the endpoint or credentials
│                               wrong (contracts §15): exit 2, at most 2 requests a pair
├── ListingError                the targets could not all be listed (the job's problem)
├── JobFailed                   the job itself failed (the disk, a folder, a writer): exit 1
├── Stopped                     no new attempt after a stop signal: the target is skipped
└── BackendError                a call to OSS failed (one bucket's problem)
    ├── TransientError          retried: the same call may succeed later
    │   ├── Throttled           503 ServiceUnavailable / 429 / QPS limit
    │   ├── ServerError         other 5xx
    │   ├── NetworkError        reset, refused, DNS, TLS: no response
    │   ├── Timeout             connect, read or whole-call (timeouts.call_s) timeout
    │   ├── ClockSkewed         RequestTimeTooSkewed (re-signed on retry)
    │   └── CredentialsExpired  expired token (EC 0002-00000007) or a failed refresh
    └── PermanentError          not retried: the request itself is wrong
        ├── NoSuchBucket
        ├── NoSuchBucketPolicy
        ├── AccessDenied
        ├── InvalidPolicyDocument
        ├── SignatureDoesNotMatch
        ├── InvalidAccessKeyId
        ├── InvalidArgument
        └── (any other service code: a PermanentError carrying the code)
    ├── Interrupted             a call in flight abandoned at a stop: not retried
    └── PreflightFailed         an (account, region)'s first call failed for a cause
                                retrying cannot fix: its targets are not sent
```

Foreign exceptions (the SDK's, the OS's) are translated into this tree at exactly one
boundary each: `backends/` for the SDK, the file writers for disk errors.
"""

from __future__ import annotations

import errno

__all__ = (
    "AccessDenied",
    "BackendError",
    "BackupError",
    "ClockSkewed",
    "ConfigError",
    "CredentialsError",
    "CredentialsExpired",
    "Interrupted",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidPolicyDocument",
    "JobFailed",
    "ListingError",
    "ManifestError",
    "NetworkError",
    "NoSuchBucket",
    "NoSuchBucketPolicy",
    "NotConfirmed",
    "OssPolicyError",
    "PermanentError",
    "PolicyDocumentError",
    "PreflightError",
    "PreflightFailed",
    "ReportDirBusy",
    "ServerError",
    "SignatureDoesNotMatch",
    "Stopped",
    "Throttled",
    "Timeout",
    "TransientError",
)


class OssPolicyError(Exception):
    """Root of everything osspolicy raises on purpose."""


class ListingError(OssPolicyError):
    """The job's targets could not all be listed (ListBuckets failed after its retries,
    or the buckets file could not be read to its end): the job fails, stays resumable,
    and its records cover only the targets listed before (contracts §5)."""

    def __init__(self, message: str, *, cause: BackendError | None = None) -> None:
        super().__init__(message)
        #: the service's error, when the listing failed on one
        self.cause = cause


class JobFailed(OssPolicyError):
    """The job itself failed, not one bucket: the disk (full, `ulimit -f`), a folder that
    vanished, a writer that failed (contracts §14). Exit 1; what was flushed stays, so
    `--resume` continues the job. `str()` is one line naming the OS error and the path.

    `job_id` and `report_folder` are the job's (None when it failed before its folders
    were made); `errors` counts the failures it stands for (a task group's several: the
    first is named).
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        report_folder: str | None = None,
        errors: int = 1,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.report_folder = report_folder
        self.errors = errors

    @classmethod
    def of(
        cls,
        exc: BaseException,
        *,
        job_id: str | None = None,
        report_folder: str | None = None,
        errors: int = 1,
    ) -> JobFailed:
        """The job-level failure of `exc`: an OS error named with its path, else its
        class and message; `errors` > 1 adds how many more there were."""
        cause = exc.__cause__
        while isinstance(exc, OSError) and exc.errno is None and isinstance(cause, OSError):
            exc, cause = cause, cause.__cause__  # "an earlier append failed": its cause
        if isinstance(exc, OSError):
            what = exc.strerror or type(exc).__name__
            name = errno.errorcode.get(exc.errno) if exc.errno is not None else None
            code = f" ({name})" if name else ""
            path = f": {exc.filename}" if exc.filename else ""
            text = f"{what}{code}{path}"
            if exc.strerror is None:  # an OSError raised with a message of ours
                text = str(exc) or type(exc).__name__
        else:
            text = f"{type(exc).__name__}: {exc}"
        if errors > 1:
            text += f" (and {errors - 1} more error{'s' if errors > 2 else ''})"
        return cls(
            f"the job failed: {text}", job_id=job_id, report_folder=report_folder, errors=errors
        )


class Stopped(OssPolicyError):
    """The job is stopping (SIGINT/SIGTERM): no new attempt starts, so the target that
    would have made one is `skipped` (note `interrupted`; contracts §14)."""


class ConfigError(OssPolicyError):
    """Bad input found before any request: the job stops with exit 2 and sends nothing.

    `place` names where (a file, a key path), `hint` says how to fix it; `str()` is the
    one sentence the CLI prints.
    """

    def __init__(self, message: str, *, place: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.place = place
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.place}: {self.message}" if self.place else self.message
        if self.hint:
            text = f"{text}; {self.hint}"
        return text


class ManifestError(ConfigError):
    """The job manifest is malformed: a key unknown, missing, or of the wrong kind."""


class PolicyDocumentError(ConfigError):
    """A policy document that breaks the service's rules, refused before sending."""


class CredentialsError(ConfigError):
    """An account's credentials cannot be resolved (no access key, a missing profile, an
    unreachable credentials URI, a refused AssumeRole…); names the account and source."""


class BackupError(ConfigError):
    """A backup folder that is unfinished, unreadable or does not match its checksums."""


class ReportDirBusy(ConfigError):
    """Another writing job holds the report folder's lock: wait for it, or use another."""


class NotConfirmed(ConfigError):
    """A writing job's `confirm` said no to its plan (or the terminal's answer was not
    yes): exit 2, nothing written; the plan job's folder keeps what was shown."""


class PreflightError(ConfigError):
    """The first call of an (account, region) failed for a cause retrying cannot fix
    (nothing listens, the name does not resolve, TLS, a wrong key or secret, the clock)
    before any target finished: the job stops, exit 2, one line naming the account, the
    host and the fix (contracts §15). Its report folder, if made, says so in
    `summary.json` (`error`); nothing is left for `--resume`.

    Unlike the other ConfigErrors it was found by a request: at most 2 per pair."""


class BackendError(OssPolicyError):
    """A call to OSS failed; carries the service's code, request id and HTTP status."""

    #: the OSS error code used when the service sent none (network errors, timeouts)
    default_code = "Error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        ec: str | None = None,
    ) -> None:
        self.message = message
        self.code = code or self.default_code
        self.request_id = request_id
        self.status = status
        self.ec = ec
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TransientError(BackendError):
    """Worth retrying: the same call may succeed later."""


class Throttled(TransientError):
    """The service shed load (503 ServiceUnavailable, 429): back off harder."""

    default_code = "ServiceUnavailable"


class ServerError(TransientError):
    """The service failed on its side (5xx other than throttling)."""

    default_code = "InternalError"


class NetworkError(TransientError):
    """No response: connection refused or reset, DNS or TLS failure. `cause` names the
    ones retrying cannot fix (`backends.netcause`: refused, dns, plain_http, tls), for
    the pre-flight gate; None for a reset or anything else."""

    default_code = "NetworkError"
    cause: str | None = None


class Timeout(TransientError):
    """The connect or read timeout of the SDK's configuration passed, or the attempt as
    a whole outlasted `timeouts.call_s`."""

    default_code = "Timeout"


class ClockSkewed(TransientError):
    """RequestTimeTooSkewed: the request is signed again with a fresh date on retry.
    `offset_s` is how far the service's clock is ahead of this machine's (negative:
    behind), from its answer's Date; None when it sent none."""

    default_code = "RequestTimeTooSkewed"
    offset_s: float | None = None


class CredentialsExpired(TransientError):
    """The service called the security token expired (403, EC 0002-00000007), or fresh
    credentials could not be fetched: retried, the request signed with fresh ones (the
    SDK asks the credentials provider on every request; the library refreshes a stale
    token)."""

    default_code = "SecurityTokenExpired"


class PermanentError(BackendError):
    """Not worth retrying: the request itself is wrong, or the bucket is not there."""


class NoSuchBucket(PermanentError):
    """The bucket does not exist (any more)."""

    default_code = "NoSuchBucket"


class NoSuchBucketPolicy(PermanentError):
    """The bucket has no policy; backends turn this into `None` for GetBucketPolicy."""

    default_code = "NoSuchBucketPolicy"


class AccessDenied(PermanentError):
    """No permission, or a public policy while Block Public Access is on."""

    default_code = "AccessDenied"


class InvalidPolicyDocument(PermanentError):
    """The service refused the policy document (syntax, size, version)."""

    default_code = "InvalidPolicyDocument"


class SignatureDoesNotMatch(PermanentError):
    """The access key secret is wrong: every request will fail the same way."""

    default_code = "SignatureDoesNotMatch"


class InvalidAccessKeyId(PermanentError):
    """The access key id is unknown to the service."""

    default_code = "InvalidAccessKeyId"


class InvalidArgument(PermanentError):
    """A parameter was refused, e.g. the V4 signing region differs from the bucket's."""

    default_code = "InvalidArgument"


class Interrupted(BackendError):
    """A call in flight when the job stopped, abandoned after `timeouts.stop_grace_s` (or
    at a second signal): the target fails; a write may or may not have happened, so a
    resume reads the bucket again before deciding (contracts §14)."""

    default_code = "Interrupted"


class PreflightFailed(BackendError):
    """The first call of this target's (account, region) failed for a cause retrying
    cannot fix (contracts §15). `reason` is the one line naming the account, the host and
    the fix; `sent` says whether this target's own call was that first call (its record
    is `failed`, with the service's code) or it waited for it (`skipped`, no request).
    Both records carry the note `preflight`."""

    default_code = "Preflight"

    def __init__(
        self, reason: str, *, cause: BackendError | None = None, sent: bool = False
    ) -> None:
        super().__init__(
            reason,
            code=cause.code if cause is not None else None,
            request_id=cause.request_id if cause is not None else None,
            status=cause.status if cause is not None else None,
            ec=cause.ec if cause is not None else None,
        )
        self.reason = reason
        self.cause = cause
        self.sent = sent

    def waited(self) -> PreflightFailed:
        """The same failure, as a target that waited for the first call sees it."""
        return PreflightFailed(self.reason, cause=self.cause, sent=False)
