"""The `oss_emulator` pytest fixture that osspolicy installs for any project's tests."""

from __future__ import annotations

import os

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import DEMO_ACCESS_KEY_ID, Emulator


def test_fixture_gives_a_running_emulator(oss_emulator):
    """The fixture yields a started Emulator with an endpoint."""
    assert isinstance(oss_emulator, Emulator)
    assert oss_emulator.endpoint.startswith("http://127.0.0.1:")


def test_fixture_points_the_environment_credentials_at_the_emulator(oss_emulator):
    """The SDK's environment credentials provider works against the emulator unchanged."""
    oss_emulator.seed_buckets(["fixture-bucket"])
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
    cfg.region = oss_emulator.region
    cfg.endpoint = oss_emulator.endpoint
    buckets = oss.Client(cfg).list_buckets(oss.ListBucketsRequest()).buckets
    assert [b.name for b in buckets] == ["fixture-bucket"]


def test_fixture_sets_the_key_pair_in_the_environment(oss_emulator):
    """OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET hold the emulator's pair during the test."""
    assert (os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"]) == (
        oss_emulator.access_key_id,
        oss_emulator.access_key_secret,
    )


@pytest.fixture
def foreign_credentials(monkeypatch):
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI5tSomeonesRealKey")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "someones-real-secret")


def test_fixture_never_adopts_credentials_found_in_the_environment(
    foreign_credentials, oss_emulator
):
    """Even with other credentials in the environment, the fixture's emulator uses the demo pair."""
    assert (oss_emulator.access_key_id, os.environ["OSS_ACCESS_KEY_ID"]) == (
        DEMO_ACCESS_KEY_ID,
        DEMO_ACCESS_KEY_ID,
    )
