"""osspolicy: async batch operations on Alibaba Cloud OSS bucket policies.

One async function per job, each taking a manifest (or its keys) and returning a
`JobRun`; writing jobs are confirmed first (`confirm=` or `yes=True`)::

    import anyio
    import osspolicy

    async def main() -> None:
        manifest = osspolicy.load_manifest("jobs/backup-all.yaml")
        run = await osspolicy._internal.backup(manifest)
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
    from ._internal.api import JobProgress as JobProgress
    from ._internal.api import Progress as Progress
    from ._internal.api import apply as apply
    from ._internal.api import audit as audit
    from ._internal.api import backup as backup
    from ._internal.api import check as check
    from ._internal.api import delete as delete
    from ._internal.api import plan as plan
    from ._internal.api import restore as restore
    from ._internal.api import rollback as rollback
    from ._internal.api import validate as validate
    from ._internal.api_diff import diff as diff
    from ._internal.api_stream import ResultStream as ResultStream
    from ._internal.api_stream import stream as stream
    from ._internal.audit import AuditRun as AuditRun
    from ._internal.audit_coverage import AuditCoverage as AuditCoverage
    from ._internal.backends import Backend as Backend
    from ._internal.backends.memory import MemoryBackend as MemoryBackend
    from ._internal.backup_diff import BackupDiff as BackupDiff
    from ._internal.backup_diff import BucketDiff as BucketDiff
    from ._internal.errors import AccessDenied as AccessDenied
    from ._internal.errors import BackendError as BackendError
    from ._internal.errors import BackupError as BackupError
    from ._internal.errors import ClockSkewed as ClockSkewed
    from ._internal.errors import ConfigError as ConfigError
    from ._internal.errors import CredentialsError as CredentialsError
    from ._internal.errors import CredentialsExpired as CredentialsExpired
    from ._internal.errors import Interrupted as Interrupted
    from ._internal.errors import InvalidAccessKeyId as InvalidAccessKeyId
    from ._internal.errors import InvalidArgument as InvalidArgument
    from ._internal.errors import InvalidPolicyDocument as InvalidPolicyDocument
    from ._internal.errors import JobFailed as JobFailed
    from ._internal.errors import ListingError as ListingError
    from ._internal.errors import ManifestError as ManifestError
    from ._internal.errors import NetworkError as NetworkError
    from ._internal.errors import NoSuchBucket as NoSuchBucket
    from ._internal.errors import NoSuchBucketPolicy as NoSuchBucketPolicy
    from ._internal.errors import NotConfirmed as NotConfirmed
    from ._internal.errors import OssPolicyError as OssPolicyError
    from ._internal.errors import PermanentError as PermanentError
    from ._internal.errors import PolicyDocumentError as PolicyDocumentError
    from ._internal.errors import PreflightError as PreflightError
    from ._internal.errors import PreflightFailed as PreflightFailed
    from ._internal.errors import ReportDirBusy as ReportDirBusy
    from ._internal.errors import ServerError as ServerError
    from ._internal.errors import SignatureDoesNotMatch as SignatureDoesNotMatch
    from ._internal.errors import Stopped as Stopped
    from ._internal.errors import Throttled as Throttled
    from ._internal.errors import Timeout as Timeout
    from ._internal.errors import TransientError as TransientError
    from ._internal.findings import Finding as Finding
    from ._internal.gate import Confirm as Confirm
    from ._internal.gate import PlanToConfirm as PlanToConfirm
    from ._internal.job import JobRun as JobRun
    from ._internal.keys import AccessKey as AccessKey
    from ._internal.manifest import Manifest as Manifest
    from ._internal.manifest import load_manifest as load_manifest
    from ._internal.manifest import parse_manifest as parse_manifest
    from ._internal.report import Summary as Summary
    from ._internal.results import Change as Change
    from ._internal.results import Outcome as Outcome
    from ._internal.results import Result as Result
    from ._internal.results import Target as Target
    from ._internal.statement_diff import StatementDiff as StatementDiff

__all__ = (
    "AccessDenied",
    "AccessKey",
    "AuditCoverage",
    "AuditRun",
    "Backend",
    "BackendError",
    "BackupDiff",
    "BackupError",
    "BucketDiff",
    "Change",
    "ClockSkewed",
    "ConfigError",
    "Confirm",
    "CredentialsError",
    "CredentialsExpired",
    "Finding",
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
    "StatementDiff",
    "Stopped",
    "Summary",
    "Target",
    "Throttled",
    "Timeout",
    "TransientError",
    "apply",
    "audit",
    "backup",
    "check",
    "delete",
    "diff",
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
        "JobProgress": "._internal.api",
        "Progress": "._internal.api",
        "ResultStream": "._internal.api_stream",
        "apply": "._internal.api",
        "audit": "._internal.api",
        "AuditRun": "._internal.audit",
        "AuditCoverage": "._internal.audit_coverage",
        "Finding": "._internal.findings",
        "backup": "._internal.api",
        "check": "._internal.api",
        "delete": "._internal.api",
        "plan": "._internal.api",
        "restore": "._internal.api",
        "rollback": "._internal.api",
        "stream": "._internal.api_stream",
        "validate": "._internal.api",
        "diff": "._internal.api_diff",
        "BackupDiff": "._internal.backup_diff",
        "BucketDiff": "._internal.backup_diff",
        "StatementDiff": "._internal.statement_diff",
        "Backend": "._internal.backends",
        "MemoryBackend": "._internal.backends.memory",
        "AccessDenied": "._internal.errors",
        "BackendError": "._internal.errors",
        "BackupError": "._internal.errors",
        "ClockSkewed": "._internal.errors",
        "ConfigError": "._internal.errors",
        "CredentialsError": "._internal.errors",
        "CredentialsExpired": "._internal.errors",
        "Interrupted": "._internal.errors",
        "InvalidAccessKeyId": "._internal.errors",
        "InvalidArgument": "._internal.errors",
        "InvalidPolicyDocument": "._internal.errors",
        "JobFailed": "._internal.errors",
        "ListingError": "._internal.errors",
        "ManifestError": "._internal.errors",
        "NetworkError": "._internal.errors",
        "NoSuchBucket": "._internal.errors",
        "NoSuchBucketPolicy": "._internal.errors",
        "NotConfirmed": "._internal.errors",
        "OssPolicyError": "._internal.errors",
        "PermanentError": "._internal.errors",
        "PolicyDocumentError": "._internal.errors",
        "PreflightError": "._internal.errors",
        "PreflightFailed": "._internal.errors",
        "ReportDirBusy": "._internal.errors",
        "ServerError": "._internal.errors",
        "SignatureDoesNotMatch": "._internal.errors",
        "Stopped": "._internal.errors",
        "Throttled": "._internal.errors",
        "Timeout": "._internal.errors",
        "TransientError": "._internal.errors",
        "Confirm": "._internal.gate",
        "PlanToConfirm": "._internal.gate",
        "JobRun": "._internal.job",
        "AccessKey": "._internal.keys",
        "Manifest": "._internal.manifest",
        "load_manifest": "._internal.manifest",
        "parse_manifest": "._internal.manifest",
        "Summary": "._internal.report",
        "Change": "._internal.results",
        "Outcome": "._internal.results",
        "Result": "._internal.results",
        "Target": "._internal.results",
    },
)
