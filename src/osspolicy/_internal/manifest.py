"""The job manifest (contracts §1): the model of a whole job, unknown keys rejected at
every level, and YAML loading.

Every problem becomes one `ManifestError` sentence naming the file, the key path
(`targets.discover.include[1]`) and the fix (`manifest_errors.py`). Relative paths resolve
from the manifest's own folder; the CLI's overrides are applied as it is parsed, and the
effective manifest is what a job records (`manifest_yaml`).

Sections with models of their own live beside it: `targets:` in `target_spec.py`,
`connection:` in `connection.py`, `accounts:` and their credentials in `accounts.py`.
Without `accounts:` a manifest has one account, `default`, of `type: default`
(`accounts_of`). What a resume compares, the resume hash, is `resume_hash.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .accounts import Account, redacted_accounts
from .connection import Connection
from .errors import ManifestError, PolicyDocumentError
from .manifest_base import StrictModel, one_of_keys
from .manifest_errors import first_error
from .manifest_values import Accounts, Count, Fraction, PerSecond, Workers
from .policy import parse_policy_file_text
from .target_spec import Targets

__all__ = (
    "WRITING_ACTIONS",
    "Manifest",
    "PolicySpec",
    "Retry",
    "Timeouts",
    "accounts_of",
    "effective",
    "load_manifest",
    "manifest_yaml",
    "parse_manifest",
    "read_policy_document",
)


Action = Literal["backup", "apply", "delete", "restore"]
#: the actions that write to buckets (the ones a canary, the gate and the lock are for)
WRITING_ACTIONS = frozenset({"apply", "delete", "restore"})


class Retry(StrictModel):
    """How hard to try each call; only transient errors are retried."""

    attempts: int = Field(10, ge=1, le=100)
    """Tries per call in total, the first one included."""
    base_delay_s: float = Field(0.2, ge=0)
    """Exponential backoff with full jitter from this delay."""
    max_delay_s: float = Field(10.0, ge=0)


class Timeouts(StrictModel):
    """How long one call may last, and how long a stop waits for calls in flight
    (contracts §14); pace and safety settings, not in the resume hash."""

    call_s: float = Field(120.0, gt=0)
    """One attempt as a whole (connect, send, the whole answer); past it the attempt is a
    transient Timeout, retried."""
    stop_grace_s: float = Field(5.0, gt=0)
    """After SIGINT/SIGTERM, how long calls in flight may finish before they are
    abandoned (their targets failed, Interrupted)."""


class PolicySpec(StrictModel):
    """The baseline an apply job puts on every target: exactly one of file / document."""

    model_config = ConfigDict(json_schema_extra=one_of_keys("file", "document"))

    file: Path | None = None
    """The baseline policy, JSON or YAML (relative to the manifest)."""
    document: dict[str, Any] | None = None
    """The baseline policy, inline."""
    mode: Literal["merge", "replace"] = "merge"
    """merge: replace the statements with a baseline Sid, append the others; replace: the
    baseline becomes the whole policy."""
    remove_sids: tuple[str, ...] = ()
    """Statements to drop from every bucket, by Sid."""
    vars: dict[str, str] = Field(default_factory=dict)
    """Placeholders of yours, ${name}; ${bucket}, ${region}, ${account_id} are filled in."""

    @model_validator(mode="after")
    def _one_source(self) -> PolicySpec:
        if (self.file is None) == (self.document is None):
            raise ValueError("give exactly one of file or document")
        return self


def _action_is(*actions: str) -> dict[str, Any]:
    return {"properties": {"action": {"enum": list(actions)}}, "required": ["action"]}


def _manifest_schema_rules(schema: dict[str, Any]) -> None:
    """The rules between keys that `Manifest`'s model validators check, in JSON Schema,
    so that an editor flags them too (the validators' messages stay the errors)."""
    named = {"anyOf": [{"required": ["buckets"]}, {"required": ["buckets_file"]}]}
    every_account_has_targets = {
        "required": ["accounts"],
        "properties": {"accounts": {"type": "array", "items": {"required": ["targets"]}}},
    }
    directory_without_targets = {
        "required": ["resource_directory"],
        "anyOf": [
            {"not": {"required": ["targets"]}},
            {"properties": {"targets": {"type": "null"}}},
        ],
    }
    failed_accounts = {
        "anyOf": [
            {"required": [key], "properties": {key: {"exclusiveMinimum": 0}}}
            for key in ("max_failed_accounts", "max_failed_account_rate")
        ]
    }
    has_directory = {
        "required": ["accounts"],
        "properties": {
            "accounts": {
                "type": "array",
                "contains": {
                    "required": ["resource_directory"],
                    "properties": {"resource_directory": {"type": "object"}},
                },
            }
        },
    }
    schema["allOf"] = [
        {"if": _action_is("apply"), "then": {"required": ["policy"]}},
        {"if": {"not": _action_is("apply")}, "then": {"not": {"required": ["policy"]}}},
        {"if": _action_is("restore"), "then": {"required": ["source"]}},
        {"if": {"not": _action_is("restore")}, "then": {"not": {"required": ["source"]}}},
        {
            "if": {"not": _action_is("restore")},
            "then": {"anyOf": [{"required": ["targets"]}, every_account_has_targets]},
        },
        {
            "if": {"not": _action_is(*sorted(WRITING_ACTIONS))},
            "then": {"properties": {"canary": {"const": 0}}},
        },
        {
            "if": {"not": _action_is("apply")},
            "then": {"properties": {"allow_lockout": {"const": False}}},
        },
        {
            "if": {
                "required": ["accounts"],
                "properties": {"accounts": {"type": "array", "minItems": 2}},
            },
            "then": {"properties": {"targets": {"not": named}}},
        },
        {
            "if": {
                "required": ["accounts"],
                "properties": {
                    "accounts": {"type": "array", "contains": directory_without_targets}
                },
            },
            "then": {"properties": {"targets": {"not": named}}},
        },
        {"if": failed_accounts, "then": has_directory},
    ]


class Manifest(StrictModel):
    """A whole job."""

    model_config = ConfigDict(
        title="osspolicy job manifest", json_schema_extra=_manifest_schema_rules
    )

    version: Literal[1] = 1
    """Manifest format version."""
    action: Action
    """What the job does to every target."""
    accounts: tuple[Account, ...] | None = Field(None, json_schema_extra={"minItems": 1})
    """The accounts [one account, default, credentials type default]."""
    targets: Targets | None = None
    """Which buckets; required unless every account has its own (optional for restore)."""
    connection: Connection
    concurrency: int = Field(16, ge=1, le=1024)
    """Workers (and threads, and HTTP connections)."""
    engine: Literal["threads", "aio"] = "threads"
    """threads: the SDK's blocking client in threads; aio: its async client."""
    rate_limit: float = Field(0.0, ge=0)
    """Requests per second across all workers, retries included [0 = none]."""
    retry: Retry = Field(default_factory=Retry)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    policy: PolicySpec | None = None
    """apply only: the baseline."""
    allow_public: bool = False
    """apply only: allow public grants where Block Public Access is off."""
    allow_lockout: bool = False
    """apply only: allow a Deny that would lock every writer out of the bucket policy."""
    canary: Count = 0
    """Writing jobs: the first N targets alone, read back, then the rest [0 = none]."""
    max_failures: Count = 0
    """Stop taking targets after N failures [0 = none]."""
    max_failure_rate: Fraction = 0.0
    """Stop when failures / finished reaches it, after 20 [0 = none]."""
    sts_rate_limit: PerSecond = 20.0
    """AssumeRole calls per second into a directory's members, per directory, refreshes
    included [20]."""
    account_concurrency: Workers = 0
    """Workers one account may hold at once [0 = concurrency]."""
    max_failed_accounts: Accounts = 0
    """Stop after N accounts failed (assume_failed, listing_failed, partial) [0 = none]."""
    max_failed_account_rate: Fraction = 0.0
    """Stop when that fraction of the job's accounts failed [0 = none]."""
    source: Path | None = None
    """restore only: the backup folder."""
    backup_dir: Path = Path("backups")
    """Where backups and pre-change snapshots go (relative to the manifest)."""
    report_dir: Path = Path("reports")
    """Where reports go (relative to the manifest)."""

    @model_validator(mode="after")
    def _per_action(self) -> Manifest:
        if self.targets is None and self.action != "restore" and not _all_have_targets(self):
            raise ValueError("targets: required; give buckets, buckets_file or discover")
        if self.action == "apply" and self.policy is None:
            raise ValueError("policy: an apply job needs a policy section (file or document)")
        if self.action != "apply" and self.policy is not None:
            raise ValueError(f"policy: only an apply job takes a policy, not {self.action}")
        if self.action == "restore" and self.source is None:
            raise ValueError("source: a restore job needs the backup folder to restore from")
        if self.action != "restore" and self.source is not None:
            raise ValueError(f"source: only a restore job takes a source, not {self.action}")
        if self.canary and self.action not in WRITING_ACTIONS:
            raise ValueError(
                f"canary: only a writing job (apply, delete, restore) takes a canary, "
                f"not {self.action}; remove it"
            )
        if self.allow_lockout and self.action != "apply":
            raise ValueError(
                f"allow_lockout: only an apply job takes allow_lockout, not {self.action}; "
                "remove it"
            )
        return self

    @model_validator(mode="after")
    def _account_thresholds(self) -> Manifest:
        """Contracts §17: the failed-account threshold counts a directory's members."""
        if any(a.resource_directory is not None for a in self.accounts or ()):
            return self
        for key in ("max_failed_accounts", "max_failed_account_rate"):
            if getattr(self, key):
                raise ValueError(
                    f"{key}: counts the members of a resource_directory account, and this "
                    "job has none; remove it (max_failures counts failed buckets)"
                )
        return self

    @model_validator(mode="after")
    def _accounts(self) -> Manifest:
        """Contracts §10: names unique; with several accounts, named targets (a list or a
        file) belong to one account, so only `discover` may stand at the top."""
        if self.accounts is None:
            return self
        if not self.accounts:
            raise ValueError("accounts: the list is empty; name an account or remove the key")
        seen: set[str] = set()
        for account in self.accounts:
            if account.name in seen:
                raise ValueError(f"accounts: the name {account.name!r} is used twice; rename one")
            seen.add(account.name)
        top = self.targets
        if len(self.accounts) > 1 and top is not None and top.discover is None:
            raise ValueError(
                "targets: with several accounts each account names its own buckets "
                "(accounts[i].targets); only discover may be given for all of them"
            )
        directory = next(
            (a for a in self.accounts if a.resource_directory is not None and a.targets is None),
            None,
        )
        if directory is not None and top is not None and top.discover is None:
            raise ValueError(
                f"targets: account {directory.name} is a resource_directory, whose "
                "targets are discover only (each member lists its own buckets); "
                "write targets: {discover: {...}}"
            )
        return self


def _all_have_targets(manifest: Manifest) -> bool:
    return bool(manifest.accounts) and all(a.targets is not None for a in manifest.accounts or ())


def accounts_of(manifest: Manifest) -> tuple[Account, ...]:
    """The job's accounts, always at least one, each with its effective targets.

    Without `accounts:` that is one account named `default` of `type: default`. An
    account without targets of its own gets the manifest's (which, for a restore, may
    be none: the backup's buckets).
    """
    # () only for a directory job none of whose members could be reached (directory.py)
    accounts = manifest.accounts if manifest.accounts is not None else (Account(name="default"),)
    return tuple(
        a
        if a.targets is not None or manifest.targets is None
        else a.model_copy(update={"targets": manifest.targets})
        for a in accounts
    )


def _lexical(path: Path) -> str:
    """`path` made absolute and `..` taken away by name, not through symlinks, so that
    `jobs/../backups` is `backups` beside `jobs`, whatever `jobs` links to (the shipped
    `jobs/` of a checkout is a link into the package)."""
    return os.path.normpath(path.absolute())


def _resolve(data: dict[str, Any], base: Path) -> None:
    """Make the manifest's relative paths relative to its own folder (in place)."""

    def fix(holder: dict[str, Any], key: str) -> None:
        value = holder.get(key)
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            holder[key] = str(path) if path.is_absolute() else _lexical(base / path)

    for key in ("source", "backup_dir", "report_dir"):
        fix(data, key)
    data.setdefault("backup_dir", str(base / "backups"))
    data.setdefault("report_dir", str(base / "reports"))
    if isinstance(data.get("targets"), dict):
        fix(data["targets"], "buckets_file")
    if isinstance(data.get("policy"), dict):
        fix(data["policy"], "file")
    if isinstance(data.get("connection"), dict):
        fix(data["connection"], "ca_file")
    _resolve_accounts(data.get("accounts"), fix)


def _resolve_accounts(accounts: object, fix: Callable[[dict[str, Any], str], None]) -> None:
    """The paths inside `accounts:`: targets files and OIDC token files."""
    for account in accounts if isinstance(accounts, list) else ():
        if not isinstance(account, dict):
            continue
        if isinstance(account.get("targets"), dict):
            fix(account["targets"], "buckets_file")
        credentials = account.get("credentials")
        while isinstance(credentials, dict):  # through ram_role_arn's source chain
            fix(credentials, "oidc_token_file_path")
            credentials = credentials.get("source")


#: CLI overrides that set a key of a section rather than a top-level key
_OVERRIDE_SECTIONS = {"endpoint": "connection", "region": "connection", "attempts": "retry"}


def parse_manifest(
    data: object, *, source: str, base: Path, overrides: dict[str, Any] | None = None
) -> Manifest:
    """Validate already-parsed YAML data; `overrides` are the CLI's flags."""
    if not isinstance(data, dict):
        raise ManifestError(
            "the manifest must be a mapping of keys (version, action, targets, …)", place=source
        )
    data = dict(json.loads(json.dumps(data, default=str)))  # a private copy we may edit
    _resolve(data, base)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section = _OVERRIDE_SECTIONS.get(key)
        if section is None:
            data[key] = value
            continue
        data.setdefault(section, {})
        if isinstance(data[section], dict):
            data[section][key] = value
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise first_error(source, exc, Manifest) from None


def load_manifest(path: Path, overrides: dict[str, Any] | None = None) -> Manifest:
    """Read and validate a manifest file; any problem is one ManifestError sentence."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("no such file", place=source, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot be read ({exc})", place=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ManifestError(
            f"not valid YAML{where}: {problem}", place=source, hint="fix the syntax"
        ) from None
    return parse_manifest(
        data, source=source, base=Path(_lexical(path)).parent, overrides=overrides
    )


def effective(manifest: Manifest) -> dict[str, Any]:
    """The effective manifest as plain data (paths as strings), as recorded and hashed."""
    return redacted_accounts(manifest.model_dump(mode="json"))


def manifest_yaml(manifest: Manifest) -> str:
    """The effective manifest as the YAML a job folder keeps."""
    return yaml.safe_dump(effective(manifest), sort_keys=False, allow_unicode=True)


def read_policy_document(spec: PolicySpec) -> dict[str, Any]:
    """The baseline as written: `policy.file` read and parsed (JSON or YAML), or a copy of
    `policy.document`; a file that cannot be read or parsed is a `PolicyDocumentError`."""
    if spec.file is None:
        return dict(spec.document or {})
    source = str(spec.file)
    try:
        text = Path(spec.file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyDocumentError(
            "no such file", place=source, hint="check policy.file in the manifest"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyDocumentError(f"cannot be read ({exc})", place=source) from None
    return parse_policy_file_text(text, source=source)
