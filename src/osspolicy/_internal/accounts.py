"""Accounts and where their credentials come from (contracts §10), and how a job records
them.

`accounts:` names each account and where its credentials come from (`type:` picks one of
the credential models below, a discriminated union, so each type takes only its own
keys); no secret can be written here. An account with `resource_directory:` stands for
every member of a Resource Directory (contracts §17; `directory.py` lists them). A job
records an account redacted (`account_record`, `redacted_accounts`; contracts §14),
takes it back from a record (`account_from_record`), and refuses an account whose
credentials are not those recorded for its name (`check_recorded_accounts`).
`backends/credentials.py` turns the models into the credentials library's providers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from .manifest_base import StrictModel
from .redact import (
    check_credentials,
    credentials_from_record,
    redact_uri,
    redacted_credentials,
)
from .target_spec import Targets

__all__ = (
    "ACCOUNT_NAME",
    "Account",
    "CredentialsSpec",
    "CredentialsUriCredentials",
    "DefaultCredentials",
    "EcsRamRoleCredentials",
    "EnvCredentials",
    "OidcCredentials",
    "ProfileCredentials",
    "RamRoleArnCredentials",
    "ResourceDirectorySpec",
    "account_from_record",
    "account_record",
    "check_recorded_accounts",
    "redacted_accounts",
)


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
#: a RAM role's name (what STS accepts in a role ARN)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,64}$")
#: the role Alibaba Cloud creates in every member of a Resource Directory
DIRECTORY_ROLE = "ResourceDirectoryAccountAccessRole"


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


def _role_name(value: str) -> str:
    if not _ROLE_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a RAM role name; use 1-64 letters, digits and .@_- "
            f"(e.g. {DIRECTORY_ROLE})"
        )
    return value


#: a RAM role's name: checked by `_role_name`, a pattern in the JSON Schema
RoleName = Annotated[
    str,
    AfterValidator(_role_name),
    WithJsonSchema({"type": "string", "pattern": _ROLE_NAME.pattern}),
]


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL; write e.g. https://host:port")
    return value


#: an http(s) URL: checked by `_http_url`
HttpUrl = Annotated[
    str,
    AfterValidator(_http_url),
    WithJsonSchema({"type": "string", "pattern": r"^https?://[^/\s]+"}),
]


def _entry(value: str) -> str:
    if not value.strip():
        raise ValueError("an empty entry; remove it")
    return value


#: a folder id, account id or display name: not blank
Entry = Annotated[str, AfterValidator(_entry), WithJsonSchema({"type": "string", "pattern": r"\S"})]


class ResourceDirectorySpec(StrictModel):
    """A Resource Directory as an account: its members listed with this account's
    credentials (the management account's), each reached by AssumeRole of `role`."""

    role: RoleName = DIRECTORY_ROLE
    """The RAM role assumed in each member [ResourceDirectoryAccountAccessRole]."""
    folders: tuple[Entry, ...] = ()
    """Folder ids (fd-…), each walked recursively [the whole directory]."""
    include: tuple[Entry, ...] = ()
    """Only these members: account ids or display names, fnmatch globs [all]."""
    exclude: tuple[Entry, ...] = ()
    """Not these members: account ids or display names, fnmatch globs [none]."""
    endpoint: HttpUrl | None = None
    """Where the directory calls go [the service's]."""
    sts_endpoint: HttpUrl | None = None
    """Where AssumeRole into the members goes [the credentials library's]."""


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


#: JSON Schema of `Account._directory_discovers`: a directory's own targets discover
_DIRECTORY_DISCOVERS: dict[str, Any] = {
    "if": {"required": ["resource_directory"]},
    "then": {"properties": {"targets": {"required": ["discover"]}}},
}


class Account(StrictModel):
    """One account: its name, where its credentials come from, its own targets."""

    model_config = ConfigDict(json_schema_extra=_DIRECTORY_DISCOVERS)

    name: AccountName
    """Recorded in every record and index line."""
    credentials: CredentialsSpec = Field(default_factory=DefaultCredentials)
    """Where its credentials come from (never a secret) [type: default]."""
    targets: Targets | None = None
    """This account's own targets [the manifest's]."""
    resource_directory: ResourceDirectorySpec | None = None
    """This account is a Resource Directory: the job covers its members (contracts §17)."""

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A plain account's data as before directories: no `resource_directory: null`
        (the manifest a job records stays as it was)."""
        data: dict[str, Any] = handler(self)
        if self.resource_directory is None:
            data.pop("resource_directory", None)
        return data

    @model_validator(mode="after")
    def _directory_discovers(self) -> Account:
        if self.resource_directory is not None and not _discovers(self.targets):
            raise ValueError(
                "targets: a resource_directory account's targets are discover only "
                "(each member lists its own buckets); write targets: {discover: {...}}"
            )
        return self


def _discovers(targets: Targets | None) -> bool:
    """Whether `targets` are none (the manifest's) or discovery."""
    return targets is None or targets.discover is not None


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
        # a directory job's entries also say how each member went (contracts §17)
        record = {"name": record.get("name"), "credentials": real}
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
