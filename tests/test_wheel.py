"""The built wheel works anywhere: installed alone in a clean venv (no site packages, no
checkout on the path), it gives `osspolicy --version`, a passing `osspolicy demo` in any
working folder (writing nothing into the package), `osspolicy emulator`, and the
`oss_emulator` fixture to a user's own test.

Only the wheel's declared dependencies (plus pytest, for the user's test) are installed,
from a wheelhouse in pytest's cache (`.pytest_cache/d/wheelhouse`) with `--no-index`, so
a dependency missing from `pyproject.toml` fails here. The wheelhouse is filled by
`pip wheel` (downloads, and sdists built once) when it lacks something (the first run,
or a new dependency); offline with an empty wheelhouse, the test is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300

pytestmark = pytest.mark.slow

#: a user's own test, as the README shows it: the fixture and the real SDK
USER_TEST = """
import alibabacloud_oss_v2 as oss

POLICY = (
    '{"Version":"1","Statement":[{"Effect":"Deny","Principal":["*"],'
    '"Action":["oss:*"],"Resource":["acs:oss:*:*:my-logs"]}]}'
)


def test_my_policy_round_trip(oss_emulator):
    oss_emulator.seed_buckets(["my-logs"])
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
    cfg.region, cfg.endpoint = oss_emulator.region, oss_emulator.endpoint
    client = oss.Client(cfg)
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket="my-logs", body=POLICY))
    assert client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="my-logs")).body == POLICY
"""


@dataclass(frozen=True)
class Installed:
    """A clean venv with the wheel installed, and an environment to run it in."""

    bin: Path
    package: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )


def _pip(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def _build_wheel(work: Path) -> Path:
    """The wheel of a copy of the project's files (the checkout gets no build/ folder)."""
    tree = work / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", tree / "src", ignore=ignore)
    built = _pip("wheel", tree, "--no-deps", "--quiet", "--wheel-dir", work / "dist")
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("osspolicy-*.whl")
    return wheel


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment of the venv's commands: no path of ours, no OSS credentials."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not key.startswith("OSS_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("COLUMNS", None)
    return env


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(work)
    venv = work / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", venv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    wheelhouse = request.config.cache.mkdir("wheelhouse")
    python = venv / "bin" / "python"
    install = ("--python", python, "install", "--quiet", "--no-index", "--find-links")
    done = _pip(*install, wheelhouse, wheel, "pytest")
    if done.returncode != 0:  # the wheelhouse lacks something: fill it once
        # `pip wheel`, not `pip download`: a dependency shipped only as an sdist
        # (alibabacloud-tea) is built once here, so installs need no build tools
        fetched = _pip("wheel", "--quiet", "--wheel-dir", wheelhouse, wheel, "pytest")
        for stale in wheelhouse.glob("osspolicy-*"):
            stale.unlink()
        if fetched.returncode != 0:
            pytest.skip(f"cannot fill the wheelhouse (offline?): {fetched.stderr[-300:]}")
        done = _pip(*install, wheelhouse, wheel, "pytest")
    assert done.returncode == 0, done.stderr
    (package,) = (venv / "lib").glob("python3*/site-packages/osspolicy")
    return Installed(venv / "bin", package, _clean_env(venv))


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if "__pycache__" not in p.parts}


def test_the_installed_command_has_a_version(installed: Installed, tmp_path: Path) -> None:
    """`osspolicy --version` of the installed wheel prints the package's version."""
    run = installed.run("osspolicy", "--version", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "osspolicy 0.1.0"


def test_the_demo_runs_from_the_wheel_in_any_folder(installed: Installed, tmp_path: Path) -> None:
    """`osspolicy demo` in an empty folder exits 0 with every step as expected, puts its
    copy of the example jobs and its output there, and writes nothing into the package."""
    before = _files(installed.package)
    run = installed.run("osspolicy", "demo", "--buckets", "30", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "demo: all steps as expected" in run.stdout
    assert (tmp_path / "demo-output" / "jobs" / "backup-all.yaml").is_file()
    assert any((tmp_path / "demo-output" / "backups").iterdir())
    assert _files(installed.package) == before


def test_the_installed_emulator_serves_until_sigterm(installed: Installed, tmp_path: Path) -> None:
    """`osspolicy emulator` prints its endpoint first, answers an unsigned request with
    the service's 403, and exits 0 on SIGTERM."""
    process = subprocess.Popen(
        [str(installed.bin / "osspolicy"), "emulator", "--port", "0"],
        cwd=tmp_path,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(endpoint + "/", timeout=30)
        assert answer.value.code == 403
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_users_own_test_gets_the_fixture(installed: Installed, tmp_path: Path) -> None:
    """A user's test asking for `oss_emulator` gets it from the installed plugin and
    drives the real SDK against it."""
    (tmp_path / "test_mine.py").write_text(USER_TEST, encoding="utf-8")
    run = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
