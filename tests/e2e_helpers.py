"""Shared helpers of the end-to-end tests: a mix of seeded policies, the expected merge,
manifests on disk, JSON lines, the request log and `osspolicy` subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import yaml

from osspolicy._internal.atomic import is_temp_name
from osspolicy.emulator import Emulator
from osspolicy.emulator.handler import RequestLogEntry

#: a key pair of our own, so that "the secret is in no output" means something
ACCESS_KEY_ID = "LTAI5tE2eRestoreResume"
ACCESS_KEY_SECRET = "e2e-Secret-7f3a9c1d5b2e8f40"
PREFIX = "e2e-"
BASELINE_SID = "osspolicy-deny-insecure-transport"
#: the baseline every apply of these tests merges in (a Deny: never public, so Block
#: Public Access never refuses it)
BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": BASELINE_SID,
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:${bucket}", "acs:oss:*:*:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}
WRITE_METHODS = frozenset({"PUT", "DELETE"})
SUBPROCESS_TIMEOUT_S = 60.0


async def no_sleep(_delay: float) -> None:
    """A retry backoff that does not wait (`run_job(..., sleep=no_sleep)`)."""


def make_emulator(**options: Any) -> Emulator:
    """An emulator (not started) with this module's key pair."""
    return Emulator(access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, **options)


def credentials_env(emu: Emulator) -> dict[str, str]:
    """The environment of an `osspolicy` subprocess: ours plus the emulator's key pair."""
    env = dict(os.environ)
    env["OSS_ACCESS_KEY_ID"] = emu.access_key_id
    env["OSS_ACCESS_KEY_SECRET"] = emu.access_key_secret
    env.pop("COLUMNS", None)
    return env


# -- the seeded mix of policies ---------------------------------------------------------------


def bucket_names(count: int, prefix: str = PREFIX) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


def _statement(bucket: str, index: int, sid: str, path: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": [f"2021476040493{index:05d}"],
        "Action": ["oss:GetObject", "oss:ListObjects"],
        "Resource": [f"acs:oss:*:*:{bucket}/{path}/*"],
    }


def _baseline_statement(bucket: str) -> dict[str, Any]:
    text = json.dumps(BASELINE["Statement"][0]).replace("${bucket}", bucket)
    statement: dict[str, Any] = json.loads(text)
    return statement


def original_policy(bucket: str, index: int) -> bytes | None:  # noqa: PLR0911 - one per kind
    """A third no policy; the rest vary in content and, on purpose, in their bytes.

    Pretty-printed, tab- and CRLF-indented, non-ASCII, key orders shuffled, an older
    version of the baseline's statement (replaced in place by a merge), and the baseline
    statement itself (a merge leaves these unchanged): a restore must give back exactly
    these bytes, never a re-serialisation.
    """
    kind = index % 9
    if kind in {0, 3, 6}:
        return None
    own = _statement(bucket, index, f"team-{index}", "shared")
    if kind == 1:  # compact
        return json.dumps({"Version": "1", "Statement": [own]}, separators=(",", ":")).encode()
    if kind == 2:  # pretty-printed
        return json.dumps({"Version": "1", "Statement": [own]}, indent=2).encode()
    if kind == 4:  # odd whitespace: tabs, CRLF, trailing blanks, no final newline
        body = json.dumps({"Statement": [own], "Version": "1"}, indent="\t")
        return ("  " + body.replace("\n", "\r\n") + " \t ").encode()
    if kind == 5:  # an older version of the baseline statement, between two others
        old = dict(_baseline_statement(bucket), Condition={"Bool": {"acs:SecureTransport": "0"}})
        second = _statement(bucket, index, "ünïcödé-✓", "logs")
        doc = {"Version": "1", "Statement": [own, old, second]}
        return json.dumps(doc, indent=4, ensure_ascii=False).encode()
    if kind == 7:  # the baseline statement already there, as the merge would put it
        doc = {"Version": "1", "Statement": [_baseline_statement(bucket), own]}
        return json.dumps(doc, indent=1).encode() + b"\n\n"
    # kind 8: keys in another order, escaped non-ASCII, spaces after separators
    reordered = {key: own[key] for key in ("Resource", "Action", "Effect", "Principal", "Sid")}
    reordered["Sid"] = "équipe"
    return json.dumps({"Version": "1", "Statement": [reordered]}).encode()


def seed_mix(emu: Emulator, names: Iterable[str]) -> dict[str, bytes | None]:
    """Seed `names` with the mix of `original_policy`; returns each bucket's bytes."""
    originals = {name: original_policy(name, i) for i, name in enumerate(names)}
    emu.seed_buckets(originals, policy=originals.get)
    return originals


def expected_merge(original: bytes | None, bucket: str) -> dict[str, Any]:
    """The policy a merge of BASELINE gives `bucket`, computed here on its own.

    The baseline statement replaces the first statement with its Sid, in place, or is
    appended; every other statement is kept, in order.
    """
    statements: list[dict[str, Any]] = (
        [] if original is None else list(json.loads(original)["Statement"])
    )
    incoming = _baseline_statement(bucket)
    positions = [i for i, s in enumerate(statements) if s.get("Sid") == BASELINE_SID]
    if positions:
        statements[positions[0]] = incoming
        statements = [
            s for i, s in enumerate(statements) if i == positions[0] or i not in positions
        ]
    else:
        statements.append(incoming)
    return {"Version": "1", "Statement": statements}


def merged_bodies(originals: Mapping[str, bytes | None]) -> dict[str, dict[str, Any]]:
    """The expected merge of every bucket, as parsed documents."""
    return {name: expected_merge(body, name) for name, body in originals.items()}


def current_policies(emu: Emulator, names: Iterable[str]) -> dict[str, bytes | None]:
    return {name: emu.state.get_policy(name) for name in names}


def parsed(body: bytes | None) -> Any:
    return None if body is None else json.loads(body)


# -- manifests and files --------------------------------------------------------------------


def write_baseline(folder: Path) -> Path:
    path = folder / "baseline.json"
    path.write_text(json.dumps(BASELINE, indent=2), encoding="utf-8")
    return path


#: the `engine:` that `write_manifest` gives a manifest without one; set per test by the
#: `on_each_engine` fixture (tests/conftest.py), so a module's jobs run on both engines
ENGINE_UNDER_TEST: str | None = None


def write_manifest(path: Path, data: Mapping[str, Any]) -> Path:
    """A job manifest as a YAML file (relative paths in it resolve from its folder)."""
    data = dict(data)
    if ENGINE_UNDER_TEST is not None:
        data.setdefault("engine", ENGINE_UNDER_TEST)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def connection(emu: Emulator) -> dict[str, Any]:
    return {"region": emu.region, "endpoint": emu.endpoint}


def apply_manifest(
    emu: Emulator, folder: Path, *, concurrency: int = 16, prefix: str = PREFIX, **extra: Any
) -> dict[str, Any]:
    """An apply job of BASELINE (merge) over the buckets named `prefix*`."""
    write_baseline(folder)
    return {
        "version": 1,
        "action": "apply",
        "targets": {"discover": {"prefix": prefix}},
        "connection": connection(emu),
        "concurrency": concurrency,
        "policy": {"file": "baseline.json", "mode": "merge"},
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, each of which must be a complete JSON object."""
    raw = path.read_bytes()
    assert not raw or raw.endswith(b"\n"), f"{path}: the last line is incomplete"
    records = [json.loads(line) for line in raw.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def records_by_bucket(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Result records by bucket; a bucket recorded twice fails the test."""
    records = list(records)
    twice = [name for name, n in Counter(r["bucket"] for r in records).items() if n > 1]
    assert not twice, f"buckets recorded more than once: {twice[:5]}"
    return {record["bucket"]: record for record in records}


def only_folder(parent: Path) -> Path:
    """The one job folder in `parent`."""
    folders = [p for p in parent.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def temp_files(root: Path) -> list[Path]:
    """Every leftover temporary file (`.<name>.tmp-<hex>`) under `root`."""
    return [path for path in root.rglob("*") if is_temp_name(path.name)]


def snapshot_index(folder: Path) -> dict[str, Mapping[str, Any]]:
    """A backup or snapshot folder's index lines by bucket (the first line of a bucket)."""
    entries: dict[str, Mapping[str, Any]] = {}
    for record in read_jsonl(folder / "index.jsonl"):
        entries.setdefault(record["bucket"], record)
    return entries


# -- the request log ----------------------------------------------------------------------


def policy_writes(emu: Emulator) -> list[RequestLogEntry]:
    """The PutBucketPolicy / DeleteBucketPolicy requests the emulator saw."""
    return [
        entry
        for entry in emu.request_log
        if entry.method in WRITE_METHODS and entry.subresource == "policy"
    ]


def wait_until_quiet(emu: Emulator, *, quiet_s: float = 0.1, timeout_s: float = 10.0) -> None:
    """Poll (bounded) until the emulator serves nothing and logs nothing for `quiet_s`:
    the requests a killed client left in flight have been served."""
    deadline = time.monotonic() + timeout_s
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        logged = len(emu.request_log)
        if emu.in_flight or logged != seen:
            seen, since = logged, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.01)
    raise AssertionError(f"the emulator was still busy after {timeout_s}s")


# -- subprocesses -------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    """A finished `osspolicy` subprocess."""

    returncode: int
    stdout: str
    stderr: str


def osspolicy_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "osspolicy", *(str(arg) for arg in args)]


def run_cli_with(env: Mapping[str, str], *args: str | Path, cwd: Path) -> CliRun:
    """Run `osspolicy ARGS` to the end in environment `env`, stdin not a terminal."""
    done = subprocess.run(
        osspolicy_command(*args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,  # never the terminal pytest runs in (contracts §11 gate)
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


def run_cli(emu: Emulator, *args: str | Path, cwd: Path) -> CliRun:
    """Run `osspolicy ARGS` to the end with the emulator's key pair, stdin not a
    terminal; its output never holds the secret."""
    run = run_cli_with(credentials_env(emu), *args, cwd=cwd)
    assert_no_secret(emu, run)
    return run


def assert_no_secret(emu: Emulator, run: CliRun) -> None:
    secret = emu.access_key_secret
    assert secret not in run.stdout
    assert secret not in run.stderr


@dataclass(frozen=True)
class PtyRun:
    """What `on_a_pty` saw: the exit code, stdout when it was a pipe, and the screen."""

    returncode: int
    stdout: bytes
    screen: str


def on_a_pty(emu: Emulator, *args: str | Path, cwd: Path, stdout_too: bool = False) -> PtyRun:
    """Run `osspolicy ARGS` with stderr (and with `stdout_too`, stdout) on a pseudo-terminal
    of 200 columns and stdin not a terminal; the screen never holds the secret."""
    master, slave = os.openpty()
    seen = bytearray()

    def drain() -> None:  # a full pty would block the command
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            osspolicy_command(*args),
            cwd=cwd,
            env={**credentials_env(emu), "COLUMNS": "200", "TERM": "xterm"},
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_too else subprocess.PIPE,
            stderr=slave,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    screen = seen.decode(errors="replace")
    assert emu.access_key_secret not in screen
    return PtyRun(done.returncode, done.stdout or b"", screen)


def assert_one_line_error(run: CliRun) -> None:
    """Exit 2 with exactly one line on stderr and no traceback."""
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("osspolicy: error: "), run.stderr
    assert "Traceback" not in run.stderr
    assert "Traceback" not in run.stdout


class JobProcess:
    """An `osspolicy run` in the background, its output in files, to be interrupted."""

    def __init__(self, emu: Emulator, *args: str | Path, cwd: Path) -> None:
        self.emu = emu
        self._out = cwd / f"stdout-{time.monotonic_ns()}.txt"
        self._err = self._out.with_name(self._out.name.replace("stdout", "stderr"))
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.process = subprocess.Popen(
                osspolicy_command(*args),
                cwd=cwd,
                env=credentials_env(emu),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def wait_for_records(self, report_dir: Path, count: int, *, timeout_s: float = 30.0) -> Path:
        """Poll (bounded) until the job's report.jsonl has `count` lines; returns it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the job ended early: {self.finish()}"
            reports = list(report_dir.glob("*/report.jsonl")) if report_dir.is_dir() else []
            if reports and reports[0].read_bytes().count(b"\n") >= count:
                return reports[0]
            time.sleep(0.005)
        self.process.kill()
        raise AssertionError(f"no {count} records within {timeout_s}s")

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def finish(self) -> CliRun:
        """Wait for the end; the output never holds the secret."""
        try:
            returncode = self.process.wait(timeout=SUBPROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        run = CliRun(
            returncode,
            self._out.read_text(encoding="utf-8", errors="replace"),
            self._err.read_text(encoding="utf-8", errors="replace"),
        )
        assert_no_secret(self.emu, run)
        return run


def sdk_client(emu: Emulator) -> oss.Client:
    """A plain SDK client of the emulator's account: someone changing buckets by hand
    (or writing meanwhile), outside any job."""
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        emu.access_key_id, emu.access_key_secret
    )
    cfg.region = emu.region
    cfg.endpoint = emu.endpoint
    return oss.Client(cfg)
