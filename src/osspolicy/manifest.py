"""The job manifest (contracts §1): models with unknown keys rejected, and YAML loading.

Every problem becomes one `ManifestError` sentence naming the file, the key path
(`targets.discover.include[1]`) and the fix (`manifest_errors.py`). Relative paths
resolve from the manifest's own folder. `effective()` applies the CLI overrides; the
effective manifest is what a job records (`manifest.yaml`).

Accounts and credentials (contracts §10): `accounts:` names each account and where its
credentials come from (`type:` picks one of the credential models below, a discriminated
union, so each type takes only its own keys); no secret can be written here. Without
`accounts:` a manifest has one account, `default`, of `type: default` (`accounts_of`).
The `targets:` and `connection:` sections have modules of their own (`target_spec.py`,
`connection.py`), and so does what the models share (`manifest_base.py`).
What a resume compares, the resume hash (contracts §5), is `resume_hash.py`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .connection import Connection
from .errors import ManifestError, PolicyDocumentError
from .manifest_base import StrictModel, one_of_keys
from .manifest_errors import first_error
from .policy import parse_policy_file_text
from .redact import (
    check_credentials,
    credentials_from_record,
    redact_uri,
    redacted_credentials,
)
from .target_spec import Targets

__all__ = (
    "ACCOUNT_NAME",
    "WRITING_ACTIONS",
    "Account",
    "CredentialsSpec",
    "CredentialsUriCredentials",
    "DefaultCredentials",
    "EcsRamRoleCredentials",
    "EnvCredentials",
    "Manifest",
    "OidcCredentials",
    "PolicySpec",
    "ProfileCredentials",
    "RamRoleArnCredentials",
    "Retry",
    "Timeouts",
    "account_from_record",
    "account_record",
    "accounts_of",
    "check_recorded_accounts",
    "effective",
    "load_manifest",
    "manifest_yaml",
    "parse_manifest",
    "read_policy_document",
    "redacted_accounts",
)

Action = Literal["backup", "apply", "delete", "restore"]
#: the actions that write to buckets (the ones a canary, the gate and the lock are for)
WRITING_ACTIONS = frozenset({"apply", "delete", "restore"})


#: an account name: recorded in every record and index line
ACCOUNT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: keys that would put a secret into a manifest, refused with a pointer to the right way
_SECRET_KEYS = frozenset(
    {
        "access_key_id",
        "access_key_secret",
        "accesskeyid",
        "accesskeysecret",
        "secret",
        "security_token",
        "sts_token",
        "password",
    }
)
_ROLE_ARN = re.compile(r"^acs:ram::\d+:role/[^\s]+$")


class _CredentialsModel(StrictModel):
    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in data:
                if str(key).lower().replace("-", "_") in _SECRET_KEYS:
                    raise ValueError(
                        f"{key}: a secret never goes into a manifest; use type env, profile, "
                        "ram_role_arn, ecs_ram_role, oidc or credentials_uri"
                    )
        return data

    def describe(self) -> str:
        """Where these credentials come from, for errors and records (never a secret)."""
        raise NotImplementedError


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a RAM role ARN; write acs:ram::<account-id>:role/<name>"
        )
    return value


#: a RAM role ARN: checked by `_role_arn`, a pattern in the JSON Schema
RoleArn = Annotated[
    str,
    AfterValidator(_role_arn),
    WithJsonSchema({"type": "string", "pattern": r"^acs:ram::[0-9]+:role/\S+$"}),
]


class DefaultCredentials(_CredentialsModel):
    """The SDK's OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET when set, else the credentials
    library's default chain (its variables, OIDC, the aliyun CLI profile, ECS RAM role,
    credentials URI)."""

    # `type` picks the model (a tagged union): written in a manifest, it is required
    model_config = ConfigDict(json_schema_extra={"required": ["type"]})

    type: Literal["default"] = "default"

    def describe(self) -> str:
        """`default (OSS_ACCESS_KEY_ID, else the default chain)`."""
        return "default (OSS_ACCESS_KEY_ID, else the default credentials chain)"


class EnvCredentials(_CredentialsModel):
    """OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN (the SDK's names)."""

    type: Literal["env"]

    def describe(self) -> str:
        """`env (OSS_ACCESS_KEY_ID)`."""
        return "env (OSS_ACCESS_KEY_ID)"


class ProfileCredentials(_CredentialsModel):
    """A profile of the aliyun CLI's `~/.aliyun/config.json`."""

    type: Literal["profile"]
    profile: str = Field(min_length=1)

    def describe(self) -> str:
        """`profile 'NAME'`."""
        return f"profile {self.profile!r}"


class RamRoleArnCredentials(_CredentialsModel):
    """AssumeRole with the credentials of `source` (another type; the default chain if
    not given), refreshed before they expire."""

    type: Literal["ram_role_arn"]
    role_arn: RoleArn
    session_name: str = Field("osspolicy", min_length=2, max_length=64)
    external_id: str | None = None
    source: CredentialsSpec = Field(default_factory=DefaultCredentials)
    #: [the library's: sts.aliyuncs.com, or from ALIBABA_CLOUD_STS_REGION]
    sts_endpoint: str | None = None

    def describe(self) -> str:
        """`ram_role_arn ARN (source: …)`."""
        return f"ram_role_arn {self.role_arn} (source: {self.source.describe()})"


class EcsRamRoleCredentials(_CredentialsModel):
    """The RAM role attached to this ECS instance, from its metadata service."""

    type: Literal["ecs_ram_role"]
    #: [discovered from the metadata service]
    role_name: str | None = None

    def describe(self) -> str:
        """`ecs_ram_role 'NAME'` or `ecs_ram_role (discovered)`."""
        return f"ecs_ram_role {self.role_name!r}" if self.role_name else "ecs_ram_role (discovered)"


class OidcCredentials(_CredentialsModel):
    """AssumeRoleWithOIDC with a token file (e.g. ACK RRSA); the library's own keys."""

    type: Literal["oidc"]
    role_arn: RoleArn
    oidc_provider_arn: str = Field(min_length=1)
    oidc_token_file_path: Path
    role_session_name: str = Field("osspolicy", min_length=2, max_length=64)
    #: [the library's]
    sts_endpoint: str | None = None

    def describe(self) -> str:
        """`oidc ARN`."""
        return f"oidc {self.role_arn}"


class CredentialsUriCredentials(_CredentialsModel):
    """A URI that answers with temporary credentials (the library's credentials URI)."""

    type: Literal["credentials_uri"]
    uri: str

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL; write e.g. http://127.0.0.1:8080/")
        return value

    def describe(self) -> str:
        """`credentials_uri scheme://host/path` (userinfo and query as `…`: they may hold
        a token)."""
        return f"credentials_uri {redact_uri(self.uri)}"


#: one account's credentials: `type` picks the model, each takes only its own keys
CredentialsSpec = Annotated[
    DefaultCredentials
    | EnvCredentials
    | ProfileCredentials
    | RamRoleArnCredentials
    | EcsRamRoleCredentials
    | OidcCredentials
    | CredentialsUriCredentials,
    Field(discriminator="type"),
]
RamRoleArnCredentials.model_rebuild()


def _account_name(value: str) -> str:
    if not ACCOUNT_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an account name; use lowercase letters, digits and hyphens"
        )
    return value


#: an account name: checked by `_account_name`, a pattern in the JSON Schema
AccountName = Annotated[
    str,
    AfterValidator(_account_name),
    WithJsonSchema({"type": "string", "pattern": ACCOUNT_NAME.pattern}),
]


class Account(StrictModel):
    """One account: its name, where its credentials come from, its own targets."""

    name: AccountName
    """Recorded in every record and index line."""
    credentials: CredentialsSpec = Field(default_factory=DefaultCredentials)
    """Where its credentials come from (never a secret) [type: default]."""
    targets: Targets | None = None
    """This account's own targets [the manifest's]."""


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


def _count(value: int) -> int:
    if value < 0:
        raise ValueError(f"is {value}; write 0 (none) or a number of targets")
    return value


def _fraction(value: float) -> float:
    if not 0 <= value <= 1:
        shown = value if math.isfinite(value) else str(value)
        raise ValueError(f"is {shown}; write a fraction in (0, 1], e.g. 0.1, or 0 for none")
    return value


#: a number of targets, 0 for none (checked by `_count`: its message)
Count = Annotated[int, AfterValidator(_count), WithJsonSchema({"type": "integer", "minimum": 0})]
#: a fraction in [0, 1], 0 for none (checked by `_fraction`: its message)
Fraction = Annotated[
    float,
    AfterValidator(_fraction),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]


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
        return self


def _all_have_targets(manifest: Manifest) -> bool:
    return bool(manifest.accounts) and all(a.targets is not None for a in manifest.accounts or ())


def account_record(account: Account) -> dict[str, Any]:
    """An account as a backup records it: its name and where its credentials come
    from, redacted (contracts §14), without targets (contracts §2)."""
    return _redacted_account(account.model_dump(mode="json", include={"name", "credentials"}))


def _redacted_account(data: Mapping[str, Any]) -> dict[str, Any]:
    """An account's plain data with its credentials as a job records them."""
    credentials = data.get("credentials")
    if not isinstance(credentials, Mapping):
        return dict(data)
    return {**data, "credentials": redacted_credentials(credentials)}


def redacted_accounts(data: dict[str, Any]) -> dict[str, Any]:
    """Manifest data (`effective`, `outcome_fields`) with every account redacted."""
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        data["accounts"] = [_redacted_account(a) if isinstance(a, Mapping) else a for a in accounts]
    return data


def account_from_record(record: object, *, recorded_in: str = "the backup") -> Account | None:
    """An account a backup recorded, or None if `record` is not one. Its redacted
    parts come back from what is given now (`redact.credentials_from_record`), else
    CredentialsError naming the account."""
    if isinstance(record, Mapping) and isinstance(record.get("credentials"), Mapping):
        name = str(record.get("name"))
        real = credentials_from_record(name, record["credentials"], recorded_in=recorded_in)
        record = {**record, "credentials": real}
    try:
        return Account.model_validate(record)
    except ValidationError:
        return None


def check_recorded_accounts(now: object, records: object, *, recorded_in: str) -> None:
    """Refuse (CredentialsError naming the account, exit 2) an account given now whose
    credentials are not those recorded for the same name. `now` and `records` are lists
    of accounts in one recorded form: `account_record`'s (a backup's summary) or
    `outcome_fields`' (a journal header); a URL compares by its sha256."""

    def by_name(items: object) -> dict[str, Mapping[str, Any]]:
        return {
            str(item.get("name")): credentials
            for item in (items if isinstance(items, list) else ())
            if isinstance(item, Mapping)
            and isinstance(credentials := item.get("credentials", {}), Mapping)
        }

    recorded = by_name(records)
    for name, credentials in by_name(now).items():
        if name in recorded:
            check_credentials(name, credentials, recorded[name], recorded_in=recorded_in)


def accounts_of(manifest: Manifest) -> tuple[Account, ...]:
    """The job's accounts, always at least one, each with its effective targets.

    Without `accounts:` that is one account named `default` of `type: default`. An
    account without targets of its own gets the manifest's (which, for a restore, may
    be none: the backup's buckets).
    """
    accounts = manifest.accounts or (Account(name="default"),)
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
