"""The backup folder format: exact bytes, index, summary last, resume, damage detected."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osspolicy._internal.atomic import is_temp_name, temp_name_for
from osspolicy._internal.backup import (
    INDEX_NAME,
    POLICIES_DIR,
    SUMMARY_NAME,
    Backup,
    BackupEntry,
)
from osspolicy._internal.backup_writer import BackupWriter
from osspolicy._internal.errors import BackupError, ConfigError

JOB = "20261123T014501Z-backup-3f9a"
#: non-ASCII, odd whitespace, CRLF and no trailing newline: must come back byte for byte
ODD_POLICY = (
    '{ "Version":"1",\r\n\t"Statement": [ {"Sid": "日本語 ✓", "Effect":"Allow",'
    '"Principal":["*"], "Action":["oss:GetObject"], "Resource":["acs:oss:*:*:b/*"] } ]  }  '
).encode()
PLAIN_POLICY = b'{"Version":"1","Statement":[]}'


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def index_lines(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / INDEX_NAME).read_bytes().splitlines()]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def make_backup(folder: Path) -> Path:
    """A finished backup of three buckets: odd bytes, plain, and one without policy."""
    writer = await BackupWriter.create(folder, job_id=JOB)
    await writer.add("odd", "cn-hangzhou", ODD_POLICY, "req-1")
    await writer.add("plain", "cn-shanghai", PLAIN_POLICY, "req-2")
    await writer.add("empty", "cn-hangzhou", None, "req-3")
    await writer.finish()
    return folder


@pytest.mark.asyncio
async def test_round_trip_preserves_policy_bytes_exactly(tmp_path: Path) -> None:
    """A policy read back from a backup is byte-equal to what was stored."""
    backup = await Backup.open(await make_backup(tmp_path / JOB))
    assert await backup.verify() == []
    by_bucket = {entry.bucket: entry for entry in backup.entries()}
    assert await backup.read_policy(by_bucket["odd"]) == ODD_POLICY
    assert await backup.read_policy(by_bucket["plain"]) == PLAIN_POLICY
    assert (tmp_path / JOB / POLICIES_DIR / "odd.json").read_bytes() == ODD_POLICY


@pytest.mark.asyncio
async def test_files_are_0600_and_folders_0700(tmp_path: Path) -> None:
    """Every file of a backup is 0600 and every folder 0700."""
    folder = await make_backup(tmp_path / "backups" / JOB)
    assert mode_of(tmp_path / "backups") == 0o700
    assert mode_of(folder) == 0o700
    assert mode_of(folder / POLICIES_DIR) == 0o700
    for path in [folder / INDEX_NAME, folder / SUMMARY_NAME, *(folder / POLICIES_DIR).iterdir()]:
        assert mode_of(path) == 0o600, path


@pytest.mark.asyncio
async def test_add_returns_the_file_path_and_writes_the_index_line(tmp_path: Path) -> None:
    """add returns the policy file it wrote and appends the bucket's index line."""
    writer = await BackupWriter.create(tmp_path / JOB, job_id=JOB)
    fetched = datetime(2026, 11, 23, 1, 45, 1, 123456, tzinfo=UTC)
    path = await writer.add("odd", "cn-hangzhou", ODD_POLICY, "req-1", fetched_at=fetched)
    assert path == str(tmp_path / JOB / POLICIES_DIR / "odd.json")
    assert index_lines(tmp_path / JOB) == [
        {
            "bucket": "odd",
            "account": "default",
            "region": "cn-hangzhou",
            "had_policy": True,
            "sha256": hashlib.sha256(ODD_POLICY).hexdigest(),
            "request_id": "req-1",
            "fetched_at": "2026-11-23T01:45:01.123Z",
        }
    ]
    await writer.aclose()


@pytest.mark.asyncio
async def test_bucket_without_policy_has_an_index_line_and_no_file(tmp_path: Path) -> None:
    """A bucket with no policy is recorded in the index (had_policy false) with no file."""
    folder = await make_backup(tmp_path / JOB)
    assert names(folder / POLICIES_DIR) == ["odd.json", "plain.json"]
    line = next(r for r in index_lines(folder) if r["bucket"] == "empty")
    assert line["had_policy"] is False
    assert line["sha256"] is None
    backup = await Backup.open(folder)
    entry = backup.get("empty")
    assert entry is not None
    assert await backup.read_policy(entry) is None


@pytest.mark.asyncio
async def test_summary_is_written_last_with_counts_and_the_index_sha256(tmp_path: Path) -> None:
    """summary.json appears only at finish; it counts buckets and hashes index.jsonl."""
    folder = tmp_path / JOB
    writer = await BackupWriter.create(folder, job_id=JOB)
    await writer.add("a", None, PLAIN_POLICY, None)
    await writer.add("b", None, None, None)
    assert not (folder / SUMMARY_NAME).exists()
    returned = await writer.finish(extra={"action": "backup"})
    summary = json.loads((folder / SUMMARY_NAME).read_bytes())
    assert summary == returned
    assert summary["job_id"] == JOB
    assert (summary["buckets"], summary["with_policy"], summary["without_policy"]) == (2, 1, 1)
    assert summary["index_sha256"] == hashlib.sha256((folder / INDEX_NAME).read_bytes()).hexdigest()
    assert summary["action"] == "backup"
    assert [p for p in names(folder) + names(folder / POLICIES_DIR) if is_temp_name(p)] == []


@pytest.mark.asyncio
async def test_create_refuses_an_existing_folder(tmp_path: Path) -> None:
    """A new backup never writes into another job's folder."""
    (tmp_path / JOB).mkdir()
    with pytest.raises(BackupError, match="exists already"):
        await BackupWriter.create(tmp_path / JOB, job_id=JOB)


@pytest.mark.asyncio
async def test_entries_come_in_index_order_as_frozen_values(tmp_path: Path) -> None:
    """entries() lists every bucket in index order."""
    backup = await Backup.open(await make_backup(tmp_path / JOB))
    entries = backup.entries()
    assert [e.bucket for e in entries] == ["odd", "plain", "empty"]
    assert entries[1] == BackupEntry(
        bucket="plain",
        region="cn-shanghai",
        had_policy=True,
        sha256=hashlib.sha256(PLAIN_POLICY).hexdigest(),
        request_id="req-2",
        fetched_at=entries[1].fetched_at,
    )


@pytest.mark.asyncio
async def test_resume_continues_an_unfinished_backup_and_cuts_a_torn_line(tmp_path: Path) -> None:
    """Resume knows the indexed buckets, drops a torn last line, counts the buckets of
    both runs in the summary, and the result verifies."""
    folder = tmp_path / JOB
    writer = await BackupWriter.create(folder, job_id=JOB)
    await writer.add("a", "r", PLAIN_POLICY, "1")
    await writer.aclose()  # the job stopped: no summary
    with (folder / INDEX_NAME).open("ab") as index:
        index.write(b'{"bucket": "b", "region": "r", "had_po')  # crash mid-append
    temp_name_for(folder / POLICIES_DIR / "b.json").write_bytes(b"half")

    resumed = await BackupWriter.resume(folder)
    assert resumed.done == {"a"}
    assert "a" in resumed.done
    assert "b" not in resumed.done
    await resumed.add("b", "r", ODD_POLICY, "2")
    await resumed.add("c", "r", None, "3")
    summary = await resumed.finish()

    assert (summary["buckets"], summary["with_policy"], summary["without_policy"]) == (3, 2, 1)

    assert [line["bucket"] for line in index_lines(folder)] == ["a", "b", "c"]
    assert names(folder / POLICIES_DIR) == ["a.json", "b.json"]
    backup = await Backup.open(folder)
    assert await backup.verify() == []


@pytest.mark.asyncio
async def test_first_snapshot_wins_on_resume(tmp_path: Path) -> None:
    """Adding a bucket the index already holds writes nothing and returns the first file."""
    folder = tmp_path / f"{JOB}-pre"
    writer = await BackupWriter.create(folder, job_id=JOB)
    first = await writer.add("a", "r", PLAIN_POLICY, "1")
    await writer.aclose()
    resumed = await BackupWriter.resume(folder, job_id=JOB)
    again = await resumed.add("a", "r", ODD_POLICY, "2")
    assert again == first
    assert (folder / POLICIES_DIR / "a.json").read_bytes() == PLAIN_POLICY
    assert len(index_lines(folder)) == 1
    summary = await resumed.finish()
    assert summary["job_id"] == JOB


@pytest.mark.asyncio
async def test_resume_refuses_a_finished_backup(tmp_path: Path) -> None:
    """A backup with summary.json is finished and is never written into again."""
    folder = await make_backup(tmp_path / JOB)
    with pytest.raises(BackupError, match="finished"):
        await BackupWriter.resume(folder)


@pytest.mark.asyncio
async def test_missing_summary_is_refused_unless_allow_incomplete(tmp_path: Path) -> None:
    """An unfinished backup needs --allow-incomplete; with it, its buckets are readable."""
    folder = tmp_path / JOB
    writer = await BackupWriter.create(folder, job_id=JOB)
    await writer.add("a", "r", PLAIN_POLICY, "1")
    await writer.aclose()
    with pytest.raises(BackupError, match="--allow-incomplete") as caught:
        await Backup.open(folder)
    assert str(folder) in str(caught.value)
    assert isinstance(caught.value, ConfigError)
    backup = await Backup.open(folder, allow_incomplete=True)
    assert not backup.complete
    assert [e.bucket for e in backup.entries()] == ["a"]
    assert await backup.verify() == []


@pytest.mark.asyncio
async def test_truncated_policy_file_is_named_in_one_line(tmp_path: Path) -> None:
    """A truncated policy file fails verify with the bucket, the file and the way out."""
    folder = await make_backup(tmp_path / JOB)
    path = folder / POLICIES_DIR / "odd.json"
    path.write_bytes(ODD_POLICY[:-5])
    backup = await Backup.open(folder)
    with pytest.raises(BackupError) as caught:
        await backup.verify()
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "bucket odd" in message
    assert "restore from another backup or pass --skip-damaged" in message


@pytest.mark.asyncio
async def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    """One changed byte in a policy file fails its sha256 check."""
    folder = await make_backup(tmp_path / JOB)
    path = folder / POLICIES_DIR / "plain.json"
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    backup = await Backup.open(folder)
    with pytest.raises(BackupError, match="bucket plain does not match its sha256"):
        await backup.verify()


@pytest.mark.asyncio
async def test_missing_policy_file_is_detected(tmp_path: Path) -> None:
    """A policy file that is gone fails verify, naming the bucket and the file."""
    folder = await make_backup(tmp_path / JOB)
    path = folder / POLICIES_DIR / "odd.json"
    path.unlink()
    backup = await Backup.open(folder)
    with pytest.raises(BackupError, match="bucket odd is missing") as caught:
        await backup.verify()
    assert str(path) in str(caught.value)


@pytest.mark.asyncio
async def test_skip_damaged_returns_the_damaged_entries_in_index_order(tmp_path: Path) -> None:
    """With skip_damaged, verify lists the damaged entries instead of raising."""
    folder = await make_backup(tmp_path / JOB)
    (folder / POLICIES_DIR / "odd.json").unlink()
    (folder / POLICIES_DIR / "plain.json").write_bytes(b"{}")
    backup = await Backup.open(folder)
    damaged = await backup.verify(skip_damaged=True)
    assert [d.entry.bucket for d in damaged] == ["odd", "plain"]
    assert "missing" in damaged[0].problem
    assert "sha256" in damaged[1].problem
    assert "--skip-damaged" in str(damaged[0].error())
    with pytest.raises(BackupError):
        await backup.read_policy(damaged[1].entry)


@pytest.mark.asyncio
async def test_bad_index_line_names_the_line(tmp_path: Path) -> None:
    """A damaged line inside index.jsonl is an error naming index.jsonl line N."""
    folder = await make_backup(tmp_path / JOB)
    lines = (folder / INDEX_NAME).read_bytes().splitlines(keepends=True)
    lines[1] = b'{"bucket": "plain", "had_po\n'
    (folder / INDEX_NAME).write_bytes(b"".join(lines))
    with pytest.raises(BackupError, match=r"index\.jsonl line 2: not valid JSON") as caught:
        await Backup.open(folder)
    assert "\n" not in str(caught.value)


@pytest.mark.asyncio
async def test_index_line_escaping_policies_folder_is_refused(tmp_path: Path) -> None:
    """An index line whose bucket is a path is refused, so reading never leaves the folder."""
    folder = await make_backup(tmp_path / JOB)
    with (folder / INDEX_NAME).open("r+b") as index:
        content = index.read().replace(b'"bucket":"plain"', b'"bucket":"../../x"')
        index.seek(0)
        index.truncate()
        index.write(content)
    with pytest.raises(BackupError, match=r"index\.jsonl line 2: bucket is missing or not"):
        await Backup.open(folder)


@pytest.mark.asyncio
async def test_index_changed_after_finish_fails_its_checksum(tmp_path: Path) -> None:
    """An index that parses but differs from the one summary.json hashed is refused."""
    folder = await make_backup(tmp_path / JOB)
    with (folder / INDEX_NAME).open("ab") as index:
        index.write(
            b'{"bucket":"extra","region":null,"had_policy":false,"sha256":null,'
            b'"request_id":null,"fetched_at":"x"}\n'
        )
    with pytest.raises(BackupError, match="does not match the sha256 recorded in summary"):
        await Backup.open(folder)


@pytest.mark.asyncio
async def test_unparsable_summary_is_refused(tmp_path: Path) -> None:
    """A summary.json that is not a JSON object is an error naming it."""
    folder = await make_backup(tmp_path / JOB)
    (folder / SUMMARY_NAME).write_bytes(b'{"buckets": 3,')
    with pytest.raises(BackupError, match=r"summary\.json: cannot be read as a JSON object"):
        await Backup.open(folder)


@pytest.mark.asyncio
async def test_duplicate_bucket_in_index_last_line_wins(tmp_path: Path) -> None:
    """Should an index hold a bucket twice, the last line's record is the one used."""
    folder = tmp_path / JOB
    writer = await BackupWriter.create(folder, job_id=JOB)
    await writer.add("a", "r", PLAIN_POLICY, "1")
    await writer.aclose()
    with (folder / INDEX_NAME).open("ab") as index:
        index.write(
            b'{"bucket":"a","region":"r2","had_policy":false,"sha256":null,'
            b'"request_id":"2","fetched_at":"x"}\n'
        )
    backup = await Backup.open(folder, allow_incomplete=True)
    assert [(e.bucket, e.region, e.had_policy) for e in backup.entries()] == [("a", "r2", False)]
