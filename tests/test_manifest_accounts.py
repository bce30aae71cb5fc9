"""Accounts, credentials and connection settings of a manifest (contracts §1, §10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from osspolicy._internal.accounts import (
    CredentialsUriCredentials,
    DefaultCredentials,
    EcsRamRoleCredentials,
    OidcCredentials,
    ProfileCredentials,
    RamRoleArnCredentials,
)
from osspolicy._internal.connection import DEFAULT_ENDPOINT, endpoint_for
from osspolicy._internal.errors import ManifestError
from osspolicy._internal.manifest import (
    Manifest,
    accounts_of,
    load_manifest,
    manifest_yaml,
    parse_manifest,
)

ARN = "acs:ram::1234567890123456:role/osspolicy"


def parse(data: dict[str, object], base: Path = Path("/tmp"), **overrides: object) -> Manifest:
    full = {
        "action": "backup",
        "connection": {"region": "cn-hangzhou"},
        "targets": {"buckets": ["app-logs"]},
    }
    full.update(data)
    return parse_manifest(full, source="job.yaml", base=base, overrides=overrides)


def error_of(data: dict[str, object], **overrides: object) -> str:
    with pytest.raises(ManifestError) as info:
        parse(data, **overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- accounts ----------------------------------------------------------------------------------


def test_without_accounts_there_is_one_default_account() -> None:
    """A manifest without `accounts:` has one account `default` of `type: default`,
    with the manifest's targets."""
    manifest = parse({})
    (account,) = accounts_of(manifest)
    assert account.name == "default"
    assert account.credentials == DefaultCredentials()
    assert account.targets == manifest.targets


def test_each_credentials_type_takes_its_own_keys() -> None:
    """Every type of contracts §10 parses into its own model, with the documented defaults."""
    manifest = parse(
        {
            "targets": {"discover": {}},
            "accounts": [
                {"name": "a", "credentials": {"type": "default"}},
                {"name": "b", "credentials": {"type": "env"}},
                {"name": "c", "credentials": {"type": "profile", "profile": "prod"}},
                {
                    "name": "d",
                    "credentials": {
                        "type": "ram_role_arn",
                        "role_arn": ARN,
                        "source": {"type": "profile", "profile": "base"},
                    },
                },
                {"name": "e", "credentials": {"type": "ecs_ram_role"}},
                {
                    "name": "f",
                    "credentials": {
                        "type": "oidc",
                        "role_arn": ARN,
                        "oidc_provider_arn": "acs:ram::1:oidc-provider/ack",
                        "oidc_token_file_path": "token",
                    },
                },
                {"name": "g", "credentials": {"type": "credentials_uri", "uri": "http://h:1/c"}},
            ],
        },
        base=Path("/jobs"),
    )
    kinds = [type(a.credentials) for a in accounts_of(manifest)]
    assert kinds[2:] == [
        ProfileCredentials,
        RamRoleArnCredentials,
        EcsRamRoleCredentials,
        OidcCredentials,
        CredentialsUriCredentials,
    ]
    role = accounts_of(manifest)[3].credentials
    assert isinstance(role, RamRoleArnCredentials)
    assert (role.session_name, role.external_id, role.sts_endpoint) == ("osspolicy", None, None)
    assert role.source == ProfileCredentials(type="profile", profile="base")
    assert accounts_of(manifest)[4].credentials == EcsRamRoleCredentials(type="ecs_ram_role")
    oidc = accounts_of(manifest)[5].credentials
    assert isinstance(oidc, OidcCredentials)
    assert oidc.oidc_token_file_path == Path("/jobs/token")  # from the manifest's folder


def test_a_key_of_another_type_is_unknown_and_named_by_its_path() -> None:
    """A key that the chosen type does not take is an unknown key at its path, without
    the union's tag pydantic puts in the location."""
    message = error_of(
        {"accounts": [{"name": "p", "credentials": {"type": "profile", "profil": "x"}}]}
    )
    assert "accounts[0].credentials.profil: unknown key; did you mean profile?" in message


def test_a_nested_source_key_is_named_by_its_path() -> None:
    """An unknown key inside ram_role_arn's source names the whole path."""
    credentials = {"type": "ram_role_arn", "role_arn": ARN, "source": {"type": "env", "x": 1}}
    message = error_of({"accounts": [{"name": "p", "credentials": credentials}]})
    assert "accounts[0].credentials.source.x: unknown key" in message


def test_an_unknown_credentials_type_lists_the_types() -> None:
    """`type: bogus` names the seven types that exist."""
    message = error_of({"accounts": [{"name": "p", "credentials": {"type": "bogus"}}]})
    assert "accounts[0].credentials: type 'bogus' is not allowed" in message
    assert "'ram_role_arn'" in message
    assert "'credentials_uri'" in message


def test_credentials_without_a_type_say_to_add_it() -> None:
    """A credentials mapping without `type` is a missing key."""
    message = error_of({"accounts": [{"name": "p", "credentials": {"profile": "x"}}]})
    assert "accounts[0].credentials.type: required key is missing" in message


def test_a_secret_is_refused_without_being_repeated() -> None:
    """A secret written into a credentials section is refused, and its value is in no
    error message."""
    secret = "Sup3rSecretValue"
    credentials = {"type": "env", "access_key_secret": secret}
    message = error_of({"accounts": [{"name": "p", "credentials": credentials}]})
    assert "a secret never goes into a manifest" in message
    assert secret not in message


def test_a_role_arn_must_look_like_one() -> None:
    """ram_role_arn's role_arn is checked for the acs:ram::ID:role/NAME shape."""
    credentials = {"type": "ram_role_arn", "role_arn": "osspolicy"}
    message = error_of({"accounts": [{"name": "p", "credentials": credentials}]})
    assert "accounts[0].credentials.role_arn" in message
    assert "acs:ram::<account-id>:role/<name>" in message


def test_account_names_are_unique() -> None:
    """Two accounts with one name are refused."""
    message = error_of({"accounts": [{"name": "prod"}, {"name": "prod"}]})
    assert "'prod' is used twice" in message


def test_an_account_name_is_lowercase_letters_digits_and_hyphens() -> None:
    """`Prod_1` is not an account name."""
    message = error_of({"accounts": [{"name": "Prod_1"}]})
    assert "accounts[0].name" in message


def test_several_accounts_refuse_a_top_level_bucket_list() -> None:
    """With several accounts, named targets belong to one account each."""
    message = error_of({"accounts": [{"name": "a"}, {"name": "b"}]})
    assert "each account names its own buckets" in message


def test_several_accounts_share_a_top_level_discover() -> None:
    """A top-level discover is every account's own listing."""
    manifest = parse({"targets": {"discover": {}}, "accounts": [{"name": "a"}, {"name": "b"}]})
    assert [a.targets for a in accounts_of(manifest)] == [manifest.targets] * 2


def test_targets_are_optional_when_every_account_has_its_own() -> None:
    """No top-level targets is fine when each account names its own; not otherwise."""
    own = {"buckets": ["app-logs"]}
    manifest = parse({"targets": None, "accounts": [{"name": "a", "targets": own}]})
    assert accounts_of(manifest)[0].targets is not None
    message = error_of(
        {"targets": None, "accounts": [{"name": "a", "targets": own}, {"name": "b"}]}
    )
    assert "targets: required" in message


def test_the_effective_manifest_records_accounts_without_secrets(tmp_path: Path) -> None:
    """accounts are part of the effective manifest a job records."""
    path = tmp_path / "job.yaml"
    path.write_text(
        "action: backup\nconnection: {region: cn-hangzhou}\ntargets: {buckets: [app-logs]}\n"
        "accounts:\n  - name: prod\n    credentials: {type: profile, profile: prod}\n"
    )
    assert "profile: prod" in manifest_yaml(load_manifest(path))


# -- connection --------------------------------------------------------------------------------


def test_the_default_endpoint_is_the_regions_public_one() -> None:
    """No endpoint: https://oss-{region}.aliyuncs.com, expanded per bucket region."""
    connection = parse({}).connection
    assert connection.endpoint_template == DEFAULT_ENDPOINT
    assert endpoint_for(connection, "cn-shanghai") == "https://oss-cn-shanghai.aliyuncs.com"


def test_network_internal_picks_the_internal_endpoint() -> None:
    """`network: internal` gives the -internal endpoints."""
    connection = parse({"connection": {"region": "cn-hangzhou", "network": "internal"}}).connection
    assert endpoint_for(connection, "cn-beijing") == "https://oss-cn-beijing-internal.aliyuncs.com"


def test_a_bare_host_is_accepted_as_https() -> None:
    """`--endpoint oss-cn-hangzhou.aliyuncs.com` is accepted, https assumed."""
    manifest = parse({}, endpoint="oss-cn-hangzhou.aliyuncs.com")
    assert manifest.connection.endpoint == "https://oss-cn-hangzhou.aliyuncs.com"
    assert endpoint_for(manifest.connection, "cn-shanghai") == manifest.connection.endpoint


def test_an_endpoint_template_expands_per_region() -> None:
    """An endpoint with {region} serves every region; a URL keeps its scheme and port."""
    manifest = parse({}, endpoint="http://oss-{region}.emu.test:9000/")
    assert endpoint_for(manifest.connection, "us-west-1") == "http://oss-us-west-1.emu.test:9000"


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("https://user:pw@oss.example.com", "carries no credentials"),
        ("https://oss.example.com/bucket", "has a path or query"),
        ("https://oss-{zone}.example.com", "only placeholder"),
        ("http://127.0.0.1:notaport", "http(s) URL or host"),
    ],
)
def test_a_bad_endpoint_says_what_is_wrong(endpoint: str, says: str) -> None:
    """Userinfo, paths, unknown placeholders and bad ports are refused, each with why."""
    assert says in error_of({"connection": {"region": "cn-hangzhou", "endpoint": endpoint}})


@pytest.mark.parametrize(
    ("region", "hint"),
    [
        ("hangzhou", "did you mean cn-hangzhou?"),
        ("oss-cn-hangzhou", "did you mean cn-hangzhou?"),
        ("oss-cn-shanghai-internal.aliyuncs.com", "did you mean cn-shanghai?"),
        ("CN-Beijing", "did you mean cn-beijing?"),
    ],
)
def test_a_region_that_is_no_region_id_gets_a_hint(region: str, hint: str) -> None:
    """`--region hangzhou` (or an endpoint name) is refused with the id it probably meant."""
    message = error_of({}, region=region)
    assert "connection.region" in message
    assert "is not an OSS region id" in message
    assert hint in message


def test_a_region_typo_gets_did_you_mean() -> None:
    """A well-formed id that is no OSS region (`cn-hanzhou`) is refused with the near one."""
    message = error_of({}, region="cn-hanzhou")
    assert "region 'cn-hanzhou' is not an OSS region; did you mean cn-hangzhou?" in message


def test_a_region_unknown_to_the_list_is_refused_without_an_endpoint() -> None:
    """Without an explicit endpoint, an id outside the known OSS regions is refused."""
    assert "is not an OSS region" in error_of({}, region="xx-newplace-1")


def test_a_new_region_with_an_explicit_endpoint_is_accepted_with_a_warning() -> None:
    """With an explicit endpoint any well-formed id works, and the manifest warns of it."""
    connection = {"region": "xx-newplace-1", "endpoint": "http://127.0.0.1:9000"}
    manifest = parse({"connection": connection})
    assert manifest.connection.region == "xx-newplace-1"
    warning = manifest.connection.region_warning
    assert warning is not None
    assert "'xx-newplace-1' is not an OSS region this release knows" in warning


def test_a_known_region_carries_no_warning() -> None:
    """A region on the list gives no warning, endpoint or not."""
    connection = {"region": "cn-shanghai", "endpoint": "http://127.0.0.1:9000"}
    assert parse({"connection": connection}).connection.region_warning is None


def test_the_ca_file_resolves_from_the_manifest_folder(tmp_path: Path) -> None:
    """ca_file is relative to the manifest's folder; a missing file is refused."""
    (tmp_path / "corp-ca.pem").write_text("pem")
    connection = {"region": "cn-hangzhou", "ca_file": "corp-ca.pem"}
    assert parse({"connection": connection}, base=tmp_path).connection.ca_file == (
        tmp_path / "corp-ca.pem"
    )
    missing = {"region": "cn-hangzhou", "ca_file": "nope.pem"}
    with pytest.raises(ManifestError, match=r"connection\.ca_file: no such file"):
        parse({"connection": missing}, base=tmp_path)


def test_the_shipped_manifests_still_load() -> None:
    """jobs/*.yaml (no accounts, no endpoint) load as before."""
    for path in sorted(Path(__file__).parent.parent.joinpath("jobs").glob("*.yaml")):
        manifest = load_manifest(path)
        assert [a.name for a in accounts_of(manifest)] == ["default"]


# -- resource_directory (contracts §17) ----------------------------------------------------------

DIRECTORY = {"name": "org", "credentials": {"type": "env"}, "resource_directory": {}}


def test_a_directory_account_takes_the_documented_defaults() -> None:
    """`resource_directory: {}` is the whole directory through
    ResourceDirectoryAccountAccessRole, the service's and the library's endpoints."""
    manifest = parse({"accounts": [DIRECTORY], "targets": {"discover": {"prefix": "app-"}}})
    (account,) = accounts_of(manifest)
    directory = account.resource_directory
    assert directory is not None
    assert (directory.role, directory.folders, directory.include, directory.exclude) == (
        "ResourceDirectoryAccountAccessRole",
        (),
        (),
        (),
    )
    assert (directory.endpoint, directory.sts_endpoint) == (None, None)


def test_a_directory_account_takes_its_keys() -> None:
    """role, folders, include, exclude and both endpoints are read as written."""
    spec = {
        "role": "OsspolicyReader",
        "folders": ["fd-prod000001"],
        "include": ["2000000000000001", "web-*"],
        "exclude": ["legacy"],
        "endpoint": "http://127.0.0.1:9000",
        "sts_endpoint": "https://sts.example.com",
    }
    account = {**DIRECTORY, "resource_directory": spec}
    directory = parse({"accounts": [account], "targets": {"discover": {}}}).accounts[0]
    directory = directory.resource_directory
    assert directory is not None
    assert directory.model_dump() == {
        **spec,
        "folders": ("fd-prod000001",),
        "include": ("2000000000000001", "web-*"),
        "exclude": ("legacy",),
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"accounts": [DIRECTORY]},
            "job.yaml: targets: account org is a resource_directory, whose targets are "
            "discover only",
            id="top-level-names",
        ),
        pytest.param(
            {"accounts": [{**DIRECTORY, "targets": {"buckets": ["app-logs"]}}]},
            "job.yaml: accounts[0]: targets: a resource_directory account's targets are "
            "discover only",
            id="own-names",
        ),
        pytest.param(
            {
                "accounts": [{**DIRECTORY, "resource_directory": {"roel": "x"}}],
                "targets": {"discover": {}},
            },
            "accounts[0].resource_directory.roel: unknown key; did you mean role?",
            id="unknown-key",
        ),
        pytest.param(
            {
                "accounts": [{**DIRECTORY, "resource_directory": {"role": "no spaces"}}],
                "targets": {"discover": {}},
            },
            "accounts[0].resource_directory.role: 'no spaces' is not a RAM role name",
            id="role",
        ),
        pytest.param(
            {
                "accounts": [{**DIRECTORY, "resource_directory": {"endpoint": "ftp://x"}}],
                "targets": {"discover": {}},
            },
            "accounts[0].resource_directory.endpoint: 'ftp://x' is not an http(s) URL",
            id="endpoint",
        ),
        pytest.param(
            {
                "accounts": [{**DIRECTORY, "resource_directory": {"exclude": [" "]}}],
                "targets": {"discover": {}},
            },
            "accounts[0].resource_directory.exclude[0]: an empty entry",
            id="empty-entry",
        ),
    ],
)
def test_a_bad_directory_account_is_one_line(data: dict[str, object], expected: str) -> None:
    """Named targets for a directory (its own or the manifest's), an unknown key, a bad
    role name, endpoint or entry are one line naming the place."""
    assert expected in error_of(data)


def test_a_directory_beside_other_accounts_keeps_their_own_targets() -> None:
    """A plain account keeps its named buckets beside a directory that discovers."""
    data = {
        "action": "backup",
        "connection": {"region": "cn-hangzhou"},
        "accounts": [
            {**DIRECTORY, "targets": {"discover": {"prefix": "app-"}}},
            {"name": "audit", "targets": {"buckets": ["audit-logs"]}},
        ],
    }
    manifest = parse_manifest(data, source="job.yaml", base=Path("/tmp"))
    assert [a.resource_directory is not None for a in accounts_of(manifest)] == [True, False]


# -- a directory job's run options (contracts §1, §17) ---------------------------------------


def test_the_directory_run_options_take_their_documented_defaults_and_values() -> None:
    """sts_rate_limit [20], account_concurrency [0 = concurrency], max_failed_accounts and
    max_failed_account_rate [0 = none] are read as written."""
    directory_job = {"accounts": [DIRECTORY], "targets": {"discover": {}}}
    defaults = parse(directory_job)
    assert (
        defaults.sts_rate_limit,
        defaults.account_concurrency,
        defaults.max_failed_accounts,
        defaults.max_failed_account_rate,
    ) == (20.0, 0, 0, 0.0)
    given = parse(
        {
            **directory_job,
            "sts_rate_limit": 2.5,
            "account_concurrency": 4,
            "max_failed_accounts": 3,
            "max_failed_account_rate": 0.1,
        }
    )
    assert (given.sts_rate_limit, given.account_concurrency) == (2.5, 4)
    assert (given.max_failed_accounts, given.max_failed_account_rate) == (3, 0.1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"sts_rate_limit": 0},
            "job.yaml: sts_rate_limit: is 0.0; write a positive number of calls a second",
            id="sts-zero",
        ),
        pytest.param(
            {"sts_rate_limit": -5},
            "job.yaml: sts_rate_limit: is -5.0; write a positive number of calls a second",
            id="sts-negative",
        ),
        pytest.param(
            {"account_concurrency": -1},
            "job.yaml: account_concurrency: is -1; write 0 (the job's concurrency) or a "
            "number of workers",
            id="account-concurrency",
        ),
        pytest.param(
            {"max_failed_accounts": -2},
            "job.yaml: max_failed_accounts: is -2; write 0 (none) or a number of accounts",
            id="max-failed-accounts",
        ),
        pytest.param(
            {"max_failed_account_rate": 1.5},
            "job.yaml: max_failed_account_rate: is 1.5; write a fraction in (0, 1]",
            id="max-failed-account-rate",
        ),
    ],
)
def test_a_bad_directory_run_option_names_the_key_and_the_fix(
    data: dict[str, object], expected: str
) -> None:
    """Each of the run options out of range is one line naming the key and the fix."""
    assert expected in error_of({"accounts": [DIRECTORY], "targets": {"discover": {}}, **data})


@pytest.mark.parametrize("key", ["max_failed_accounts", "max_failed_account_rate"])
def test_the_failed_account_threshold_needs_a_directory(key: str) -> None:
    """A threshold of failed accounts in a job without a resource_directory account would
    count nothing: refused, pointing at max_failures."""
    assert error_of({key: 1}) == (
        f"job.yaml: {key}: counts the members of a resource_directory account, and this "
        "job has none; remove it (max_failures counts failed buckets)"
    )
