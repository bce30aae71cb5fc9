"""What the commands say about a folder given as a backup that is not one, or a backup
that is damaged, through the real console script (contracts §15: a folder that is not a
backup is named for what it is; every hint names a step that works for that command).

Two real backups of the emulator, in `backups/`, their reports in `reports/`: the folder
that holds them is not a backup (audit, diff, restore say what it is), and `diff` of a
damaged copy names its own way past it (`--allow-incomplete`), which then works.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

import osspolicy
from osspolicy.emulator import Emulator

from .e2e_helpers import assert_one_line_error, make_emulator, run_cli

BUCKETS = ["fo-one", "fo-two"]


@dataclass(frozen=True)
class Backups:
    """The emulator, the folder the commands run in, and its two backups' folders."""

    emu: Emulator
    root: Path
    first: Path
    second: Path


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backups]:
    root = tmp_path_factory.mktemp("advice")
    with make_emulator() as emu:
        emu.seed_buckets(BUCKETS, policy=lambda name: _policy(name).encode())
        keys = {
            "targets": {"buckets": BUCKETS},
            "connection": {"region": emu.region, "endpoint": emu.endpoint},
            "backup_dir": str(root / "backups"),
            "report_dir": str(root / "reports"),
        }

        def back_up() -> Path:
            run = anyio.run(lambda: osspolicy.backup(keys, credentials=emu.credentials))
            assert run.backup_folder is not None
            return run.backup_folder

        first = back_up()
        second = back_up()
        yield Backups(emu, root, first, second)


def _policy(bucket: str) -> str:
    return (
        '{"Version": "1", "Statement": [{"Sid": "team", "Effect": "Allow", "Principal": '
        f'["1111111111111111"], "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:{bucket}/*"]'
        "}]}"
    )


def test_the_folder_of_the_backups_is_named_for_what_it_is(backups: Backups) -> None:
    """`audit backups` and `restore backups`: one line saying the folder holds two
    backups, the newest by name, and to give one of them; nothing sent by restore."""
    newest = max(backups.first.name, backups.second.name)
    audited = run_cli(backups.emu, "audit", "backups", cwd=backups.root)
    restored = run_cli(
        backups.emu, "restore", "backups", "--region", backups.emu.region,
        "--endpoint", backups.emu.endpoint, "--yes", cwd=backups.root,
    )  # fmt: skip

    assert_one_line_error(audited)
    assert audited.stderr == (
        f"osspolicy: error: backups: holds 2 backups (newest: {newest}), not a backup "
        f"itself; give one of them, e.g. backups/{newest}\n"
    )
    assert_one_line_error(restored)
    assert f"backups: holds 2 backups (newest: {newest})" in restored.stderr
    assert "index.jsonl" not in audited.stderr + restored.stderr
    assert not [entry for entry in backups.emu.request_log if entry.method in {"PUT", "DELETE"}]


def test_the_folder_of_the_reports_is_named_for_what_it_is(backups: Backups) -> None:
    """`diff A reports`: one line saying `reports` is a report folder root, how many
    jobs it holds and where their backups are listed."""
    run = run_cli(backups.emu, "diff", backups.first, "reports", cwd=backups.root)

    assert_one_line_error(run)
    newest = max(backups.first.name, backups.second.name)
    assert run.stderr == (
        f"osspolicy: error: reports: is a report folder root (2 jobs' reports, newest: "
        f"{newest}), not a backup; give a backup folder (`osspolicy jobs --report-dir "
        "reports` lists its jobs and their backups)\n"
    )


def test_diff_of_a_damaged_backup_names_the_flag_diff_has_and_it_works(
    backups: Backups,
) -> None:
    """A policy file changed behind the index: `diff` refuses in one line naming the
    file and `--allow-incomplete` (not restore's `--skip-damaged`, which diff lacks);
    with that flag the bucket is `unknown` with why, the other compared, exit 1."""
    damaged = backups.root / "damaged"
    shutil.copytree(backups.second, damaged)
    (damaged / "policies" / "fo-one.json").write_text("{}", encoding="utf-8")

    refused = run_cli(backups.emu, "diff", backups.first, "damaged", cwd=backups.root)
    allowed = run_cli(
        backups.emu, "diff", backups.first, "damaged", "--allow-incomplete", cwd=backups.root
    )

    assert_one_line_error(refused)
    assert refused.stderr.startswith(
        "osspolicy: error: damaged/policies/fo-one.json: the policy of bucket fo-one does "
        "not match its sha256 in index.jsonl"
    )
    assert "pass --allow-incomplete" in refused.stderr
    assert "--skip-damaged" not in refused.stderr
    assert allowed.returncode == 1, allowed.stderr
    why = "in B its policy file does not match its sha256 in index.jsonl (truncated or changed)"
    assert allowed.stdout.splitlines()[1:] == [
        f"unknown    fo-one: damaged: {why}",
        "No differences: 1 same, 1 unknown.",
    ]


def test_diff_help_names_every_exit_code(backups: Backups) -> None:
    """`diff --help` says 0 same, 3 different, 1 unknown, 2 refused."""
    run = run_cli(backups.emu, "diff", "--help", cwd=backups.root)

    text = " ".join(run.stdout.split())
    assert "Exit 0 same, 3 different, 1 when a bucket is unknown (2: a backup refused)." in text
