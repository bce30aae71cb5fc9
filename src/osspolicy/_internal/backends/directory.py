"""A Resource Directory's listings (contracts §17) through Alibaba's SDK package for
ResourceDirectoryMaster 2022-04-19 (`alibabacloud_resourcedirectorymaster20220419`).

Each function here is one blocking call (run it in a worker thread), made with the
directory account's SDK credentials provider (the one `credentials.py` resolved; its
current keys are read for each call, so a refreshed token is used) and returning plain
values. The package's own retries are off (`autoretry=False`): `retry.py` is the one
retry layer. Its exceptions leave as ours, translated in `map_directory_errors`:
throttling and 5xx are transient, no answer at all a NetworkError, any other answer
(a wrong secret, a caller without a directory) a permanent error carrying the code.

```
get_management ─► GetResourceDirectory: the management account's id
accounts_page  ─► ListAccounts, MaxResults/NextToken: the whole directory
folders_page / accounts_in_folder_page ─► ListFoldersForParent /
                  ListAccountsForParent, PageNumber/PageSize: one folder
```
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import (
    BackendError,
    InvalidAccessKeyId,
    NetworkError,
    PermanentError,
    ServerError,
    SignatureDoesNotMatch,
    Throttled,
)
from .netcause import network_cause

# The package (and through it the credentials library, a fifth of a job's start) is
# imported by the calls below, on first use: a job without a directory never loads it
if TYPE_CHECKING:
    from alibabacloud_resourcedirectorymaster20220419.client import Client
    from darabonba.runtime import RuntimeOptions

__all__ = (
    "DEFAULT_ENDPOINT",
    "PAGE_SIZE",
    "CallSettings",
    "Member",
    "accounts_in_folder_page",
    "accounts_page",
    "folders_page",
    "get_management",
    "map_directory_errors",
)

#: the service's endpoint for the directory calls (the package would guess another)
DEFAULT_ENDPOINT = "https://resourcedirectory.aliyuncs.com"
#: the largest page the listings give (MaxResults, PageSize)
PAGE_SIZE = 100

#: the service's codes that mean the keys are wrong, as our classes
_CODES: dict[str, type[PermanentError]] = {
    "SignatureDoesNotMatch": SignatureDoesNotMatch,
    "IncompleteSignature": SignatureDoesNotMatch,
    "InvalidAccessKeyId.NotFound": InvalidAccessKeyId,
    "InvalidAccessKeyId": InvalidAccessKeyId,
}


#: what a known cause of no answer says, instead of the transport's long message
_CAUSES = {
    "refused": "connection refused: nothing listens there",
    "dns": "the host name does not resolve",
    "plain_http": "it speaks plain HTTP, not HTTPS",
    "tls": "the TLS handshake failed",
}


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How a directory call connects: its timeouts (connect, read) and the CA bundle an
    https endpoint's certificate is verified against (None: the package's default)."""

    timeout_s: tuple[float, float] = (5.0, 20.0)
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A member account as the directory lists it."""

    account_id: str
    display_name: str
    status: str
    folder_id: str | None = None


@contextmanager
def map_directory_errors() -> Iterator[None]:
    """Translate the package's exceptions into ours (`from` the original)."""
    from alibabacloud_tea_openapi.exceptions import (  # noqa: PLC0415 - on first use
        AlibabaCloudException,
        ThrottlingException,
    )
    from Tea.exceptions import TeaException  # noqa: PLC0415 - on first use

    try:
        yield
    except AlibabaCloudException as exc:
        code = exc.code or "Error"
        status = exc.status_code
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("Message") or exc.message or code)
        kind: type[BackendError]
        if isinstance(exc, ThrottlingException) or status in {429, 503} or "Throttling" in code:
            kind = Throttled
        elif status is not None and status >= 500:
            kind = ServerError
        else:
            kind = _CODES.get(code, PermanentError)
        raise kind(message, code=code, request_id=exc.request_id, status=status) from exc
    except TeaException as exc:  # no answer: the package wraps the transport's error
        inner = getattr(exc, "inner_exception", None) or exc
        cause = network_cause(inner)
        text = _CAUSES.get(cause or "") or str(getattr(inner, "message", None) or inner)
        error = NetworkError(" ".join(text.split()) or type(inner).__name__)
        error.cause = cause
        raise error from exc


def _client(credentials: Any, endpoint: str | None, settings: CallSettings) -> Client:
    """The package's client, signed with the provider's current keys."""
    from alibabacloud_resourcedirectorymaster20220419.client import (  # noqa: PLC0415
        Client,
    )
    from alibabacloud_tea_openapi.models import Config  # noqa: PLC0415 - on first use

    keys = credentials.get_credentials()
    url = urlsplit(endpoint or DEFAULT_ENDPOINT)
    connect_s, read_s = settings.timeout_s
    return Client(
        Config(
            access_key_id=keys.access_key_id,
            access_key_secret=keys.access_key_secret,
            security_token=keys.security_token or None,
            endpoint=url.netloc,
            protocol=url.scheme or "https",
            connect_timeout=int(connect_s * 1000),
            read_timeout=int(read_s * 1000),
            ca=settings.ca_file,
        )
    )


def _models() -> Any:
    from alibabacloud_resourcedirectorymaster20220419 import models  # noqa: PLC0415

    return models


def _runtime() -> RuntimeOptions:
    from darabonba.runtime import RuntimeOptions  # noqa: PLC0415 - on first use

    return RuntimeOptions(autoretry=False)


def _members(accounts: Any) -> list[Member]:
    found = accounts.account if accounts is not None and accounts.account else []
    return [
        Member(str(a.account_id), str(a.display_name or ""), str(a.status or ""), a.folder_id)
        for a in found
    ]


def get_management(
    credentials: Any, endpoint: str | None, settings: CallSettings = CallSettings()
) -> str:
    """The id of the directory's management account (GetResourceDirectory)."""
    with map_directory_errors():
        client = _client(credentials, endpoint, settings)
        body = client.get_resource_directory_with_options(_runtime()).body
    return str(body.resource_directory.master_account_id)


def accounts_page(
    credentials: Any,
    endpoint: str | None,
    token: str | None,
    settings: CallSettings = CallSettings(),
) -> tuple[list[Member], str | None]:
    """One page of every member (ListAccounts after `token`) and the next token."""
    request = _models().ListAccountsRequest(max_results=PAGE_SIZE, next_token=token)
    with map_directory_errors():
        client = _client(credentials, endpoint, settings)
        body = client.list_accounts_with_options(request, _runtime()).body
    return _members(body.accounts), body.next_token or None


def accounts_in_folder_page(
    credentials: Any,
    endpoint: str | None,
    folder_id: str,
    page: int,
    settings: CallSettings = CallSettings(),
) -> tuple[list[Member], int]:
    """Page `page` of the members directly in a folder, and how many there are."""
    request = _models().ListAccountsForParentRequest(
        parent_folder_id=folder_id, page_number=page, page_size=PAGE_SIZE
    )
    with map_directory_errors():
        client = _client(credentials, endpoint, settings)
        body = client.list_accounts_for_parent_with_options(request, _runtime()).body
    members = _members(body.accounts)
    return [m if m.folder_id else _in(m, folder_id) for m in members], int(body.total_count or 0)


def _in(member: Member, folder_id: str) -> Member:
    return Member(member.account_id, member.display_name, member.status, folder_id)


def folders_page(
    credentials: Any,
    endpoint: str | None,
    folder_id: str,
    page: int,
    settings: CallSettings = CallSettings(),
) -> tuple[list[str], int]:
    """Page `page` of the folders directly under a folder (their ids), and how many."""
    request = _models().ListFoldersForParentRequest(
        parent_folder_id=folder_id, page_number=page, page_size=PAGE_SIZE
    )
    with map_directory_errors():
        client = _client(credentials, endpoint, settings)
        body = client.list_folders_for_parent_with_options(request, _runtime()).body
    folders = body.folders.folder if body.folders is not None and body.folders.folder else []
    return [str(f.folder_id) for f in folders], int(body.total_count or 0)
