"""Findings as SARIF 2.1.0 (`findings.sarif`), the format code scanning reads.

```
{"$schema", "version": "2.1.0", "runs": [{
   "tool": {"driver": {"name": "osspolicy", "version", "rules": [one per rule]}},
   "originalUriBaseIds": {"BACKUP": {"uri": "file:///…/<backup>/"}},   (a backup's audit)
   "invocations": [{"executionSuccessful", "exitCode",
                    "toolExecutionNotifications": [what was not judged, if anything]}],
   "results": [one per finding: ruleId, ruleIndex, level, message, locations,
               partialFingerprints]}]}
```

A rule carries its explanation as `help`, its OSS page as `helpUri`, its severity as
`defaultConfiguration.level` (high: error, medium: warning, low: note) and as the
`security-severity` code scanning sorts by. A result's location is the bucket: its
policy file in the backup (`policies/<bucket>.json`) or `oss://<bucket>` for a live
audit, and the statement as a logical location. Its fingerprint is the finding's
(`Finding.fingerprint`): the same finding keeps its alert from run to run.

The file is written streamed (the results one at a time, from `findings.jsonl` or a
list), to a temporary name renamed at the end: whole or not there.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .atomic import errors_named, fsync_fd, fsync_folder_sync, open_private, write_fully
from .atomic import temp_name_for as _temp_name
from .findings import RULES, Finding, Rule

__all__ = (
    "BACKUP_BASE",
    "SARIF_NAME",
    "SCHEMA_URI",
    "backup_location",
    "document",
    "live_location",
    "read_findings_sync",
    "write_sarif_sync",
)

SARIF_NAME = "findings.sarif"
SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
#: the base a backup's policy files are named relative to
BACKUP_BASE = "BACKUP"
#: the fingerprint's name: its version changes if what it hashes ever does
FINGERPRINT = "osspolicyFinding/v1"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
#: code scanning's scale: 7.0 and over high, 4.0 to 6.9 medium, under 4.0 low
_SECURITY_SEVERITY = {"high": "8.0", "medium": "5.0", "low": "2.0"}
_RULE_INDEX = {rule.id: index for index, rule in enumerate(RULES)}
_RESULTS = "__osspolicy_results__"

Location = Callable[[Finding], dict[str, Any]]


def live_location(finding: Finding) -> dict[str, Any]:
    """A live bucket: `oss://<bucket>`."""
    return {"uri": f"oss://{finding.bucket}"}


def backup_location(finding: Finding) -> dict[str, Any]:
    """A backup's policy file, relative to the backup folder (`BACKUP`)."""
    return {"uri": f"policies/{finding.bucket}.json", "uriBaseId": BACKUP_BASE}


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.explanation},
        "help": {
            "text": f"{rule.explanation} See {rule.reference}",
            "markdown": f"{rule.explanation}\n\n[OSS documentation]({rule.reference})",
        },
        "helpUri": rule.reference,
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", "alibaba-cloud-oss", "bucket-policy"],
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "severity": rule.severity,
        },
    }


def _result(finding: Finding, location: Location) -> dict[str, Any]:
    statement = finding.statement or "(policy)"
    return {
        "ruleId": finding.rule,
        "ruleIndex": _RULE_INDEX[finding.rule],
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{finding.bucket}: {finding.message}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": location(finding)},
                "logicalLocations": [
                    {
                        "name": statement,
                        "fullyQualifiedName": f"{finding.bucket}/{statement}",
                        "kind": "member",
                    }
                ],
            }
        ],
        "partialFingerprints": {FINGERPRINT: finding.fingerprint},
        "properties": {
            "bucket": finding.bucket,
            "account": finding.account,
            "statement": finding.statement,
            "severity": finding.severity,
        },
    }


def document(
    *,
    version: str,
    exit_code: int,
    successful: bool,
    backup: Path | None = None,
    notifications: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The SARIF log without its results (`runs[0].results` is a placeholder).

    `successful` is false unless every target was judged; `notifications` then say what
    was not (`invocations[0].toolExecutionNotifications`), so that a reader of no
    results knows they do not mean "nothing found"."""
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "osspolicy",
                "version": version,
                "semanticVersion": version,
                "rules": [_rule(rule) for rule in RULES],
            }
        },
    }
    if backup is not None:
        run["originalUriBaseIds"] = {BACKUP_BASE: {"uri": backup.resolve().as_uri() + "/"}}
    invocation: dict[str, Any] = {"executionSuccessful": successful, "exitCode": exit_code}
    if notifications:
        invocation["toolExecutionNotifications"] = [dict(n) for n in notifications]
    run["invocations"] = [invocation]
    run["results"] = _RESULTS
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _chunks(
    head: Mapping[str, Any], findings: Iterable[Finding], location: Location
) -> Iterator[str]:
    before, after = json.dumps(head, indent=2, ensure_ascii=False).split(json.dumps(_RESULTS))
    yield before + "["
    for index, finding in enumerate(findings):
        result = json.dumps(_result(finding, location), ensure_ascii=False)
        yield ("," if index else "") + "\n" + result
    yield "\n]" + after + "\n"


def write_sarif_sync(
    path: Path, head: Mapping[str, Any], findings: Iterable[Finding], location: Location
) -> None:
    """Write the SARIF log `head` with one result per finding, streamed, to a temporary
    file renamed over `path` (0600, fsynced; blocking: run it in a worker thread)."""
    temp = _temp_name(path)
    fd = open_private(os.fspath(temp), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            with errors_named(path):
                for chunk in _chunks(head, findings, location):
                    write_fully(fd, chunk.encode())
                fsync_fd(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_folder_sync(path.parent)


def read_findings_sync(path: Path) -> Iterator[Finding]:
    """The findings of a `findings.jsonl`, streamed (a torn last line is skipped)."""
    with path.open("rb") as lines:
        for line in lines:
            if not line.endswith(b"\n"):
                return  # torn: the write that made it did not finish
            yield Finding.from_record(json.loads(line))
