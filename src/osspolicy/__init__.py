"""osspolicy: async batch operations on Alibaba Cloud OSS bucket policies.

One async function per job, each taking a manifest (or its keys) and returning a
`JobRun`; writing jobs are confirmed first (`confirm=` or `yes=True`)::

    import anyio
    import osspolicy

    async def main() -> None:
        manifest = osspolicy.load_manifest("jobs/backup-all.yaml")
        run = await osspolicy.backup(manifest)
        print(run.exit_code, run.backup_folder)

    anyio.run(main)

`docs/api.md` walks through it. This module's `__all__`, `osspolicy.emulator` and its
pytest plugin are the public surface; every other module is private and may change in
any release (see CHANGELOG.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .api import JobProgress as JobProgress
    from .api import Progress as Progress
    from .api import ResultStream as ResultStream
    from .api import apply as apply
    from .api import backup as backup
    from .api import check as check
    from .api import delete as delete
    from .api import plan as plan
    from .api import restore as restore
    from .api import rollback as rollback
    from .api import stream as stream
    from .api import validate as validate
    from .backends import Backend as Backend
    from .backends.memory import MemoryBackend as MemoryBackend
    from .errors import AccessDenied as AccessDenied
    from .errors import BackendError as BackendError
    from .errors import BackupError as BackupError
    from .errors import ClockSkewed as ClockSkewed
    from .errors import ConfigError as ConfigError
    from .errors import CredentialsError as CredentialsError
    from .errors import CredentialsExpired as CredentialsExpired
    from .errors import Interrupted as Interrupted
    from .errors import InvalidAccessKeyId as InvalidAccessKeyId
    from .errors import InvalidArgument as InvalidArgument
    from .errors import InvalidPolicyDocument as InvalidPolicyDocument
    from .errors import JobFailed as JobFailed
    from .errors import ListingError as ListingError
    from .errors import ManifestError as ManifestError
    from .errors import NetworkError as NetworkError
    from .errors import NoSuchBucket as NoSuchBucket
    from .errors import NoSuchBucketPolicy as NoSuchBucketPolicy
    from .errors import NotConfirmed as NotConfirmed
    from .errors import OssPolicyError as OssPolicyError
    from .errors import PermanentError as PermanentError
    from .errors import PolicyDocumentError as PolicyDocumentError
    from .errors import PreflightError as PreflightError
    from .errors import PreflightFailed as PreflightFailed
    from .errors import ReportDirBusy as ReportDirBusy
    from .errors import ServerError as ServerError
    from .errors import SignatureDoesNotMatch as SignatureDoesNotMatch
    from .errors import Stopped as Stopped
    from .errors import Throttled as Throttled
    from .errors import Timeout as Timeout
    from .errors import TransientError as TransientError
    from .gate import Confirm as Confirm
    from .gate import PlanToConfirm as PlanToConfirm
    from .job import JobRun as JobRun
    from .keys import AccessKey as AccessKey
    from .manifest import Manifest as Manifest
    from .manifest import load_manifest as load_manifest
    from .manifest import parse_manifest as parse_manifest
    from .report import Summary as Summary
    from .results import Change as Change
    from .results import Outcome as Outcome
    from .results import Result as Result
    from .results import Target as Target

__all__ = (
    "AccessDenied",
    "AccessKey",
    "Backend",
    "BackendError",
    "BackupError",
    "Change",
    "ClockSkewed",
    "ConfigError",
    "Confirm",
    "CredentialsError",
    "CredentialsExpired",
    "Interrupted",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidPolicyDocument",
    "JobFailed",
    "JobProgress",
    "JobRun",
    "ListingError",
    "Manifest",
    "ManifestError",
    "MemoryBackend",
    "NetworkError",
    "NoSuchBucket",
    "NoSuchBucketPolicy",
    "NotConfirmed",
    "OssPolicyError",
    "Outcome",
    "PermanentError",
    "PlanToConfirm",
    "PolicyDocumentError",
    "PreflightError",
    "PreflightFailed",
    "Progress",
    "ReportDirBusy",
    "Result",
    "ResultStream",
    "ServerError",
    "SignatureDoesNotMatch",
    "Stopped",
    "Summary",
    "Target",
    "Throttled",
    "Timeout",
    "TransientError",
    "apply",
    "backup",
    "check",
    "delete",
    "load_manifest",
    "parse_manifest",
    "plan",
    "restore",
    "rollback",
    "stream",
    "validate",
)

# imported when first used: `osspolicy --version` must not pay for the job machinery
__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "JobProgress": ".api",
        "Progress": ".api",
        "ResultStream": ".api",
        "apply": ".api",
        "backup": ".api",
        "check": ".api",
        "delete": ".api",
        "plan": ".api",
        "restore": ".api",
        "rollback": ".api",
        "stream": ".api",
        "validate": ".api",
        "Backend": ".backends",
        "MemoryBackend": ".backends.memory",
        "AccessDenied": ".errors",
        "BackendError": ".errors",
        "BackupError": ".errors",
        "ClockSkewed": ".errors",
        "ConfigError": ".errors",
        "CredentialsError": ".errors",
        "CredentialsExpired": ".errors",
        "Interrupted": ".errors",
        "InvalidAccessKeyId": ".errors",
        "InvalidArgument": ".errors",
        "InvalidPolicyDocument": ".errors",
        "JobFailed": ".errors",
        "ListingError": ".errors",
        "ManifestError": ".errors",
        "NetworkError": ".errors",
        "NoSuchBucket": ".errors",
        "NoSuchBucketPolicy": ".errors",
        "NotConfirmed": ".errors",
        "OssPolicyError": ".errors",
        "PermanentError": ".errors",
        "PolicyDocumentError": ".errors",
        "PreflightError": ".errors",
        "PreflightFailed": ".errors",
        "ReportDirBusy": ".errors",
        "ServerError": ".errors",
        "SignatureDoesNotMatch": ".errors",
        "Stopped": ".errors",
        "Throttled": ".errors",
        "Timeout": ".errors",
        "TransientError": ".errors",
        "Confirm": ".gate",
        "PlanToConfirm": ".gate",
        "JobRun": ".job",
        "AccessKey": ".keys",
        "Manifest": ".manifest",
        "load_manifest": ".manifest",
        "parse_manifest": ".manifest",
        "Summary": ".report",
        "Change": ".results",
        "Outcome": ".results",
        "Result": ".results",
        "Target": ".results",
    },
)
