"""Text that comes from a policy reaches the terminal escaped (a Sid can hold any
character the service stores): `audit`, `status` and `diff` through the real console
script show ESC, NUL, C1 and bidi characters as `\\x1b`, `\\x00`, `\\x9b`, `\\u202e`, and
`[bold]` in a Sid as itself, never as markup; the files keep the true values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import pytest

import osspolicy
from osspolicy._internal.console_text import visible, visible_lines
from osspolicy.emulator import Emulator

from .e2e_helpers import CliRun, make_emulator, on_a_pty, read_jsonl, run_cli, sdk_client

BUCKET = "tx-evil"
#: what the outside tester stored: erase the line, move up, erase that too, hide the rest
ERASE = "x\u001b[2K\r\u001b[1A\u001b[2K\u001b[8m"
#: a NUL hides the rest of the line on some terminals; a C1 CSI clears the screen
NUL = "nul\u0000hidden\u009b2J"
#: a right-to-left override (Trojan Source) and an isolate
BIDI = "\u202eevil\u2066"
#: rich markup that must print as itself
MARKUP = "[bold]loud[/bold]"
#: no character of these may reach a terminal
RAW = ("\u001b", "\u0000", "\u009b", "\u202e", "\u2066", "\r")
KEEP: dict[str, Any] = {
    "Sid": "keep",
    "Effect": "Deny",
    "Principal": ["1234567890"],
    "Action": ["oss:GetObject"],
    "Resource": [f"acs:oss:*:*:{BUCKET}/tmp/*"],
}


def _public(sid: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": ["*"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{BUCKET}/*"],
    }


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


@dataclass(frozen=True)
class Seen:
    """The emulator, the folder the commands ran in, and the two backups (before the
    hostile Sids were put, after)."""

    emu: Emulator
    root: Path
    before: Path
    after: Path


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    root = tmp_path_factory.mktemp("console")
    with make_emulator() as emu:
        emu.seed_buckets([BUCKET], policy=_document(KEEP).encode(), block_public_access=False)
        keys = {
            "targets": {"buckets": [BUCKET]},
            "connection": {"region": emu.region, "endpoint": emu.endpoint},
            "backup_dir": str(root / "backups"),
            "report_dir": str(root / "reports"),
        }

        def back_up() -> Path:
            run = anyio.run(lambda: osspolicy.backup(keys, credentials=emu.credentials))
            assert run.backup_folder is not None
            return run.backup_folder

        before = back_up()
        hostile = _document(KEEP, *(_public(sid) for sid in (ERASE, NUL, BIDI, MARKUP)))
        request = oss.PutBucketPolicyRequest(bucket=BUCKET, body=hostile)
        sdk_client(emu).put_bucket_policy(request)  # the service keeps any Sid
        yield Seen(emu, root, before, back_up())


def assert_escaped(run: CliRun) -> None:
    """No raw control or bidi character on stdout or stderr; each Sid in its escaped
    form on stdout, `[bold]` as written."""
    for char in RAW:
        assert char not in run.stdout, (char, run.stdout)
        assert char not in run.stderr, (char, run.stderr)
    for sid in (ERASE, NUL, BIDI, MARKUP):
        assert visible(sid) in run.stdout, (visible(sid), run.stdout)
    assert "\\x1b[2K\\r\\x1b[1A" in run.stdout
    assert "\\u202eevil\\u2066" in run.stdout


def test_audit_prints_each_hostile_sid_escaped_and_the_files_keep_it(seen: Seen) -> None:
    """The audit of a backup names each public statement by its Sid on the console,
    escaped; findings.jsonl keeps the Sid as the policy has it."""
    run = run_cli(seen.emu, "audit", seen.after, "--report-dir", "reports", cwd=seen.root)

    assert run.returncode == 3, run.stderr
    assert_escaped(run)
    (report,) = (seen.root / "reports").glob("*-audit-*")
    statements = {record["statement"] for record in read_jsonl(report / "findings.jsonl")}
    assert {ERASE, NUL, BIDI, MARKUP} <= statements


def test_status_prints_the_public_sids_escaped(seen: Seen) -> None:
    """`status` says the bucket is public and which statements make it so, escaped."""
    run = run_cli(
        seen.emu, "status", BUCKET, "--region", seen.emu.region, "--endpoint", seen.emu.endpoint,
        cwd=seen.root,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert f"{BUCKET}: policy: yes; public: yes (" in run.stdout
    assert_escaped(run)


def test_diff_prints_the_added_statements_escaped(seen: Seen) -> None:
    """`diff` lists the statements added by Sid, escaped; `--json` keeps the true Sids
    (JSON escapes them)."""
    run = run_cli(seen.emu, "diff", seen.before, seen.after, cwd=seen.root)
    as_json = run_cli(seen.emu, "diff", seen.before, seen.after, "--json", cwd=seen.root)

    assert run.returncode == 3, run.stderr
    assert_escaped(run)
    assert f"  + {visible(NUL)}" in run.stdout.splitlines()
    (bucket,) = json.loads(as_json.stdout)["buckets"]
    assert {s["sid"] for s in bucket["statements"]} == {ERASE, NUL, BIDI, MARKUP}


def test_get_keeps_the_bytes_for_a_pipe_and_escapes_them_on_a_terminal(seen: Seen) -> None:
    """JSON may hold a bidi override, a C1 CSI and DEL unescaped (only C0 must be
    escaped): `get > file` is the policy's bytes; on a terminal those are escapes."""
    sid = "\u202eevil\u009b2J\u007f"
    raw = json.dumps({"Version": "1", "Statement": [{**KEEP, "Sid": sid}]}, ensure_ascii=False)
    seen.emu.seed_buckets(["tx-raw"], policy=raw.encode())
    where = ("--region", seen.emu.region, "--endpoint", seen.emu.endpoint)
    piped = run_cli(seen.emu, "get", "tx-raw", *where, cwd=seen.root)
    shown = on_a_pty(seen.emu, "get", "tx-raw", *where, cwd=seen.root, stdout_too=True)

    assert piped.returncode == shown.returncode == 0
    assert piped.stdout == raw + "\n"
    for char in ("\u202e", "\u009b", "\u007f"):
        assert char not in shown.screen
    assert '"Sid": "\\u202eevil\\x9b2J\\x7f"' in shown.screen


def test_visible_escapes_what_a_terminal_would_obey_and_nothing_else() -> None:
    """C0, DEL, C1 and bidi characters become escapes; text, accents, emoji and a
    backslash stay; escaping twice changes nothing; `visible_lines` keeps newlines."""
    assert visible("a\u0000b\u001bc\u007fd\u0085e\u200ff") == "a\\x00b\\x1bc\\x7fd\\x85e\\u200ff"
    assert visible("tab\there\nnew\rline") == "tab\\there\\nnew\\rline"
    assert visible("équipe 团队 🙂 C:\\path [x]") == "équipe 团队 🙂 C:\\path [x]"
    assert visible(visible(ERASE)) == visible(ERASE)
    assert visible_lines("one\u202e\ntwo") == "one\\u202e\ntwo"
