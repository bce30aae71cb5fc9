"""Secrets never reach disk (contracts §14): the one redaction every writer uses, and the
check that credentials given now are the ones a job recorded (a URL by its sha256)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from osspolicy._internal.accounts import account_record, check_recorded_accounts
from osspolicy._internal.errors import CredentialsError
from osspolicy._internal.manifest import Manifest, accounts_of, manifest_yaml, parse_manifest
from osspolicy._internal.redact import (
    URI_ENV,
    credentials_from_record,
    redact_text,
    redact_uri,
)
from osspolicy._internal.resume_hash import manifest_sha256, outcome_fields

PASSWORD = "Pass-SENTINEL-3c1f"
TOKEN = "Query-SENTINEL-9ad2"
URI = f"https://creds-user:{PASSWORD}@creds.example:8443/v1/creds?token={TOKEN}#{TOKEN}"
STS_URI = f"http://sts.example/?auth={TOKEN}"
SHA = hashlib.sha256(URI.encode()).hexdigest()


def manifest(tmp_path: Path, uri: str = URI) -> Manifest:
    data: dict[str, Any] = {
        "action": "backup",
        "connection": {"region": "cn-hangzhou"},
        "accounts": [
            {
                "name": "viauri",
                "credentials": {"type": "credentials_uri", "uri": uri},
                "targets": {"buckets": ["red-a"]},
            },
            {
                "name": "role",
                "credentials": {
                    "type": "ram_role_arn",
                    "role_arn": "acs:ram::1234567890123456:role/audit",
                    "sts_endpoint": STS_URI,
                    "source": {"type": "credentials_uri", "uri": uri},
                },
                "targets": {"buckets": ["red-b"]},
            },
        ],
    }
    return parse_manifest(data, source="job.yaml", base=tmp_path)


def test_a_uri_keeps_scheme_host_and_path_and_hides_userinfo_query_and_fragment() -> None:
    """`scheme://host:port/path`, with the userinfo, the query and the fragment as `…`."""
    assert redact_uri(URI) == "https://…@creds.example:8443/v1/creds?…#…"


def test_a_uri_without_secret_parts_is_kept_as_it_is() -> None:
    """A URI with no userinfo, query or fragment is recorded unchanged."""
    assert redact_uri("http://127.0.0.1:8080/creds") == "http://127.0.0.1:8080/creds"


def test_every_url_in_a_message_is_redacted() -> None:
    """A message quoting URLs (the credentials library's errors do) keeps none of their
    secret parts."""
    text = redact_text(f"error refreshing credentials from {URI}, http_code=500")
    assert text == (
        "error refreshing credentials from https://…@creds.example:8443/v1/creds?…#…, http_code=500"
    )


def test_the_recorded_manifest_holds_the_redacted_uri_and_its_sha256_only(
    tmp_path: Path,
) -> None:
    """`manifest.yaml` records each credentials URI (a ram_role_arn's source too) as
    scheme://host/path plus the sha256 of the whole; an sts_endpoint with a query alike."""
    text = manifest_yaml(manifest(tmp_path))
    assert PASSWORD not in text
    assert TOKEN not in text
    accounts = yaml.safe_load(text)["accounts"]
    assert accounts[0]["credentials"] == {
        "type": "credentials_uri",
        "uri": "https://…@creds.example:8443/v1/creds?…#…",
        "uri_sha256": SHA,
    }
    role = accounts[1]["credentials"]
    assert role["source"]["uri_sha256"] == SHA
    assert role["sts_endpoint"] == "http://sts.example/?…"


def test_a_backups_account_record_and_the_journal_header_hold_no_secret(tmp_path: Path) -> None:
    """What a backup's summary and a journal header record of the accounts holds
    neither the password nor the token."""
    m = manifest(tmp_path)
    written = repr([account_record(a) for a in accounts_of(m)]) + repr(outcome_fields(m))
    assert PASSWORD not in written
    assert TOKEN not in written
    assert SHA in written


def test_another_token_in_the_uri_changes_the_resume_hash(tmp_path: Path) -> None:
    """The resume hash covers the URI through its sha256: another token is another job."""
    other = URI.replace(TOKEN, "rotated")
    assert manifest_sha256(manifest(tmp_path)) != manifest_sha256(manifest(tmp_path, other))


def test_the_same_credentials_given_now_pass_the_check(tmp_path: Path) -> None:
    """Credentials whose URIs have the recorded sha256 are the recorded ones."""
    m = manifest(tmp_path)
    recorded = [account_record(a) for a in accounts_of(m)]
    check_recorded_accounts(recorded, recorded, recorded_in="job J")


def test_a_uri_whose_sha256_differs_is_refused_naming_the_account(tmp_path: Path) -> None:
    """Another URI given now for a recorded account is a CredentialsError (exit 2) naming
    the account and both sha256 prefixes, never the URI's secret parts."""
    recorded = [account_record(a) for a in accounts_of(manifest(tmp_path))]
    now = [account_record(a) for a in accounts_of(manifest(tmp_path, URI + "x"))]
    with pytest.raises(CredentialsError) as caught:
        check_recorded_accounts(now, recorded, recorded_in="job J")
    message = str(caught.value)
    assert message.startswith("account viauri: the credentials given now are not the ones job J")
    assert SHA[:12] in message
    assert PASSWORD not in message
    assert TOKEN not in message


def test_a_record_written_before_redaction_still_compares(tmp_path: Path) -> None:
    """An older job's record, with its URI in full, matches the same URI given now."""
    m = manifest(tmp_path)
    legacy = [a.model_dump(mode="json", include={"name", "credentials"}) for a in accounts_of(m)]
    check_recorded_accounts([account_record(a) for a in accounts_of(m)], legacy, recorded_in="J")


def test_a_recorded_uri_comes_back_from_the_environment_when_its_sha256_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no manifest naming the account, the URI is taken from the library's own
    variable, ALIBABA_CLOUD_CREDENTIALS_URI, when its sha256 is the recorded one."""
    monkeypatch.setenv(URI_ENV, URI)
    record = {"type": "credentials_uri", "uri": redact_uri(URI), "uri_sha256": SHA}
    assert credentials_from_record("viauri", record, recorded_in="job J") == {
        "type": "credentials_uri",
        "uri": URI,
    }


@pytest.mark.parametrize("given", [None, "http://elsewhere/creds"])
def test_a_recorded_uri_without_its_value_now_is_refused_naming_the_account(
    monkeypatch: pytest.MonkeyPatch, given: str | None
) -> None:
    """No URI given now, or one with another sha256: refused, naming the account and
    how to give it."""
    if given is None:
        monkeypatch.delenv(URI_ENV, raising=False)
    else:
        monkeypatch.setenv(URI_ENV, given)
    record = {"type": "credentials_uri", "uri": redact_uri(URI), "uri_sha256": SHA}
    with pytest.raises(CredentialsError, match=rf"^account viauri: .*; set {URI_ENV}"):
        credentials_from_record("viauri", record, recorded_in="job J")


def test_an_error_naming_a_credentials_uri_hides_its_userinfo(tmp_path: Path) -> None:
    """How a credentials URI is described in errors keeps no userinfo and no query."""
    spec = accounts_of(manifest(tmp_path))[0].credentials
    assert spec.describe() == "credentials_uri https://…@creds.example:8443/v1/creds?…#…"
