"""ResourceDirectoryMaster 2022-04-19 on the emulator's endpoint: the listings that walk a
directory (`directory.py`).

A request carrying an `x-acs-action` header is an OpenAPI call in the V3 style that
Alibaba's package `alibabacloud_resourcedirectorymaster20220419` sends through
`alibabacloud_tea_openapi`: `POST /?<parameters>` with an empty body, `x-acs-version:
2022-04-19`, signed ACS3-HMAC-SHA256 (`acs3.py`). Answered:

- `ListAccounts`: every member, in the file's order. `MaxResults` (1-100) with
  `NextToken` pages by token (a `NextToken` while more remain, none on the last page);
  the service prefers them, so they win when given. Else `PageNumber` [1] / `PageSize`
  [10] (1-100).
- `ListAccountsForParent`: the members directly in `ParentFolderId` [the Root folder],
  paged by `PageNumber` / `PageSize`.
- `ListFoldersForParent`: the folders directly under `ParentFolderId` [the Root folder],
  paged alike.
- `GetResourceDirectory`: the directory itself: its id, Root folder, and the management
  account (`MasterAccountId`), which a client reaches with its own keys, not a role.

`TotalCount` counts every match; `QueryKeyword` keeps the members (folders) whose display
name (name) or id holds it, ignoring case. Only the management account may call them: its
own keys, or temporary keys of a role in it. Any other caller — a member, an account
outside the directory, every account when no directory is played — gets 404
EntityNotExists.ResourceDirectory, the service's documented answer for an account without
a directory of its own (no other code is documented for these calls). An unknown action
is 404 InvalidAction.NotFound. Errors are the gateway's JSON (`pop.py`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TypeVar
from urllib.parse import parse_qsl

from osspolicy.emulator.acs3 import parse_authorization, verify_acs3
from osspolicy.emulator.auth import KeyStore
from osspolicy.emulator.directory import Folder, Member, ResourceDirectory
from osspolicy.emulator.pop import PopError, PopReply, error_reply

__all__ = (
    "API_VERSION",
    "RD_ACTIONS",
    "DirectoryService",
    "get_resource_directory",
    "list_accounts",
    "list_accounts_for_parent",
    "list_folders_for_parent",
)

API_VERSION = "2022-04-19"
RD_HOST = "resourcedirectory.aliyuncs.com"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
_FORM = "application/x-www-form-urlencoded"
_TOKEN_PREFIX = "rdemu:"  # noqa: S105 - a page token's tag, no secret

_T = TypeVar("_T")
Params = Mapping[str, str]


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _invalid(name: str) -> PopError:
    return PopError(f"InvalidParameter.{name}", f"The specified parameter {name} is not valid.")


def _number(params: Params, name: str, default: int, high: int) -> int:
    """An integer parameter within 1..`high`, `default` when absent."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name) from None
    if not 1 <= value <= high:
        raise _invalid(name)
    return value


def _matching(
    items: list[_T], keyword: str | None, fields: Callable[[_T], tuple[str, ...]]
) -> list[_T]:
    if not keyword:
        return items
    lowered = keyword.lower()
    return [item for item in items if any(lowered in f.lower() for f in fields(item))]


def _member_fields(member: Member) -> tuple[str, ...]:
    return member.name, member.account_id


def _folder_fields(folder: Folder) -> tuple[str, ...]:
    return folder.name, folder.folder_id


def _page(params: Params) -> tuple[int, int]:
    """(PageNumber, PageSize) of a page-numbered listing."""
    return (
        _number(params, "PageNumber", 1, 1 << 31),
        _number(params, "PageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    )


def _parent(directory: ResourceDirectory, params: Params) -> str:
    folder_id = params.get("ParentFolderId") or directory.root
    if directory.folder(folder_id) is None:
        raise PopError(
            "EntityNotExists.Folder", "The resource directory folder does not exist.", 404
        )
    return folder_id


def _account_json(directory: ResourceDirectory, member: Member, *, path: bool) -> dict[str, str]:
    entry = {
        "AccountId": member.account_id,
        "DisplayName": member.name,
        "Status": member.status,
        "Type": directory.type_of(member),
        "FolderId": member.folder,
        "JoinMethod": member.join_method,
        "JoinTime": directory.created,
        "ModifyTime": directory.created,
        "ResourceDirectoryId": directory.directory_id,
    }
    if path:
        entry["ResourceDirectoryPath"] = directory.path_of(member)
    return entry


def _folder_json(directory: ResourceDirectory, folder: Folder) -> dict[str, str]:
    return {
        "FolderId": folder.folder_id,
        "FolderName": folder.name,
        "CreateTime": directory.created,
    }


def _next_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{offset}".encode()).decode()


def _token_offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("NextToken") from None
    if not text.startswith(_TOKEN_PREFIX) or not text[len(_TOKEN_PREFIX) :].isdigit():
        raise _invalid("NextToken")
    return int(text[len(_TOKEN_PREFIX) :])


def list_accounts(directory: ResourceDirectory, params: Params) -> dict[str, object]:
    members = _matching(list(directory.members), params.get("QueryKeyword"), _member_fields)
    body: dict[str, object] = {"TotalCount": len(members)}
    if params.get("MaxResults") or params.get("NextToken"):
        size = _number(params, "MaxResults", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        start = _token_offset(params["NextToken"]) if params.get("NextToken") else 0
        if start > len(members):
            raise _invalid("NextToken")
        if start + size < len(members):
            body["NextToken"] = _next_token(start + size)
    else:
        number, size = _page(params)
        start = (number - 1) * size
        body.update(PageNumber=number, PageSize=size)
    page = members[start : start + size]
    body["Accounts"] = {"Account": [_account_json(directory, m, path=True) for m in page]}
    return body


def list_accounts_for_parent(directory: ResourceDirectory, params: Params) -> dict[str, object]:
    members = directory.accounts_in(_parent(directory, params))
    members = _matching(members, params.get("QueryKeyword"), _member_fields)
    number, size = _page(params)
    page = members[(number - 1) * size : number * size]
    return {
        "TotalCount": len(members),
        "PageNumber": number,
        "PageSize": size,
        "Accounts": {"Account": [_account_json(directory, m, path=False) for m in page]},
    }


def list_folders_for_parent(directory: ResourceDirectory, params: Params) -> dict[str, object]:
    folders = directory.folders_in(_parent(directory, params))
    folders = _matching(folders, params.get("QueryKeyword"), _folder_fields)
    number, size = _page(params)
    page = folders[(number - 1) * size : number * size]
    return {
        "TotalCount": len(folders),
        "PageNumber": number,
        "PageSize": size,
        "Folders": {"Folder": [_folder_json(directory, f) for f in page]},
    }


def get_resource_directory(directory: ResourceDirectory, _params: Params) -> dict[str, object]:
    management = directory.member(directory.management)
    return {
        "ResourceDirectory": {
            "ResourceDirectoryId": directory.directory_id,
            "RootFolderId": directory.root,
            "MasterAccountId": directory.management,
            "MasterAccountName": management.name if management is not None else "",
            "CreateTime": directory.created,
            "ControlPolicyStatus": "Disabled",
            "MemberDeletionStatus": "Disabled",
        }
    }


Operation = Callable[[ResourceDirectory, Params], dict[str, object]]
#: the actions answered, by (x-acs-action, x-acs-version)
RD_ACTIONS: Mapping[tuple[str, str], Operation] = {
    ("ListAccounts", API_VERSION): list_accounts,
    ("ListAccountsForParent", API_VERSION): list_accounts_for_parent,
    ("ListFoldersForParent", API_VERSION): list_folders_for_parent,
    ("GetResourceDirectory", API_VERSION): get_resource_directory,
}


class DirectoryService:
    """Verifies directory calls and answers them from the directory (None: plays none)."""

    def __init__(self, keys: KeyStore, directory: ResourceDirectory | None) -> None:
        self.keys = keys
        self.directory = directory

    def __repr__(self) -> str:
        return f"DirectoryService({self.directory!r})"

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, Sequence[str]],
        body: bytes,
        request_id: str,
    ) -> PopReply:
        """The JSON answer to one call; `headers` keyed by lower-case name."""
        access_key_id: str | None = None
        with suppress(PopError):  # a missing or bad header is answered by _answer
            access_key_id = parse_authorization(_first(headers, "authorization")).access_key_id
        try:
            answer = self._answer(method, raw_path, headers, body)
        except PopError as exc:
            return error_reply(
                exc,
                request_id,
                host_id=RD_HOST,
                product="ResourceManager",
                access_key_id=access_key_id,
            )
        answer["RequestId"] = request_id
        return PopReply(200, json.dumps(answer).encode(), access_key_id=access_key_id)

    def _answer(
        self, method: str, raw_path: str, headers: Mapping[str, Sequence[str]], body: bytes
    ) -> dict[str, object]:
        action = _first(headers, "x-acs-action") or ""
        operation = RD_ACTIONS.get((action, _first(headers, "x-acs-version") or ""))
        if operation is None:
            raise PopError(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                404,
            )
        path, _, raw_query = raw_path.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        caller = verify_acs3(self.keys, method, path, query=query, headers=headers, body=body)
        directory = self.directory
        if directory is None or caller.account_id != directory.management:
            raise PopError(
                "EntityNotExists.ResourceDirectory",
                "The resource directory for the account is not enabled. We recommend that you "
                "first enable the resource directory for the account.",
                404,
            )
        params = dict(query)
        if (_first(headers, "content-type") or "").startswith(_FORM):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return operation(directory, params)
