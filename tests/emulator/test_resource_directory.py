"""A Resource Directory on the emulator, driven by Alibaba's own SDK packages.

The directory's listings are called with `alibabacloud_resourcedirectorymaster20220419`'s
client (ACS3-HMAC-SHA256, through `alibabacloud_tea_openapi`) pointed at the emulator;
AssumeRole into a member with `alibabacloud_credentials`' `ram_role_arn` provider; the
member's buckets with the OSS SDK. The directory: a management account in the Root
folder and 12 members over three folders (prod 6, dev 4, and web 2 under prod).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import alibabacloud_oss_v2 as oss
import pytest
import yaml
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
from alibabacloud_resourcedirectorymaster20220419 import models
from alibabacloud_resourcedirectorymaster20220419.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from darabonba.request import DaraRequest
from darabonba.runtime import RuntimeOptions

from osspolicy.emulator import Account, Emulator
from osspolicy.emulator.acs3 import acs3_signature, canonical_request, parse_authorization
from osspolicy.emulator.directory import MEMBER_STATUSES, DirectoryFileError, load_directory

MANAGEMENT = Account("1000000000000001", "MgmtKeyId", "MgmtSecret1")
#: a member with a key pair of its own (it may list its buckets, not the directory)
KEYED = Account("2000000000000002", "WebKeyId", "WebSecret2")
OUTSIDER = Account("3333333333333333", "OutsiderKeyId", "OutsiderSecret3")
ROLE = "ResourceDirectoryAccountAccessRole"
ROOT, PROD, DEV, WEB = "r-root00", "fd-prod000001", "fd-dev0000001", "fd-web0000001"
#: each member's (id, folder, status); the status covers every one the service reports
MEMBERS = [
    ("2000000000000001", PROD, "CreateSuccess"),
    ("2000000000000002", PROD, "InviteSuccess"),
    ("2000000000000003", PROD, "PromoteSuccess"),
    ("2000000000000004", PROD, "PromoteVerifying"),
    ("2000000000000005", PROD, "PromoteFailed"),
    ("2000000000000006", PROD, "CreateSuccess"),
    ("2000000000000007", DEV, "PromoteExpired"),
    ("2000000000000008", DEV, "PromoteCancelled"),
    ("2000000000000009", DEV, "CreateSuccess"),
    ("2000000000000010", DEV, "InviteSuccess"),
    ("2000000000000011", WEB, "CreateSuccess"),
    ("2000000000000012", WEB, "CreateSuccess"),
]
ALL_IDS = [MANAGEMENT.account_id, *(member for member, _, _ in MEMBERS)]


def directory_document() -> dict[str, object]:
    """The directory as the YAML file's keys."""
    accounts: list[dict[str, object]] = [
        {
            "id": MANAGEMENT.account_id,
            "name": "management",
            "status": "CreateSuccess",
            "folder": ROOT,
            "access_key_id": MANAGEMENT.access_key_id,
            "access_key_secret": MANAGEMENT.access_key_secret,
            "roles": ["OpsRole"],
            "buckets": ["mgmt-:1"],
        }
    ]
    for number, (account_id, folder, status) in enumerate(MEMBERS, start=1):
        entry: dict[str, object] = {
            "id": account_id,
            "name": f"member-{number:02d}",
            "status": status,
            "folder": folder,
            "roles": [ROLE] if number != 12 else [],
            "buckets": [f"m{number:02d}-:2:cn-shanghai"] if number % 2 else [f"m{number:02d}-:1"],
        }
        if account_id == KEYED.account_id:
            entry.update(
                access_key_id=KEYED.access_key_id, access_key_secret=KEYED.access_key_secret
            )
        accounts.append(entry)
    return {
        "management": MANAGEMENT.account_id,
        "folders": [
            {"id": ROOT, "name": "Root"},
            {"id": PROD, "name": "prod", "parent": ROOT},
            {"id": DEV, "name": "dev", "parent": ROOT},
            {"id": WEB, "name": "web", "parent": PROD},
        ],
        "accounts": accounts,
    }


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(accounts=[OUTSIDER], resource_directory=directory_document()) as emulator:
        emulator.seed_buckets(["outsider-bucket"], account_id=OUTSIDER.account_id)
        yield emulator


def rd_client(emu: Emulator, account: Account = MANAGEMENT, **overrides: str | None) -> Client:
    """The SDK's directory client for the emulator (plain HTTP to its host:port)."""
    options: dict[str, str | None] = {
        "access_key_id": account.access_key_id,
        "access_key_secret": account.access_key_secret,
        **overrides,
    }
    return Client(Config(endpoint=urlsplit(emu.endpoint).netloc, protocol="http", **options))


def refused(call) -> tuple[int, str]:
    """The HTTP status and code of the SDK's ClientException for `call`."""
    with pytest.raises(ClientException) as excinfo:
        call()
    return excinfo.value.status_code, excinfo.value.code


def assume(emu: Emulator, role_arn: str, account: Account = MANAGEMENT):
    """Temporary credentials from the credentials library's ram_role_arn provider."""
    return RamRoleArnCredentialsProvider(
        access_key_id=account.access_key_id,
        access_key_secret=account.access_key_secret,
        role_arn=role_arn,
        role_session_name="osspolicy",
        sts_endpoint=emu.endpoint,
    ).get_credentials()


def member_role(account_id: str, role: str = ROLE) -> str:
    return f"acs:ram::{account_id}:role/{role}"


def account_ids(body) -> list[str]:
    return [a.account_id for a in body.accounts.account]


# --- ListAccounts ---------------------------------------------------------------------------


def test_list_accounts_pages_by_max_results_and_next_token(emu):
    """MaxResults 5 gives pages of 5, 5 and 3, each but the last with a NextToken; together
    every account of the directory in the file's order, TotalCount 13 on each."""
    client, pages, token = rd_client(emu), [], None
    while True:
        body = client.list_accounts(
            models.ListAccountsRequest(max_results=5, next_token=token)
        ).body
        pages.append((account_ids(body), body.total_count))
        token = body.next_token
        if not token:
            break
    assert [len(ids) for ids, _ in pages] == [5, 5, 3]
    assert [i for ids, _ in pages for i in ids] == ALL_IDS
    assert {total for _, total in pages} == {13}


def test_list_accounts_pages_by_page_number_and_size(emu):
    """Without MaxResults, PageNumber/PageSize 5 page the same accounts, echoing both."""
    client = rd_client(emu)
    bodies = [
        client.list_accounts(models.ListAccountsRequest(page_number=n, page_size=5)).body
        for n in (1, 2, 3, 4)
    ]
    assert [account_ids(b) for b in bodies] == [ALL_IDS[:5], ALL_IDS[5:10], ALL_IDS[10:], []]
    assert [(b.page_number, b.page_size, b.total_count) for b in bodies] == [
        (n, 5, 13) for n in (1, 2, 3, 4)
    ]


def test_list_accounts_defaults_to_pages_of_ten(emu):
    """With no paging parameter, the first page holds 10 accounts."""
    body = rd_client(emu).list_accounts(models.ListAccountsRequest()).body
    assert (account_ids(body), body.page_size) == (ALL_IDS[:10], 10)


def test_each_member_is_reported_as_the_sdk_model_reads_it(emu):
    """A member's entry fills the SDK model: id, display name, status, folder, join method,
    type, directory id, and its RDPath through its folders."""
    body = rd_client(emu).list_accounts(models.ListAccountsRequest(max_results=100)).body
    web = {a.account_id: a for a in body.accounts.account}["2000000000000011"]
    directory_id = emu.resource_directory.directory_id
    assert (
        web.display_name,
        web.status,
        web.folder_id,
        web.join_method,
        web.type,
        web.resource_directory_id,
        web.resource_directory_path,
    ) == (
        "member-11",
        "CreateSuccess",
        WEB,
        "created",
        "ResourceAccount",
        directory_id,
        f"{directory_id}/{ROOT}/{PROD}/{WEB}/2000000000000011",
    )
    assert web.join_time.endswith("Z")


def test_every_status_of_the_file_is_reported_with_its_join_method_and_type(emu):
    """Statuses come back as the file gives them (all seven of the service's); invited
    members are `invited` cloud accounts, promoted ones cloud accounts too."""
    body = rd_client(emu).list_accounts(models.ListAccountsRequest(max_results=100)).body
    reported = {a.account_id: (a.status, a.join_method, a.type) for a in body.accounts.account}
    assert {status for status, _, _ in reported.values()} == set(MEMBER_STATUSES)
    assert reported["2000000000000002"] == ("InviteSuccess", "invited", "CloudAccount")
    assert reported["2000000000000003"] == ("PromoteSuccess", "created", "CloudAccount")
    assert reported["2000000000000004"] == ("PromoteVerifying", "created", "ResourceAccount")
    assert reported[MANAGEMENT.account_id][2] == "CloudAccount"


def test_query_keyword_keeps_the_members_whose_name_holds_it(emu):
    """QueryKeyword keeps matching display names, ignoring case, and counts only those."""
    body = rd_client(emu).list_accounts(models.ListAccountsRequest(query_keyword="MEMBER-1")).body
    assert (account_ids(body), body.total_count) == (
        ["2000000000000010", "2000000000000011", "2000000000000012"],
        3,
    )


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        pytest.param(models.ListAccountsRequest(max_results=101), "MaxResults", id="max-101"),
        pytest.param(models.ListAccountsRequest(page_size=0), "PageSize", id="size-0"),
        pytest.param(models.ListAccountsRequest(next_token="not-a-token"), "NextToken", id="token"),
    ],
)
def test_a_paging_parameter_out_of_range_is_invalid_parameter(emu, request_, code):
    """MaxResults/PageSize outside 1-100 or a NextToken not given out is a 400."""
    assert refused(lambda: rd_client(emu).list_accounts(request_)) == (
        400,
        f"InvalidParameter.{code}",
    )


# --- ListAccountsForParent / ListFoldersForParent --------------------------------------------


def test_list_accounts_for_parent_pages_a_folders_own_members(emu):
    """The members directly in prod (6, not web's 2) come in pages of 5 and 1."""
    client = rd_client(emu)
    bodies = [
        client.list_accounts_for_parent(
            models.ListAccountsForParentRequest(parent_folder_id=PROD, page_number=n, page_size=5)
        ).body
        for n in (1, 2)
    ]
    prod = [member for member, folder, _ in MEMBERS if folder == PROD]
    assert [account_ids(b) for b in bodies] == [prod[:5], prod[5:]]
    assert [(b.page_number, b.page_size, b.total_count) for b in bodies] == [(1, 5, 6), (2, 5, 6)]


def test_list_accounts_for_parent_without_a_folder_lists_the_roots(emu):
    """No ParentFolderId is the Root folder: the management account alone."""
    body = rd_client(emu).list_accounts_for_parent(models.ListAccountsForParentRequest()).body
    assert (account_ids(body), body.total_count) == ([MANAGEMENT.account_id], 1)


def test_list_folders_for_parent_walks_the_tree(emu):
    """Each folder lists its direct subfolders: Root has prod and dev, prod has web, web none."""
    client = rd_client(emu)

    def children(parent: str | None) -> list[tuple[str, str]]:
        request = models.ListFoldersForParentRequest(parent_folder_id=parent)
        body = client.list_folders_for_parent(request).body
        return [(f.folder_id, f.folder_name) for f in body.folders.folder]

    assert (children(None), children(PROD), children(WEB)) == (
        [(PROD, "prod"), (DEV, "dev")],
        [(WEB, "web")],
        [],
    )


def test_list_folders_for_parent_pages_by_page_number(emu):
    """PageSize 1 gives the Root's two folders one a page, TotalCount 2 on each."""
    client = rd_client(emu)
    bodies = [
        client.list_folders_for_parent(
            models.ListFoldersForParentRequest(page_number=n, page_size=1)
        ).body
        for n in (1, 2, 3)
    ]
    assert [[f.folder_id for f in b.folders.folder] for b in bodies] == [[PROD], [DEV], []]
    assert {b.total_count for b in bodies} == {2}


@pytest.mark.parametrize("call", ["accounts", "folders"])
def test_an_unknown_parent_folder_is_entity_not_exists_folder(emu, call):
    """A ParentFolderId that is no folder of the directory is 404 EntityNotExists.Folder."""
    client = rd_client(emu)
    if call == "accounts":
        request = models.ListAccountsForParentRequest(parent_folder_id="fd-nothing01")
        assert refused(lambda: client.list_accounts_for_parent(request)) == (
            404,
            "EntityNotExists.Folder",
        )
    else:
        request = models.ListFoldersForParentRequest(parent_folder_id="fd-nothing01")
        assert refused(lambda: client.list_folders_for_parent(request)) == (
            404,
            "EntityNotExists.Folder",
        )


# --- GetResourceDirectory -------------------------------------------------------------------


def test_get_resource_directory_names_the_management_account(emu):
    """GetResourceDirectory gives the directory's id, its Root folder and the management
    account (MasterAccountId), which a client reaches with its own keys."""
    directory = rd_client(emu).get_resource_directory().body.resource_directory
    assert (
        directory.resource_directory_id,
        directory.root_folder_id,
        directory.master_account_id,
        directory.master_account_name,
    ) == (emu.resource_directory.directory_id, ROOT, MANAGEMENT.account_id, "management")


# --- who may call ----------------------------------------------------------------------------

CALLS = {
    "ListAccounts": lambda c: c.list_accounts(models.ListAccountsRequest()),
    "ListAccountsForParent": lambda c: c.list_accounts_for_parent(
        models.ListAccountsForParentRequest()
    ),
    "ListFoldersForParent": lambda c: c.list_folders_for_parent(
        models.ListFoldersForParentRequest()
    ),
    "GetResourceDirectory": lambda c: c.get_resource_directory(),
}


@pytest.mark.parametrize("action", list(CALLS))
def test_a_wrong_secret_gets_signature_does_not_match_as_json(emu, action):
    """Each call signed with a wrong secret is 400 SignatureDoesNotMatch, in the gateway's
    JSON (which the SDK parsed), naming no secret."""
    client = rd_client(emu, access_key_secret="NotTheSecret")
    with pytest.raises(ClientException) as excinfo:
        CALLS[action](client)
    error = excinfo.value
    assert (error.status_code, error.code, error.data["HostId"]) == (
        400,
        "SignatureDoesNotMatch",
        "resourcedirectory.aliyuncs.com",
    )
    assert "NotTheSecret" not in str(error.data)
    assert MANAGEMENT.access_key_secret not in str(error.data)


def test_an_unknown_access_key_is_invalid_access_key_id(emu):
    """A key the emulator does not know is 404 InvalidAccessKeyId.NotFound."""
    client = rd_client(emu, access_key_id="NobodyKnowsMe", access_key_secret="x")
    assert refused(lambda: CALLS["ListAccounts"](client)) == (404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("account", [KEYED, OUTSIDER], ids=["member", "outsider"])
@pytest.mark.parametrize("action", list(CALLS))
def test_a_non_management_caller_is_refused(emu, account, action):
    """A member's own key, or an account outside the directory, gets 404
    EntityNotExists.ResourceDirectory: only the management account may list."""
    client = rd_client(emu, account)
    assert refused(lambda: CALLS[action](client)) == (404, "EntityNotExists.ResourceDirectory")


def test_temporary_keys_of_the_management_account_may_list(emu):
    """Keys of a role in the management account (with their token) list the directory."""
    creds = assume(emu, member_role(MANAGEMENT.account_id, "OpsRole"))
    client = rd_client(
        emu,
        access_key_id=creds.get_access_key_id(),
        access_key_secret=creds.get_access_key_secret(),
        security_token=creds.get_security_token(),
    )
    assert account_ids(CALLS["ListAccounts"](client).body) == ALL_IDS[:10]


def test_temporary_keys_with_another_token_are_refused(emu):
    """A temporary key sent with a token not its own is InvalidSecurityToken."""
    role = member_role(MANAGEMENT.account_id, "OpsRole")
    creds, other = assume(emu, role), assume(emu, role)
    client = rd_client(
        emu,
        access_key_id=creds.get_access_key_id(),
        access_key_secret=creds.get_access_key_secret(),
        security_token=other.get_security_token(),
    )
    assert refused(lambda: CALLS["ListAccounts"](client)) == (
        400,
        "InvalidSecurityToken.MismatchWithAccessKey",
    )


def test_temporary_keys_of_a_member_are_refused(emu):
    """Keys of a role in a member act as that member: not the management account."""
    creds = assume(emu, member_role("2000000000000001"))
    client = rd_client(
        emu,
        access_key_id=creds.get_access_key_id(),
        access_key_secret=creds.get_access_key_secret(),
        security_token=creds.get_security_token(),
    )
    assert refused(lambda: CALLS["ListAccounts"](client)) == (
        404,
        "EntityNotExists.ResourceDirectory",
    )


def test_an_unknown_action_is_invalid_action_not_found(emu):
    """Another action of the product (signed as the SDK signs any) is 404
    InvalidAction.NotFound."""
    params = Params(
        action="EnableResourceDirectory",
        version="2022-04-19",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    client = rd_client(emu)
    call = lambda: client.call_api(params, OpenApiRequest(query={}), RuntimeOptions())  # noqa: E731
    assert refused(call) == (404, "InvalidAction.NotFound")


@pytest.mark.parametrize("action", list(CALLS))
def test_each_call_is_logged_with_its_api_name(emu, action):
    """The request log's `action` is the API name, with the caller's key and no bucket."""
    CALLS[action](rd_client(emu))
    entry = emu.request_log[-1]
    assert (entry.action, entry.access_key_id, entry.bucket, entry.status) == (
        action,
        MANAGEMENT.access_key_id,
        None,
        200,
    )


def test_without_a_directory_the_listings_are_entity_not_exists(emu):
    """An emulator playing no directory answers every account EntityNotExists.ResourceDirectory."""
    with Emulator(accounts=[MANAGEMENT]) as plain:
        assert refused(lambda: CALLS["ListAccounts"](rd_client(plain))) == (
            404,
            "EntityNotExists.ResourceDirectory",
        )


def test_the_signature_is_the_sdks_own(emu):
    """canonical_request + acs3_signature reproduce tea-openapi's ACS3-HMAC-SHA256 signer on a
    request with an encoded query value and a security token."""
    request = DaraRequest()
    request.method, request.pathname = "POST", "/"
    request.query = {"NextToken": "a b+c/d=~", "MaxResults": "5"}
    request.headers = {
        "host": "127.0.0.1:9000",
        "x-acs-action": "ListAccounts",
        "x-acs-version": "2022-04-19",
        "x-acs-security-token": "TOKEN",
        "accept": "application/json",
    }
    payload = Utils.hash(b"", "ACS3-HMAC-SHA256").hex()
    request.headers["x-acs-content-sha256"] = payload
    auth = parse_authorization(
        Utils.get_authorization(request, "ACS3-HMAC-SHA256", payload, "AK", "SECRET")
    )
    canonical = canonical_request(
        "POST",
        "/",
        list(request.query.items()),
        {k: [v] for k, v in request.headers.items()},
        signed_headers=auth.signed_headers,
        payload_hash=payload,
    )
    assert acs3_signature("SECRET", canonical) == auth.signature


# --- AssumeRole into members -----------------------------------------------------------------


def oss_client(emu: Emulator, creds) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        creds.get_access_key_id(), creds.get_access_key_secret(), creds.get_security_token()
    )
    cfg.region = emu.region
    cfg.endpoint = emu.endpoint
    cfg.retryer = oss.retry.NopRetryer()
    return oss.Client(cfg)


def test_the_management_account_assumes_a_members_role_and_lists_its_buckets(emu):
    """AssumeRole of a member's role from the management account gives STS keys that list
    that member's buckets (and only those) through the OSS SDK."""
    creds = assume(emu, member_role("2000000000000001"))
    listed = oss_client(emu, creds).list_buckets(oss.ListBucketsRequest()).buckets
    assert [(b.name, b.region) for b in listed] == [
        ("m01-00000", "cn-shanghai"),
        ("m01-00001", "cn-shanghai"),
    ]
    assert emu.account_of_key(creds.get_access_key_id()) == "2000000000000001"


def test_a_member_without_keys_is_reached_only_by_assume_role(emu):
    """A member with no key pair of its own is still an account: its role works."""
    creds = assume(emu, member_role("2000000000000004"))
    listed = oss_client(emu, creds).list_buckets(oss.ListBucketsRequest()).buckets
    assert [b.name for b in listed] == ["m04-00000"]


@pytest.mark.parametrize(
    ("role_arn", "account", "code"),
    [
        pytest.param(
            member_role("2000000000000012"), MANAGEMENT, "EntityNotExist.Role", id="no-such-role"
        ),
        pytest.param(
            member_role("2000000000000001", "Other"), MANAGEMENT, "EntityNotExist.Role", id="other"
        ),
        pytest.param(member_role("2000000000000001"), KEYED, "NoPermission", id="from-a-member"),
        pytest.param(member_role("2000000000000001"), OUTSIDER, "NoPermission", id="outsider"),
    ],
)
def test_assume_role_into_a_member_is_refused_as_sts_refuses(emu, role_arn, account, code):
    """A role the member does not have is EntityNotExist.Role; a caller other than the
    management account is NoPermission (the role trusts only the management account)."""
    with pytest.raises(CredentialException) as excinfo:
        assume(emu, role_arn, account)
    assert f'"Code": "{code}"' in str(excinfo.value)


def test_roles_of_accounts_outside_the_directory_behave_as_before(emu):
    """An account outside the directory keeps any-key AssumeRole: a member's key may assume
    a role of it."""
    creds = assume(emu, member_role(OUTSIDER.account_id, "anything"), KEYED)
    listed = oss_client(emu, creds).list_buckets(oss.ListBucketsRequest()).buckets
    assert [b.name for b in listed] == ["outsider-bucket"]


def test_assume_role_into_a_member_is_logged_as_assume_role(emu):
    """The request log names AssumeRole with the management account's key."""
    assume(emu, member_role("2000000000000009"))
    entry = emu.request_log[-1]
    assert (entry.action, entry.access_key_id, entry.status) == (
        "AssumeRole",
        MANAGEMENT.access_key_id,
        200,
    )


# --- the emulator's accounts and the file ------------------------------------------------------


def test_members_are_accounts_the_management_first_after_those_given(emu):
    """`accounts` holds those given, then the members with a key pair, management first;
    `account_ids` holds every member too; each member's buckets are its own."""
    assert [a.account_id for a in emu.accounts] == [
        OUTSIDER.account_id,
        MANAGEMENT.account_id,
        KEYED.account_id,
    ]
    assert emu.account_ids == {OUTSIDER.account_id, *ALL_IDS}
    assert emu.state.find_owner("m07-00001") == "2000000000000007"
    assert emu.state.find_region("m07-00001") == "cn-shanghai"


def test_with_a_directory_alone_the_management_account_is_the_default_owner(tmp_path):
    """From a YAML file and nothing else, the management account is the default owner."""
    path = tmp_path / "rd.yaml"
    path.write_text(yaml.safe_dump(directory_document()), encoding="utf-8")
    emulator = Emulator(resource_directory=path)
    assert (emulator.account_id, emulator.access_key_id) == (
        MANAGEMENT.account_id,
        MANAGEMENT.access_key_id,
    )


def test_a_member_also_given_on_its_own_is_refused():
    """A member's id given again in `accounts=` is a DirectoryFileError naming it."""
    with pytest.raises(DirectoryFileError, match=KEYED.account_id):
        Emulator(accounts=[KEYED], resource_directory=directory_document())


def _broken(change) -> dict[str, object]:
    document = directory_document()
    change(document)
    return document


def _account(document: dict[str, object], index: int) -> dict[str, object]:
    accounts = document["accounts"]
    assert isinstance(accounts, list)
    return accounts[index]


@pytest.mark.parametrize(
    ("change", "place"),
    [
        pytest.param(lambda d: d.pop("management"), "management: missing", id="no-management"),
        pytest.param(
            lambda d: d.update(management="9999999999999999"), "management:", id="not-a-member"
        ),
        pytest.param(
            lambda d: _account(d, 0).pop("access_key_secret"), "accounts[0]:", id="half-a-pair"
        ),
        pytest.param(
            lambda d: [_account(d, 0).pop(k) for k in ("access_key_id", "access_key_secret")],
            "accounts[0]: the management account needs access_key_id",
            id="management-without-keys",
        ),
        pytest.param(
            lambda d: _account(d, 3).update(status="Active"), "accounts[3].status", id="status"
        ),
        pytest.param(
            lambda d: _account(d, 2).update(folder="fd-missing01"), "accounts[2].folder", id="fold"
        ),
        pytest.param(
            lambda d: _account(d, 2).update(id=MEMBERS[0][0]), "accounts[2].id", id="dup-id"
        ),
        pytest.param(
            lambda d: _account(d, 1).update(colour="red"), "accounts[1]: unknown key", id="key"
        ),
        pytest.param(
            lambda d: _account(d, 1).update(buckets=["x-:1:cn-hangzhou:2000000000000001"]),
            "accounts[1].buckets[0]",
            id="bucket-account",
        ),
        pytest.param(
            lambda d: _account(d, 1).update(buckets=["Bad_Prefix:3"]),
            "accounts[1].buckets[0]",
            id="bucket-name",
        ),
        pytest.param(
            lambda d: _account(d, 1).update(roles=["no spaces"]), "accounts[1].roles[0]", id="role"
        ),
        pytest.param(
            lambda d: d["folders"].append({"id": "fd-other00001", "name": "other"}),
            "folders: exactly one folder",
            id="two-roots",
        ),
        pytest.param(lambda d: d["folders"][1].update(parent=WEB), "folders[1].parent", id="cycle"),
        pytest.param(
            lambda d: d["folders"][2].update(parent="fd-missing01"), "folders[2].parent", id="par"
        ),
    ],
)
def test_a_bad_directory_is_one_line_naming_the_place(change, place):
    """Each mistake is a DirectoryFileError of one line: the origin, the place, the fix."""
    with pytest.raises(DirectoryFileError) as excinfo:
        load_directory(_broken(change))
    message = str(excinfo.value)
    assert message.startswith(f"resource_directory: {place}")
    assert "\n" not in message


def test_a_bad_file_names_the_file_and_never_a_secret(tmp_path):
    """A file's errors start with its path; a bad key never shows the secret beside it."""
    document = _broken(lambda d: _account(d, 0).update(access_key_id="has:colon"))
    path = tmp_path / "rd.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(DirectoryFileError) as excinfo:
        load_directory(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: accounts[0].access_key_id")
    assert MANAGEMENT.access_key_secret not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("management: [\n", "line 2", id="yaml"),
        pytest.param("- a list\n", "expected a mapping", id="not-a-mapping"),
    ],
)
def test_a_file_that_is_not_a_directory_document_is_one_line(tmp_path, text, expected):
    """Broken YAML names the line; a document of another shape says what is expected."""
    path = tmp_path / "rd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DirectoryFileError, match=expected):
        load_directory(path)


def test_a_missing_file_is_one_line(tmp_path: Path):
    """A path that does not exist is a DirectoryFileError naming it."""
    with pytest.raises(DirectoryFileError, match="no such file"):
        load_directory(tmp_path / "absent.yaml")


def test_unquoted_ids_read_as_numbers_are_taken_as_their_digits(tmp_path):
    """YAML reads `id: 1000000000000001` as an integer; it is the same account id."""
    text = yaml.safe_dump(directory_document()).replace("'1000000000000001'", "1000000000000001")
    path = tmp_path / "rd.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_directory(path).management == MANAGEMENT.account_id


def test_join_time_is_the_load_time(emu):
    """Join, modify and create times are one UTC instant, when the directory was loaded."""
    stamp = emu.resource_directory.created
    assert time.strptime(stamp, "%Y-%m-%dT%H:%M:%S.000Z")
