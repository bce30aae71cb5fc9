"""A Resource Directory the emulator plays: folders, member accounts, a management account.

It comes from a YAML file (`osspolicy emulator --resource-directory FILE`) or a mapping
of the same keys (`Emulator(resource_directory=...)`)::

    management: "1000000000000001"
    folders:
      - {id: r-root00, name: Root}                 # the one folder without a parent
      - {id: fd-prod000001, name: prod, parent: r-root00}
    accounts:
      - {id: "1000000000000001", name: management, status: CreateSuccess, folder: r-root00,
         access_key_id: MgmtKeyId, access_key_secret: MgmtSecret}
      - {id: "2000000000000001", name: web, status: CreateSuccess, folder: fd-prod000001,
         roles: [ResourceDirectoryAccountAccessRole], buckets: ["web-:3:cn-shanghai"]}

Each member is an account of the emulator (a key pair of its own if given; its buckets
seeded as `--seed-buckets PREFIX:N[:REGION]` seeds them for one account). `roles` are the
RAM roles it has, each trusting only the management account (`sts.py`); the management
account needs a key pair: the directory calls (`rdmaster.py`) are signed with it.
`status` is one of the service's member statuses (`MEMBER_STATUSES`); the join method
and member type the service reports follow from it.

A bad file raises `DirectoryFileError`: one line naming the file, the place
(`accounts[2].status`) and the fix, never a secret. The model is pure: the listings are
methods here, the HTTP side is `rdmaster.py`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import yaml

from osspolicy.emulator.accounts import (
    Account,
    SeedSpec,
    is_account_id,
    parse_seed_spec,
    resolve_accounts,
)

__all__ = (
    "IN_STATUSES",
    "MEMBER_STATUSES",
    "DirectoryFileError",
    "DirectorySource",
    "Folder",
    "Member",
    "ResourceDirectory",
    "directory_accounts",
    "load_directory",
)

#: a member's status, as ListAccounts reports it (the SDK's model lists these seven)
MEMBER_STATUSES = (
    "CreateSuccess",
    "InviteSuccess",
    "PromoteSuccess",
    "PromoteVerifying",
    "PromoteFailed",
    "PromoteExpired",
    "PromoteCancelled",
)
#: the statuses of a member that has fully joined (contracts §17: the client takes these)
IN_STATUSES = frozenset({"CreateSuccess", "InviteSuccess", "PromoteSuccess"})

_FOLDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_ROLE = re.compile(r"[A-Za-z0-9.@_-]{1,64}")
_TOP_KEYS = ("management", "folders", "accounts")
_FOLDER_KEYS = ("id", "name", "parent")
_ACCOUNT_KEYS = (
    "id",
    "name",
    "status",
    "folder",
    "access_key_id",
    "access_key_secret",
    "roles",
    "buckets",
)


class DirectoryFileError(ValueError):
    """A resource directory that cannot be played: where, what and the fix, in one line."""


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder of the directory; `parent` is None for the Root folder."""

    folder_id: str
    name: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A member account: its id, display name, status, folder, roles and seeded buckets;
    a key pair only if the file gives one (the secret out of repr)."""

    account_id: str
    name: str
    status: str
    folder: str
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    roles: tuple[str, ...] = ()
    buckets: tuple[SeedSpec, ...] = ()

    @property
    def account(self) -> Account | None:
        """The emulator account of its key pair, or None when it has none."""
        if self.access_key_id is None or self.access_key_secret is None:
            return None
        return Account(self.account_id, self.access_key_id, self.access_key_secret)

    @property
    def join_method(self) -> str:
        """`invited` for an invited cloud account, else `created`."""
        return "invited" if self.status == "InviteSuccess" else "created"


class ResourceDirectory:
    """Folders and members, read-only once built; `load_directory` builds and checks one.

    `origin` names where it came from (a file path, or `resource_directory`) in errors.
    """

    def __init__(
        self,
        management: str,
        folders: Sequence[Folder],
        members: Sequence[Member],
        *,
        origin: str = "resource_directory",
        created_at: float | None = None,
    ) -> None:
        self.management = management
        self.folders = tuple(folders)
        self.members = tuple(members)
        self.origin = origin
        roots = [f.folder_id for f in self.folders if f.parent is None]
        if len(roots) != 1:
            raise ValueError("a resource directory has exactly one folder without a parent")
        self.root = roots[0]
        digest = hashlib.sha256(management.encode()).hexdigest()
        self.directory_id = f"rd-{digest[:6]}"
        stamp = time.time() if created_at is None else created_at
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stamp))
        self._folders = {f.folder_id: f for f in self.folders}
        self._members = {m.account_id: m for m in self.members}

    def __repr__(self) -> str:
        return (
            f"ResourceDirectory({self.directory_id}, management={self.management!r}, "
            f"{len(self.members)} accounts, {len(self.folders)} folders)"
        )

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._members

    def member(self, account_id: str) -> Member | None:
        return self._members.get(account_id)

    def folder(self, folder_id: str) -> Folder | None:
        return self._folders.get(folder_id)

    def accounts_in(self, folder_id: str) -> list[Member]:
        """The members directly in `folder_id` (not in its subfolders), in file order."""
        return [m for m in self.members if m.folder == folder_id]

    def folders_in(self, folder_id: str) -> list[Folder]:
        """The folders directly under `folder_id`, in file order."""
        return [f for f in self.folders if f.parent == folder_id]

    def folder_path(self, folder_id: str) -> list[str]:
        """The folder ids from the Root down to `folder_id`."""
        chain: list[str] = []
        current: str | None = folder_id
        while current is not None:
            chain.append(current)
            current = self._folders[current].parent
        return chain[::-1]

    def path_of(self, member: Member) -> str:
        """The member's RDPath: `rd-.../r-.../fd-.../<account id>`."""
        return "/".join((self.directory_id, *self.folder_path(member.folder), member.account_id))

    def type_of(self, member: Member) -> str:
        """`CloudAccount` (the management account, an invited or promoted one), else
        `ResourceAccount`."""
        if member.account_id == self.management or member.status in {
            "InviteSuccess",
            "PromoteSuccess",
        }:
            return "CloudAccount"
        return "ResourceAccount"

    def accounts_with_keys(self) -> list[Account]:
        """The emulator accounts of the members with a key pair, the management first."""
        found = [a for m in self.members if (a := m.account) is not None]
        return sorted(found, key=lambda a: a.account_id != self.management)

    def seeds(self) -> Iterator[tuple[str, SeedSpec]]:
        """(account id, seed spec) of every member's buckets."""
        for member in self.members:
            for spec in member.buckets:
                yield member.account_id, spec


DirectorySource = str | os.PathLike[str] | Mapping[str, object] | ResourceDirectory


def load_directory(source: DirectorySource) -> ResourceDirectory:
    """The directory of a YAML file or a mapping (or `source` itself); DirectoryFileError
    naming the place and the fix otherwise."""
    if isinstance(source, ResourceDirectory):
        return source
    if isinstance(source, Mapping):
        return _Reader("resource_directory").directory(source)
    path = Path(source)
    reader = _Reader(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        reader.fail("", "no such file: give the path of the resource directory YAML")
    except (OSError, UnicodeDecodeError) as exc:
        reader.fail("", f"cannot be read ({type(exc).__name__}): give a readable UTF-8 file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
        reader.fail(where, "not valid YAML: fix the syntax there")
    return reader.directory(data)


class _Reader:
    """Checks the parsed document, failing with `origin: place: message`."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str) -> NoReturn:
        place = f"{self.origin}: {where}" if where else self.origin
        raise DirectoryFileError(f"{place}: {message}")

    def mapping(self, value: object, where: str, keys: Sequence[str]) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a mapping with the keys {', '.join(keys)}")
        for key in value:
            if key not in keys:
                self.fail(where, f"unknown key {key!r}: the keys are {', '.join(keys)}")
        return value

    def text(self, value: object, where: str) -> str:
        """A non-empty string (an integer is taken as its digits: YAML reads ids so)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            self.fail(where, "expected a non-empty string")
        return value

    def optional(self, value: object, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def items(self, value: object, where: str) -> list[object]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "expected a list")
        return value

    def directory(self, data: object) -> ResourceDirectory:
        top = self.mapping(data, "", _TOP_KEYS)
        for key in _TOP_KEYS:
            if key not in top:
                self.fail(key, f"missing: a resource directory gives {', '.join(_TOP_KEYS)}")
        folders = self.folders(self.items(top["folders"], "folders"))
        members = self.members(self.items(top["accounts"], "accounts"), folders)
        management = self.management(top["management"], members)
        return ResourceDirectory(management, list(folders.values()), members, origin=self.origin)

    def folders(self, items: list[object]) -> dict[str, Folder]:
        folders: dict[str, Folder] = {}
        for index, item in enumerate(items):
            where = f"folders[{index}]"
            entry = self.mapping(item, where, _FOLDER_KEYS)
            folder_id = self.text(entry.get("id"), f"{where}.id")
            if not _FOLDER_ID.fullmatch(folder_id):
                self.fail(f"{where}.id", "a folder id is letters, digits and hyphens (fd-...)")
            if folder_id in folders:
                self.fail(f"{where}.id", f"{folder_id} is given twice: give each folder once")
            name = self.text(entry.get("name"), f"{where}.name")
            parent = self.optional(entry.get("parent"), f"{where}.parent")
            folders[folder_id] = Folder(folder_id, name, parent)
        roots = [f.folder_id for f in folders.values() if f.parent is None]
        if len(roots) != 1:
            found = "none" if not roots else ", ".join(roots)
            self.fail("folders", f"exactly one folder (the Root) has no parent; found {found}")
        for index, folder in enumerate(folders.values()):
            if folder.parent is not None and folder.parent not in folders:
                self.fail(f"folders[{index}].parent", f"{folder.parent} is not a folder id here")
            seen = {folder.folder_id}
            current = folder.parent
            while current is not None:
                if current in seen:
                    self.fail(f"folders[{index}].parent", "the parents form a cycle")
                seen.add(current)
                current = folders[current].parent
        return folders

    def members(self, items: list[object], folders: Mapping[str, Folder]) -> list[Member]:
        members: list[Member] = []
        seen_ids: set[str] = set()
        seen_keys: set[str] = set()
        seen_prefixes: set[str] = set()
        for index, item in enumerate(items):
            where = f"accounts[{index}]"
            entry = self.mapping(item, where, _ACCOUNT_KEYS)
            account_id = self.text(entry.get("id"), f"{where}.id")
            if not is_account_id(account_id):
                self.fail(f"{where}.id", "an account id is digits (e.g. 1234567890123456)")
            if account_id in seen_ids:
                self.fail(f"{where}.id", f"{account_id} is given twice: give each account once")
            seen_ids.add(account_id)
            status = self.text(entry.get("status"), f"{where}.status")
            if status not in MEMBER_STATUSES:
                self.fail(
                    f"{where}.status",
                    f"{status!r} is not a member status: use one of {', '.join(MEMBER_STATUSES)}",
                )
            folder = self.text(entry.get("folder"), f"{where}.folder")
            if folder not in folders:
                self.fail(f"{where}.folder", f"{folder} is not a folder id of folders:")
            key_id, secret = self.key_pair(entry, where, seen_keys)
            members.append(
                Member(
                    account_id,
                    self.text(entry.get("name"), f"{where}.name"),
                    status,
                    folder,
                    key_id,
                    secret,
                    self.roles(entry.get("roles"), f"{where}.roles"),
                    self.buckets(entry.get("buckets"), f"{where}.buckets", seen_prefixes),
                )
            )
        return members

    def key_pair(
        self, entry: Mapping[str, object], where: str, seen: set[str]
    ) -> tuple[str | None, str | None]:
        """The optional pair (both or neither); never quoting the secret."""
        key_id = self.optional(entry.get("access_key_id"), f"{where}.access_key_id")
        secret = entry.get("access_key_secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            self.fail(f"{where}.access_key_secret", "expected a non-empty string")
        if (key_id is None) != (secret is None):
            self.fail(where, "give both access_key_id and access_key_secret, or neither")
        if key_id is not None:
            if ":" in key_id:
                self.fail(f"{where}.access_key_id", "an access key id has no ':'")
            if key_id in seen:
                self.fail(
                    f"{where}.access_key_id", "another account has this key: give each its own"
                )
            seen.add(key_id)
        return key_id, secret if isinstance(secret, str) else None

    def roles(self, value: object, where: str) -> tuple[str, ...]:
        roles: list[str] = []
        for index, item in enumerate(self.items(value, where)):
            role = self.text(item, f"{where}[{index}]")
            if not _ROLE.fullmatch(role):
                self.fail(f"{where}[{index}]", "a role name is letters, digits and .@_- (1-64)")
            roles.append(role)
        return tuple(roles)

    def buckets(self, value: object, where: str, seen: set[str]) -> tuple[SeedSpec, ...]:
        specs: list[SeedSpec] = []
        for index, item in enumerate(self.items(value, where)):
            place = f"{where}[{index}]"
            spec = self.text(item, place)
            if spec.count(":") > 2:
                self.fail(place, "write PREFIX:N[:REGION]: the account is the one listing it")
            try:
                seed = parse_seed_spec(spec)
            except ValueError as exc:
                self.fail(place, str(exc))
            if seed.prefix in seen:
                self.fail(place, f"prefix {seed.prefix!r} is seeded twice: give each its own")
            seen.add(seed.prefix)
            specs.append(seed)
        return tuple(specs)

    def management(self, value: object, members: Sequence[Member]) -> str:
        management = self.text(value, "management")
        member = next((m for m in members if m.account_id == management), None)
        if member is None:
            self.fail("management", f"{management} is not the id of one of accounts:")
        if member.account is None:
            index = members.index(member)
            self.fail(
                f"accounts[{index}]",
                "the management account needs access_key_id and access_key_secret: "
                "the directory calls are signed with them",
            )
        return management


def directory_accounts(
    given: Sequence[Account | str] | None,
    account_id: str | None,
    access_key_id: str | None,
    access_key_secret: str | None,
    directory: ResourceDirectory | None,
) -> tuple[Account, ...]:
    """The accounts to play with a directory: those given (as `resolve_accounts` reads
    them) then the members' with a key pair; with none given, the members' alone, the
    management account first (the default owner).

    A member whose id or access key id is also given is a DirectoryFileError.
    """
    if directory is None:
        return resolve_accounts(given, account_id, access_key_id, access_key_secret)
    members = directory.accounts_with_keys()
    if not given and (account_id, access_key_id, access_key_secret) == (None, None, None):
        return tuple(members)
    explicit = resolve_accounts(given, account_id, access_key_id, access_key_secret)
    for account in explicit:
        if account.account_id in directory:
            raise DirectoryFileError(
                f"{directory.origin}: account {account.account_id} is a member of the directory "
                "and also given on its own: give it once"
            )
        if any(m.access_key_id == account.access_key_id for m in members):
            raise DirectoryFileError(
                f"{directory.origin}: access key id {account.access_key_id} of a member is also "
                "given for another account: give each account its own"
            )
    return (*explicit, *members)
