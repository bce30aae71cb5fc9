"""`osspolicy diff` (contracts §18) on folders made here: statements by Sid (or, without
one, canonically), the buckets one backup lacks (only in the other, or unknown when it may
have lost them), the exit code, and how a job id finds its backup. The end-to-end proof
on two real backups of the emulator is in test_insight_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import osspolicy
from osspolicy._internal.api_diff import find_backup
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.backup_writer import BackupWriter
from osspolicy._internal.errors import BackupError
from osspolicy._internal.statement_diff import statement_diffs

pytestmark = pytest.mark.asyncio

READ: dict[str, Any] = {
    "Sid": "read",
    "Effect": "Allow",
    "Principal": ["1234567890123456"],
    "Action": ["oss:GetObject"],
    "Resource": ["acs:oss:*:*:app/*"],
}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def body(document: dict[str, Any], **dumps: Any) -> bytes:
    return json.dumps(document, **dumps).encode()


def changes(
    a: dict[str, Any] | None, b: dict[str, Any] | None
) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(d.statement, d.change, d.details) for d in statement_diffs(a, b)]


# --- statements --------------------------------------------------------------------------------


async def test_a_statement_of_the_same_sid_that_changed_says_what_changed() -> None:
    """Matched by Sid: one line per key that differs, values as +added -removed."""
    after = {
        **READ,
        "Effect": "Deny",
        "Action": ["oss:PutObject", "oss:GetObject"],
        "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}},
    }

    assert changes(policy(READ), policy(after)) == [
        (
            "read",
            "changed",
            (
                "Effect Allow → Deny",
                "Action +oss:PutObject",
                "Condition IpAddress acs:SourceIp +10.0.0.0/8",
            ),
        )
    ]


async def test_statements_are_compared_canonically_a_reorder_is_no_change() -> None:
    """Statements, values and keys in another order, "x" for ["x"]: nothing listed."""
    written = {
        "Resource": "acs:oss:*:*:app/*",
        **{k: v for k, v in READ.items() if k != "Resource"},
    }
    unnamed = {k: v for k, v in READ.items() if k != "Sid"}

    assert changes(policy(unnamed, READ), policy(written, unnamed)) == []


async def test_statements_without_a_sid_are_added_or_removed_never_changed() -> None:
    """Without a Sid there is nothing to pair by: a changed one is one removed (named by
    its place in A) and one added (by its place in B)."""
    unnamed = {k: v for k, v in READ.items() if k != "Sid"}
    wider = {**unnamed, "Action": ["oss:*"]}

    assert changes(policy(READ, unnamed), policy(wider, READ)) == [
        ("Statement[1]", "removed", ()),
        ("Statement[0]", "added", ()),
    ]


async def test_a_repeated_sid_pairs_its_equal_statements_first() -> None:
    """Two statements of one Sid, one of them changed: only that one is listed."""
    twin = {**READ, "Principal": ["6543210987654321"]}
    changed = {**twin, "Action": ["oss:*"]}

    assert changes(policy(READ, twin), policy(changed, READ)) == [
        ("read", "changed", ("Action +oss:* -oss:GetObject",))
    ]


async def test_a_policy_added_or_removed_lists_all_its_statements() -> None:
    """From no policy, every statement is added; to none, every one removed."""
    unnamed = {k: v for k, v in READ.items() if k != "Sid"}

    assert changes(None, policy(READ, unnamed)) == [
        ("read", "added", ()),
        ("Statement[1]", "added", ()),
    ]
    assert [c for _, c, _ in changes(policy(READ), None)] == ["removed"]


# --- buckets -----------------------------------------------------------------------------------


async def backup(
    folder: Path,
    policies: dict[str, bytes | None],
    *,
    missing: tuple[str, ...] = (),
    listing_complete: bool = True,
) -> Path:
    """A backup folder of `policies`, as a backup job leaves it."""
    writer = await BackupWriter.create(folder, job_id=folder.name)
    for bucket, policy_body in policies.items():
        await writer.add(bucket, "cn-hangzhou", policy_body, None)
    await writer.finish(listing_complete=listing_complete, missing=missing)
    return folder


async def test_a_policy_put_back_in_other_bytes_is_the_same(tmp_path: Path) -> None:
    """Compact in A, indented with its statements reversed in B: `same`, exit 0."""
    other = {**READ, "Sid": "other"}
    a = await backup(tmp_path / "a", {"app": body(policy(READ, other))})
    b = await backup(tmp_path / "b", {"app": body(policy(other, READ), indent=4)})

    result = await osspolicy.diff(a, b)

    assert [(x.bucket, x.status) for x in result.buckets] == [("app", "same")]
    assert result.exit_code == 0
    assert result.to_json()["buckets"] == []


async def test_a_bucket_one_backup_lacks_is_only_in_the_other_unless_it_may_have_lost_it(
    tmp_path: Path,
) -> None:
    """Absent from a backup whose listing was whole: only in the other. Named in its
    missing.txt, or absent from one whose listing failed: `unknown`, and the diff exits
    1 (it could not compare them), whatever else differs."""
    a = await backup(tmp_path / "a", {"kept": None, "gone": None, "lost": None, "unlisted": None})
    b = await backup(
        tmp_path / "b",
        {"kept": body(policy(READ)), "new": None},
        missing=("lost",),
        listing_complete=False,
    )
    whole = await backup(tmp_path / "whole", {"kept": None})

    result = await osspolicy.diff(a, b, allow_incomplete=True)
    plain = await osspolicy.diff(a, whole)

    assert {x.bucket: x.status for x in result.buckets} == {
        "kept": "added",
        "gone": "unknown",
        "lost": "unknown",
        "unlisted": "unknown",
        "new": "only_in_b",
    }
    assert result.exit_code == 1
    assert {x.bucket: x.status for x in plain.buckets} == {
        "kept": "same",
        "gone": "only_in_a",
        "lost": "only_in_a",
        "unlisted": "only_in_a",
    }
    assert plain.exit_code == 3


async def test_a_policy_that_is_not_json_is_compared_by_its_bytes(tmp_path: Path) -> None:
    """What the service held need not parse: different bytes are `changed`, no
    statements, a note saying so; JSON that is no policy object (`[]`) is called that,
    not "not JSON", and the note says which backup's it is."""
    a = await backup(tmp_path / "a", {"odd": b"not json", "list": body(policy(READ))})
    b = await backup(tmp_path / "b", {"odd": b"not json either", "list": b"[]"})

    found = {x.bucket: x for x in (await osspolicy.diff(a, b)).buckets}

    assert (found["odd"].status, found["odd"].statements, found["odd"].note) == (
        "changed",
        (),
        "not JSON: compared as bytes",
    )
    assert (found["list"].status, found["list"].note) == (
        "changed",
        "B's is JSON but not a policy object (a list): compared as bytes",
    )


async def test_a_damaged_policy_file_is_refused_with_advice_that_works_for_diff(
    tmp_path: Path,
) -> None:
    """A policy file that no longer matches its sha256 is refused naming it and the way
    past it that diff has (--allow-incomplete, not restore's --skip-damaged); allowed,
    that bucket is `unknown` with why, the others compared, exit 1."""
    a = await backup(tmp_path / "a", {"app": body(policy(READ)), "other": None})
    b = await backup(tmp_path / "b", {"app": body(policy(READ)), "other": body(policy(READ))})
    (b / "policies" / "app.json").write_bytes(b"{}")

    with pytest.raises(BackupError) as refused:
        await osspolicy.diff(a, b)
    allowed = await osspolicy.diff(a, b, allow_incomplete=True)

    message = str(refused.value)
    assert message.startswith(f"{b / 'policies' / 'app.json'}: the policy of bucket app does not")
    assert "--allow-incomplete (the API's allow_incomplete=True)" in message
    assert "--skip-damaged" not in message
    why = "in B its policy file does not match its sha256 in index.jsonl (truncated or changed)"
    assert [(x.bucket, x.status, x.note) for x in allowed.buckets] == [
        ("app", "unknown", f"damaged: {why}"),
        ("other", "added", None),
    ]
    assert allowed.exit_code == 1


async def test_an_unfinished_backup_is_refused_naming_the_flag(tmp_path: Path) -> None:
    """A backup without summary.json is refused unless `allow_incomplete`; with it, what
    it lacks is unknown (its listing is not known to be whole)."""
    a = await backup(tmp_path / "a", {"app": None, "other": None})
    writer = await BackupWriter.create(tmp_path / "b", job_id="b")
    await writer.add("app", "cn-hangzhou", None, None)
    await writer.aclose()

    with pytest.raises(BackupError, match=r"summary\.json is missing; pass --allow-incomplete"):
        await osspolicy.diff(a, tmp_path / "b")
    allowed = await osspolicy.diff(a, tmp_path / "b", allow_incomplete=True)
    assert {x.bucket: x.status for x in allowed.buckets} == {"app": "same", "other": "unknown"}


# --- which backup ------------------------------------------------------------------------------


async def test_a_job_id_finds_its_backup_and_nothing_else(tmp_path: Path) -> None:
    """A backup job's id is its backup folder; an apply job's is refused (its folder is
    a snapshot of what it changed); neither a folder nor a job id is refused."""
    memory = MemoryBackend()
    memory.add_bucket("app", body(policy(READ)))
    keys = {
        "targets": {"buckets": ["app"]},
        "connection": {"region": "cn-hangzhou", "endpoint": "http://127.0.0.1:9"},
        "backup_dir": str(tmp_path / "backups"),
        "report_dir": str(tmp_path / "reports"),
    }
    backed_up = await osspolicy.backup(keys, backend=memory)
    applied = await osspolicy.apply(
        {**keys, "policy": {"document": policy({**READ, "Sid": "more"})}}, yes=True, backend=memory
    )
    reports = tmp_path / "reports"

    assert find_backup(backed_up.job_id, reports) == backed_up.backup_folder
    with pytest.raises(BackupError, match=r"is an apply job: its folder .* is a snapshot"):
        find_backup(applied.job_id, reports)
    with pytest.raises(BackupError, match="no such backup folder, nor job"):
        find_backup("20990101T000000Z-backup-0000", reports)
    with pytest.raises(BackupError, match="no such backup folder; give a backup folder"):
        find_backup(tmp_path / "nowhere", reports)
