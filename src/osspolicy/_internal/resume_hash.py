"""The resume hash (contracts §5): what decides a job's outcome, and its sha256.

A resume runs the job that was started, so it compares only what decides the outcome:
`outcome_fields()` (defaults left out; pace and safety settings not in it), hashed by
`manifest_sha256()`, the keys that differ named by `differing_keys()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .accounts import redacted_accounts
from .manifest import Manifest, read_policy_document

__all__ = (
    "OUTCOME_KEYS",
    "differing_keys",
    "manifest_sha256",
    "outcome_fields",
    "outcome_sha256",
)


#: the top-level keys that decide a job's outcome, so its resume hash (contracts §5);
#: `policy` holds the loaded document, mode, remove_sids and vars
OUTCOME_KEYS = (
    "action",
    "accounts",
    "targets",
    "policy",
    "allow_public",
    "allow_lockout",
    "source",
)


def outcome_fields(manifest: Manifest, document: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What decides the job's outcome (contracts §5), as the plain data its hash covers.

    The `OUTCOME_KEYS` with every default left out (given explicitly or not), so that a
    newer version adding keys with defaults still resumes; pace and safety settings
    (concurrency, engine, rate_limit, retry, timeouts, canary, thresholds) are not in it.
    `policy.document` is the baseline's content, never its file's path: `document` when
    given (the one `load_baseline` checked), else the file is read here.
    """
    fields: dict[str, Any] = redacted_accounts(
        manifest.model_dump(mode="json", include=set(OUTCOME_KEYS), exclude_defaults=True)
    )
    if manifest.policy is not None:
        policy = {key: value for key, value in fields["policy"].items() if key != "file"}
        loaded = read_policy_document(manifest.policy) if document is None else document
        policy["document"] = json.loads(json.dumps(loaded))
        fields["policy"] = policy
    return fields


_ABSENT = object()


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The dotted key paths whose values differ between two `outcome_fields` (a key only
    one side has counts), sorted; nested mappings are followed, lists compared whole."""
    return _differing(old, new, "")


def _differing(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    found: list[str] = []
    for key in sorted({*old, *new}, key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            found += _differing(before, after, path)
        else:
            found.append(path)
    return found


def manifest_sha256(manifest: Manifest, document: Mapping[str, Any] | None = None) -> str:
    """The resume hash: sha256 of the canonical JSON of `outcome_fields(manifest, document)`
    (resume refuses a job whose hash differs)."""
    return outcome_sha256(outcome_fields(manifest, document))


def outcome_sha256(fields: Mapping[str, Any]) -> str:
    """The sha256 of the canonical JSON of `outcome_fields` (the resume hash)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
