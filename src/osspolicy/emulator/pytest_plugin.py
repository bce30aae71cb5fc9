"""pytest plugin: an ``oss_emulator`` fixture for any project's tests.

Installed with osspolicy (entry point ``pytest11: osspolicy_emulator``), so a test only
asks for the fixture. It starts an `Emulator` on a free port for one test, with the
documented demo key pair (never credentials found in the environment), points the SDK's
environment credentials (``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET``) at that pair,
and stops it afterwards::

    def test_backup(oss_emulator):
        oss_emulator.seed_buckets(["app-logs"])
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
        cfg.region = oss_emulator.region
        cfg.endpoint = oss_emulator.endpoint
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET
from osspolicy.emulator.server import Emulator

__all__ = ("oss_emulator",)


@pytest.fixture
def oss_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running emulator, with the environment's OSS credentials set to its key pair."""
    with Emulator(
        access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET
    ) as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator
