"""The least-privilege RAM policies of a Resource Directory job (contracts §17), as data.

A directory job lists the directory with the directory account's own credentials (a RAM
user or role of the management account, or of a delegated administrator) and reaches
every other member by AssumeRole of `acs:ram::<member id>:role/<role>`. Four documents
say what each side needs, and nothing more:

```
caller  the directory account's identity: list the directory, assume the member role
trust   the member role's trust policy: the directory account may assume it
read    the member role's permissions for backup, check, plan, status (reads only)
write   read plus PutBucketPolicy and DeleteBucketPolicy: apply, delete, restore, rollback
```

The actions are exactly the calls this program sends (`backends/oss.py`, `wire.py`,
`backends/directory.py`, the credentials library's AssumeRole), named as RAM names them:
an OSS API `X` is `oss:X` (the OSS RAM policy reference: ListBuckets is a service-level
action, the bucket policy and Block Public Access calls bucket-level ones), the directory
calls are `resourcemanager:<API>` (ResourceDirectoryMaster's RAM authorization, Resource
`*`), and AssumeRole is `sts:AssumeRole` on the role's ARN `acs:ram:*:<account>:role/<name>`.
There is no GetBucketInfo or GetBucketLocation: a bucket's region and the owner id of a
`${account_id}` baseline come from ListBuckets. `tests/test_roles_e2e.py` runs the jobs
against the emulator and checks that every request it logged maps to an action here.
The management account is reached with the directory account's own credentials, so its
identity needs `read` (or `write`) too when the job should cover its buckets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = (
    "DEFAULT_ROLE",
    "DIRECTORY",
    "DOCUMENTS",
    "MANAGEMENT_PLACEHOLDER",
    "READ",
    "WRITE",
    "Permission",
    "role_policies",
)

#: the member role's name when none is given: a role of its own, not the directory's
#: default `ResourceDirectoryAccountAccessRole` (AdministratorAccess)
DEFAULT_ROLE = "osspolicy"
#: what is printed in the trust policy until the account is named
MANAGEMENT_PLACEHOLDER = "<management-account-id>"
#: the documents `role_policies` returns, in the order a reader needs them
DOCUMENTS = ("read", "write", "trust", "caller")
#: every OSS resource of the account the policy is attached in (the member's own)
ALL_OSS = "acs:oss:*:*:*"
#: RAM's rule for role names (ROS ALIYUN::RAM::Role RoleName: 1-64 characters)
_ROLE_NAME = re.compile(r"[A-Za-z0-9.-]{1,64}")
#: an Alibaba Cloud account id (UID): digits
_ACCOUNT_ID = re.compile(r"[0-9]{1,32}")


@dataclass(frozen=True, slots=True)
class Permission:
    """One RAM action, the API call it allows, and which commands send that call."""

    action: str
    api: str
    used_by: str


READ = (
    Permission(
        "oss:ListBuckets",
        "ListBuckets",
        "discover; the region of a named bucket; the owner id of a ${account_id} baseline",
    ),
    Permission(
        "oss:GetBucketPolicy",
        "GetBucketPolicy",
        "backup, check, plan, apply, delete, restore, rollback, get, status",
    ),
    Permission(
        "oss:GetBucketPublicAccessBlock",
        "GetBucketPublicAccessBlock",
        "plan and apply of a public grant (would the service refuse it?); status",
    ),
)
"""What the read-only jobs send to OSS."""

WRITE = (
    Permission("oss:PutBucketPolicy", "PutBucketPolicy", "apply, restore, rollback, put"),
    Permission(
        "oss:DeleteBucketPolicy",
        "DeleteBucketPolicy",
        "delete; an apply that leaves a bucket no statement; restore and rollback of a "
        "bucket that had no policy",
    ),
)
"""What the writing jobs send on top of READ."""

DIRECTORY = (
    Permission(
        "resourcemanager:GetResourceDirectory",
        "GetResourceDirectory",
        "the management account's id",
    ),
    Permission(
        "resourcemanager:ListAccounts", "ListAccounts", "the whole directory (no folders: given)"
    ),
    Permission(
        "resourcemanager:ListFoldersForParent",
        "ListFoldersForParent",
        "folders: each folder's subfolders",
    ),
    Permission(
        "resourcemanager:ListAccountsForParent",
        "ListAccountsForParent",
        "folders: each folder's members",
    ),
)
"""What the directory account sends to list the directory."""

ASSUME_ROLE = Permission("sts:AssumeRole", "AssumeRole", "every member but the management one")


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def _allow(permissions: tuple[Permission, ...], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": [p.action for p in permissions], "Resource": [resource]}


def _checked_role(role: str) -> str:
    if not _ROLE_NAME.fullmatch(role):
        raise ConfigError(
            f"--role {role!r} is not a RAM role name",
            hint="use 1 to 64 letters, digits, periods and hyphens, e.g. --role osspolicy",
        )
    return role


def _checked_account(account: str | None) -> str:
    if account is None:
        return MANAGEMENT_PLACEHOLDER
    if not _ACCOUNT_ID.fullmatch(account):
        raise ConfigError(
            f"--management-account {account!r} is not an account id",
            hint="give the digits of the account's UID, e.g. --management-account 1234567890123456",
        )
    return account


def role_policies(
    role: str = DEFAULT_ROLE, management_account: str | None = None
) -> dict[str, Any]:
    """The member role `role` and the directory account's own policy, as one mapping:
    `role`, `management_account` (None until given: the trust policy then holds a
    placeholder that RAM refuses, never a guess), the four documents of `DOCUMENTS`, and
    `actions` (each action: the commands that need it). ConfigError for a role name or
    an account id that RAM would refuse."""
    name = _checked_role(role)
    trusted = _checked_account(management_account)
    every = (*READ, *WRITE, *DIRECTORY, ASSUME_ROLE)
    return {
        "role": name,
        "management_account": management_account,
        "read": _policy(_allow(READ, ALL_OSS)),
        "write": _policy(_allow((*READ, *WRITE), ALL_OSS)),
        "trust": _policy(
            {
                "Effect": "Allow",
                "Action": ASSUME_ROLE.action,
                "Principal": {"RAM": [f"acs:ram::{trusted}:root"]},
            }
        ),
        "caller": _policy(
            _allow(DIRECTORY, "*"),
            _allow((ASSUME_ROLE,), f"acs:ram:*:*:role/{name}"),
        ),
        "actions": {p.action: p.used_by for p in every},
    }
