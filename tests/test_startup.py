"""Start-up stays light: `--version`, `--help` and completion load no job machinery, and
a job loads only the machinery it uses.

How fast they answer is measured by `make bench` (its start-up section), not asserted
here; what is asserted is what makes them fast: which modules each one imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from osspolicy.emulator import Emulator

#: modules that cost most of a second to import, and that only a running job needs
JOB_MACHINERY = ("alibabacloud_oss_v2", "alibabacloud_credentials", "aiohttp")
#: pydantic too: but typer's own help of a command loads it (its parameter adapters)
HEAVY = (*JOB_MACHINERY, "pydantic")

_PROBE = """
import json, sys
sys.argv = ["osspolicy", *json.loads(sys.argv[1])]
from osspolicy._internal.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _imported(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run the CLI with `args` in a new interpreter: its stdout, and the modules it
    imported by the time it exited."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout, json.loads(done.stderr.splitlines()[-1])


def test_version_imports_no_sdk_aiohttp_pydantic_or_emulator_module() -> None:
    """`osspolicy --version` prints the version having loaded none of the SDK, the
    credentials library, aiohttp, pydantic or any module of the emulator."""
    stdout, modules = _imported("--version")
    assert stdout.startswith("osspolicy ")
    loaded = [m for m in modules if m.startswith((*HEAVY, "osspolicy.emulator"))]
    assert loaded == []


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["emulator", "--help"]])
def test_help_imports_no_sdk_or_aiohttp(args: list[str]) -> None:
    """Help, of the program and of its commands, lists them without loading the job
    machinery (the SDK, the credentials library, aiohttp)."""
    stdout, modules = _imported(*args)
    assert "Usage" in stdout
    assert [m for m in modules if m.startswith(JOB_MACHINERY)] == []


def test_completion_answers_without_the_job_machinery() -> None:
    """A shell completion (bash's Tab) offers the commands and loads no SDK or aiohttp:
    it runs on every key press."""
    env = os.environ | {
        "_OSSPOLICY_COMPLETE": "complete_bash",
        "COMP_WORDS": "osspolicy r",
        "COMP_CWORD": "1",
    }
    stdout, modules = _imported(env=env)
    assert {"run", "restore", "rollback"} <= set(stdout.split())
    assert [m for m in modules if m.startswith(JOB_MACHINERY)] == []


def test_a_thread_job_loads_only_the_oss_sdk(tmp_path: Path, oss_emulator: Emulator) -> None:
    """A backup on the default engine with the SDK's variables loads the OSS SDK and
    nothing else heavy: not aiohttp (the aio engine's), not the credentials library (other
    credential types'), not the Resource Directory package, not the emulator. Every job
    the suite and an operator start pays only for what it uses."""
    manifest = tmp_path / "backup.yaml"
    manifest.write_text(
        "action: backup\n"
        f"connection: {{region: cn-hangzhou, endpoint: '{oss_emulator.endpoint}'}}\n"
        "targets: {buckets: [app-one]}\n"
        f"report_dir: {tmp_path / 'reports'}\nbackup_dir: {tmp_path / 'backups'}\n",
        encoding="utf-8",
    )
    oss_emulator.seed_buckets(["app-one"])
    env = os.environ | oss_emulator.env
    stdout, modules = _imported("run", str(manifest), "-q", env=env)
    assert "1 bucket" in stdout
    heavy = {m.split(".")[0] for m in modules} & {
        "aiohttp",
        "alibabacloud_credentials",
        "alibabacloud_resourcedirectorymaster20220419",
        "apscheduler",
    }
    assert heavy == set()
    assert [m for m in modules if m.startswith("osspolicy.emulator")] == []
    assert "alibabacloud_oss_v2" in modules
