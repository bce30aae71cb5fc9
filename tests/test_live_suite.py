"""The live suite (`tests/live`) itself works: run against an emulator as if it were the
real service, every case passes and every bucket it made is gone; without
`OSSPOLICY_LIVE=1` every case skips, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from osspolicy.emulator import Emulator

LIVE_DIR = Path(__file__).parent / "live"
ROOT = Path(__file__).parent.parent
KEY_ID = "LTAI5tLiveSuiteKey"
SECRET = "live-suite-Secret-27f0c4e9"
PREFIX = "live-emu-"
SUBPROCESS_TIMEOUT_S = 180.0


def run_live_suite(
    tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    """`pytest tests/live` in a fresh interpreter with `env` (over a clean base); its
    exit and its JUnit XML's <testsuite>."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OSS_", "OSSPOLICY_LIVE", "ALIBABA_CLOUD_", "PYTEST_"))
    }
    junit = tmp_path / "live.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(LIVE_DIR),
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"--junitxml={junit}",
            f"--basetemp={tmp_path / 'live-tmp'}",
        ],
        cwd=ROOT,
        env=base | {"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"} | env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    suite = ET.parse(junit).getroot()
    return done, suite if suite.tag == "testsuite" else suite[0]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(access_key_id=KEY_ID, access_key_secret=SECRET, region="cn-beijing") as emu:
        yield emu


def test_the_live_suite_passes_against_the_emulator_and_cleans_up(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Pointed at the emulator (OSSPOLICY_LIVE_ENDPOINT and its key pair), every live case
    runs and passes, and no bucket under the prefix is left."""
    done, suite = run_live_suite(
        tmp_path,
        {
            "OSSPOLICY_LIVE": "1",
            "OSS_ACCESS_KEY_ID": KEY_ID,
            "OSS_ACCESS_KEY_SECRET": SECRET,
            "OSSPOLICY_LIVE_REGION": emulator.region,
            "OSSPOLICY_LIVE_ENDPOINT": emulator.endpoint,
            "OSSPOLICY_LIVE_PREFIX": PREFIX,
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tally = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert tally == {"tests": 8, "failures": 0, "errors": 0, "skipped": 0}
    made = {e.bucket for e in emulator.request_log if e.method == "PUT" and e.subresource == ""}
    assert len(made) == 9
    assert all(name.startswith(PREFIX) for name in made)
    assert [b for b in emulator.state.bucket_names() if b.startswith(PREFIX)] == []
    assert SECRET not in done.stdout + done.stderr


def test_without_the_opt_in_every_live_case_skips_with_the_reason(tmp_path: Path) -> None:
    """Without OSSPOLICY_LIVE=1 the module skips as a whole, naming the variable (alone,
    pytest then says it collected no test: exit 5)."""
    done, suite = run_live_suite(tmp_path, {})
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout + done.stderr
    assert "OSSPOLICY_LIVE=1" in done.stdout
    assert int(suite.get("failures", "0")) + int(suite.get("errors", "0")) == 0
    assert int(suite.get("skipped", "0")) >= 1
