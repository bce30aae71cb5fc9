"""Honest results (issue 11) end to end: the `osspolicy` command (in-process through its
own `main`, and once as a subprocess), the real SDK, the in-process emulator over HTTP.

A listing that fails part-way, buckets that cannot be backed up, a plan right after an
apply, drift checks, and `--json`: each says what really happened, in its exit code,
its summaries and its output, and a resumed job ends with one record per bucket.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy._internal.cli import main
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    BASELINE_SID,
    CliRun,
    apply_manifest,
    assert_no_secret,
    assert_one_line_error,
    bucket_names,
    connection,
    make_emulator,
    read_jsonl,
    records_by_bucket,
    run_cli,
    sdk_client,
    seed_mix,
    snapshot_index,
    write_manifest,
)

#: no waiting between tries: a failure is known after two requests
FAST_RETRY = {"attempts": 2, "base_delay_s": 0, "max_delay_s": 0}
#: ListBuckets, as the emulator keys its requests: a GET on the service, no sub-resource
LIST_BUCKETS = ("GET", "", "")
BACKUP_SUCCESS = {"fetched", "no_policy"}
#: where the listing failed, as the job says it (with the account, when it names one)
PAGE_2 = re.compile(r"ListBuckets (of account \S+ )?failed on page 2\b")
#: what "someone changed it by hand" puts on a bucket
OTHER_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:elsewhere/*"],
            }
        ],
    }
).encode()

Osspolicy = Callable[..., CliRun]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with make_emulator() as emulator:
        yield emulator


@pytest.fixture
def osspolicy(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Osspolicy:
    """`osspolicy ARGS` through the command's own `main` (exit code, stdout, stderr), run
    in `tmp_path` with the emulator's key pair: the subprocess's behaviour without its
    seconds of start-up per call."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    monkeypatch.delenv("COLUMNS", raising=False)

    def run(*args: str | Path) -> CliRun:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main([str(arg) for arg in args])
        code = exited.value.code
        done = CliRun(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())
        assert_no_secret(emu, done)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    return run


def backup_job(emu: Emulator, folder: Path, *, prefix: str, **extra: Any) -> Path:
    """backup.yaml: every bucket named `prefix*`, found by ListBuckets."""
    return write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": prefix}},
            "connection": connection(emu),
            "concurrency": 32,
            "retry": FAST_RETRY,
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
    )


def flat(text: str) -> str:
    """`text` with every run of whitespace one space (the console wraps long lines)."""
    return " ".join(text.split())


def only_job(folder: Path, kind: str) -> Path:
    """The one report (or backup) folder of a `kind` job in `folder`."""
    found = [p for p in folder.iterdir() if p.is_dir() and f"-{kind}-" in p.name]
    found = [p for p in found if not p.name.endswith("-pre")]
    assert len(found) == 1, found
    return found[0]


def summary_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return data


def assert_backup_is_exact(emu: Emulator, backup: Path, names: list[str]) -> None:
    """Every bucket once in the index; each policy file byte-identical to the emulator's."""
    index = read_jsonl(backup / "index.jsonl")
    assert Counter(e["bucket"] for e in index) == Counter(names)
    for entry in index:
        stored = emu.state.get_policy(entry["bucket"])
        file = backup / "policies" / f"{entry['bucket']}.json"
        assert entry["had_policy"] is (stored is not None)
        assert (file.read_bytes() if file.exists() else None) == stored


# -- 1. a listing that fails after its first page --------------------------------------------


def test_a_listing_failing_on_page_2_fails_the_backup_and_resume_completes_it(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """1,500 buckets, ListBuckets failing from page 2 on: exit 1, both summaries and the
    output say the listing failed on page 2, no finished line, restore refuses the backup
    with nothing sent; once fixed, `--resume` completes it, every bucket once and exact."""
    names = bucket_names(1500, "lf-")
    seed_mix(emu, names)
    job = backup_job(emu, tmp_path, prefix="lf-")
    emu.script_fault(*LIST_BUCKETS, skip=1, count=1000)

    failed = osspolicy("run", job)

    assert failed.returncode == 1, failed.stderr
    assert PAGE_2.search(flat(failed.stdout)), failed.stdout
    assert "listing failed" in flat(failed.stdout)
    report = only_job(tmp_path / "reports", "backup")
    backup = tmp_path / "backups" / report.name
    summary = summary_of(report)
    assert summary["exit_code"] == 1
    assert PAGE_2.search(summary["targets_error"]), summary["targets_error"]
    assert (summary["complete"], summary["listing_complete"]) == (False, False)
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["listing_complete"]) == (False, False)
    assert backup_summary["buckets"] == 1000  # page 1, all of it, and nothing else
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names[:1000]
    assert {r["outcome"] for r in records.values()} <= BACKUP_SUCCESS
    assert not any(line.get("finished") for line in read_jsonl(report / "journal.jsonl"))

    emu.clear_log()
    refused = osspolicy(
        "restore", backup, "--region", emu.region, "--endpoint", emu.endpoint, "--yes"
    )
    assert_one_line_error(refused)
    assert "incomplete backup" in refused.stderr
    assert emu.request_log == []

    emu.clear_scripted_faults()
    resumed = osspolicy("run", job, "--resume")

    assert resumed.returncode == 0, resumed.stdout
    assert only_job(tmp_path / "reports", "backup") == report
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["listing_complete"]) == (True, True)
    assert (backup_summary["missing"], backup_summary["buckets"]) == (0, 1500)
    assert not (backup / "missing.txt").exists()
    assert_backup_is_exact(emu, backup, names)
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names


# -- 2. buckets that fail for good ---------------------------------------------------------


def deny(emu: Emulator, buckets: list[str]) -> None:
    """Every GetBucketPolicy of `buckets` answers 403 AccessDenied until cleared."""
    for bucket in buckets:
        emu.script_fault("GET", bucket, "policy", count=1000, status=403, code="AccessDenied")


def test_a_backup_missing_20_buckets_is_refused_restored_only_when_allowed_and_resumed(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """20 of 120 buckets denied for good: exit 1, missing.txt names exactly them, restore
    refuses it (2) unless --allow-incomplete, which restores the rest and skips the 20
    (note `missing`); once allowed, `--resume` completes it, one record per bucket."""
    names = bucket_names(120, "mb-")
    originals = seed_mix(emu, names)
    denied = names[5::6][:20]
    deny(emu, denied)
    job = backup_job(emu, tmp_path, prefix="mb-")

    failed = osspolicy("run", job)

    assert failed.returncode == 1
    assert "INCOMPLETE: 20 buckets missing" in flat(failed.stdout)
    report = only_job(tmp_path / "reports", "backup")
    backup = tmp_path / "backups" / report.name
    assert (backup / "missing.txt").read_text().splitlines() == denied
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["missing"]) == (False, 20)
    assert backup_summary["listing_complete"] is True
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert {b for b, r in records.items() if r["outcome"] == "failed"} == set(denied)
    assert {records[b]["error_code"] for b in denied} == {"AccessDenied"}

    # every policy changes after the backup, so that restore has work to do
    for bucket in names:
        emu.state.put_policy(bucket, OTHER_POLICY)
    restore = ("restore", backup, "--region", emu.region, "--endpoint", emu.endpoint, "--yes")
    emu.clear_log()
    refused = osspolicy(*restore)
    assert_one_line_error(refused)
    assert "20 buckets are missing" in refused.stderr
    assert emu.request_log == []

    allowed = osspolicy(*restore, "--allow-incomplete")

    assert allowed.returncode == 0, allowed.stdout
    restored = records_by_bucket(
        read_jsonl(only_job(tmp_path / "reports", "restore") / "report.jsonl")
    )
    assert set(restored) == set(names)
    for bucket in denied:
        assert (restored[bucket]["outcome"], restored[bucket]["note"]) == ("skipped", "missing")
        assert emu.state.get_policy(bucket) == OTHER_POLICY
    for bucket in set(names) - set(denied):
        assert restored[bucket]["outcome"] in {"applied", "deleted"}
        assert emu.state.get_policy(bucket) == originals[bucket]

    emu.clear_scripted_faults()
    resumed = osspolicy("run", job, "--resume")

    assert resumed.returncode == 0, resumed.stdout
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["missing"]) == (True, 0)
    assert not (backup / "missing.txt").exists()
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names
    assert {r["outcome"] for r in records.values()} <= BACKUP_SUCCESS
    assert_backup_is_exact(emu, backup, names)


def test_restore_refuses_a_backup_of_zero_buckets(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """A complete backup that found no bucket is refused by restore: exit 2, one line,
    nothing sent."""
    emu.seed_buckets(bucket_names(3, "zz-"))
    job = backup_job(emu, tmp_path, prefix="none-")
    assert osspolicy("run", job).returncode == 0
    backup = only_job(tmp_path / "backups", "backup")
    assert summary_of(backup)["buckets"] == 0
    emu.clear_log()

    refused = osspolicy("restore", backup, "--region", emu.region, "--yes")

    assert_one_line_error(refused)
    assert "holds no bucket" in refused.stderr
    assert emu.request_log == []


def test_rollback_of_a_job_that_changed_nothing_exits_0_and_writes_nothing(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """An apply run twice: the second changes nothing, so its snapshot holds no bucket and
    rolling it back exits 0 without a write."""
    seed_mix(emu, bucket_names(18, "rb-"))
    job = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix="rb-"))
    assert osspolicy("run", job, "--yes").returncode == 0
    first = {p.name for p in (tmp_path / "reports").iterdir()}
    assert osspolicy("run", job, "--yes").returncode == 0
    (latest,) = {p.name for p in (tmp_path / "reports").iterdir()} - first
    assert snapshot_index(tmp_path / "backups" / f"{latest}-pre") == {}
    emu.clear_log()

    rolled = osspolicy("rollback", latest, "--report-dir", "reports", "--yes")

    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "0 buckets in" in rolled.stdout
    assert emu.request_log == []  # nothing to put back: not even a read


# -- changes by hand, through the SDK ------------------------------------------------------


def put_by_hand(client: oss.Client, bucket: str, doc: dict[str, Any]) -> None:
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=json.dumps(doc)))


def delete_by_hand(client: oss.Client, bucket: str) -> None:
    client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=bucket))


def policy_doc(emu: Emulator, bucket: str) -> dict[str, Any]:
    body = emu.state.get_policy(bucket)
    assert body is not None, bucket
    doc: dict[str, Any] = json.loads(body)
    return doc


def baseline_statement(doc: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in doc["Statement"] if s.get("Sid") == BASELINE_SID]
    assert len(found) == 1, doc
    return found[0]


def report_records(folder: Path) -> dict[str, Any]:
    return records_by_bucket(read_jsonl(folder / "report.jsonl"))


def newest_job(emu_folder: Path, before: set[str]) -> Path:
    """The one report folder made since `before` was taken."""
    (name,) = {p.name for p in (emu_folder / "reports").iterdir()} - before
    return emu_folder / "reports" / name


def report_names(folder: Path) -> set[str]:
    reports = folder / "reports"
    return {p.name for p in reports.iterdir()} if reports.is_dir() else set()


# -- 3. plan tells the truth ---------------------------------------------------------------


def test_plan_after_apply_says_no_changes_then_shows_exactly_the_hand_made_ones(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """Right after an apply, `plan` prints `No changes.` and records only `unchanged`;
    after 3 buckets are changed through the SDK it shows their 3 diffs and the counts by
    kind (1 create, 2 modify)."""
    names = bucket_names(36, "pl-")
    originals = seed_mix(emu, names)
    job = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix="pl-"))
    assert osspolicy("run", job, "--yes").returncode == 0

    before = report_names(tmp_path)
    quiet = osspolicy("plan", job)

    assert quiet.returncode == 0, quiet.stdout
    assert "No changes." in quiet.stdout
    assert "0 buckets would change: 0 create, 0 modify, 0 delete, 36 unchanged" in flat(
        quiet.stdout
    )
    plan = newest_job(tmp_path, before)
    assert {r["outcome"] for r in report_records(plan).values()} == {"unchanged"}
    assert len(report_records(plan)) == 36

    with_policy = [n for n in names if originals[n] is not None]
    created, modified = with_policy[0], with_policy[1:3]
    client = sdk_client(emu)
    delete_by_hand(client, created)  # apply puts the baseline back: a create
    put_by_hand(client, modified[0], json.loads(OTHER_POLICY))  # baseline gone: a modify
    changed = policy_doc(emu, modified[1])
    baseline_statement(changed)["Action"] = ["oss:GetObject"]  # baseline altered: a modify
    put_by_hand(client, modified[1], changed)

    before = report_names(tmp_path)
    shown = osspolicy("plan", job)

    assert shown.returncode == 0, shown.stdout
    assert "No changes." not in shown.stdout
    assert "3 buckets would change: 1 create, 2 modify, 0 delete, 33 unchanged" in flat(
        shown.stdout
    )
    headers = [line[6:] for line in shown.stdout.splitlines() if line.startswith("--- a/")]
    assert headers == sorted([created, *modified])  # one header each, in bucket order
    assert shown.stdout.count("+++ b/") == 3
    plan = newest_job(tmp_path, before)
    records = report_records(plan)
    planned = {b: r for b, r in records.items() if r["outcome"] == "planned"}
    assert set(planned) == {created, *modified}
    assert all(r["diff"] and r["change"] == "put" for r in planned.values())
    assert (planned[created]["had_policy"], planned[modified[0]]["had_policy"]) == (False, True)
    assert summary_of(plan)["changes"] == {"create": 1, "modify": 2, "delete": 0, "unchanged": 33}


# -- 4. check reports drift, and only drift ------------------------------------------------


def test_check_reports_exactly_the_buckets_that_drifted_by_the_rule_of_each_kind(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """Over 200 applied buckets, 15 changed in ways that matter and 5 only reordered:
    check of the apply reports exactly the 15 (exit 3), check of a restore of a backup
    taken before reports all 20 (bytes), a re-apply makes it exit 0, an unreadable bucket
    makes it exit 1."""
    names = bucket_names(200, "ck-")
    seed_mix(emu, names)
    apply_job = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix="ck-"))
    assert osspolicy("run", apply_job, "--yes").returncode == 0
    backup_job(emu, tmp_path, prefix="ck-")
    before = report_names(tmp_path)
    assert osspolicy("run", tmp_path / "backup.yaml").returncode == 0
    backup = tmp_path / "backups" / newest_job(tmp_path, before).name

    # buckets with the baseline statement and at least one other
    rich = [n for n in names if len(policy_doc(emu, n)["Statement"]) >= 2][:20]
    assert len(rich) == 20
    client = sdk_client(emu)
    matter, reordered = rich[:15], rich[15:]
    for position, bucket in enumerate(matter):
        doc = policy_doc(emu, bucket)
        statement = baseline_statement(doc)
        kind = position % 5
        if kind == 0:  # a statement removed
            doc["Statement"].remove(statement)
        elif kind == 1:  # an Action changed
            statement["Action"] = ["oss:GetObject"]
        elif kind == 2:  # a Principal added
            statement["Principal"] = [*statement["Principal"], "20214760404935"]
        elif kind == 3:  # the policy deleted
            delete_by_hand(client, bucket)
            continue
        else:  # a Condition value changed
            statement["Condition"] = {"Bool": {"acs:SecureTransport": ["true"]}}
        put_by_hand(client, bucket, doc)
    for position, bucket in enumerate(reordered):
        doc = policy_doc(emu, bucket)
        statement = baseline_statement(doc)
        if position < 2:  # statements reordered
            doc["Statement"].reverse()
        elif position < 4:  # list values reordered
            statement["Resource"].reverse()
            other = next(s for s in doc["Statement"] if s is not statement)
            other["Action"].reverse()
        else:  # a string for a one-element list
            statement["Principal"] = "*"
        put_by_hand(client, bucket, doc)

    before = report_names(tmp_path)
    drift = osspolicy("check", apply_job)

    assert drift.returncode == 3, drift.stdout
    records = report_records(newest_job(tmp_path, before))
    drifted = {b: r for b, r in records.items() if r["outcome"] == "drifted"}
    assert set(drifted) == set(matter)
    assert {b for b, r in records.items() if r["outcome"] == "compliant"} == set(names) - set(
        matter
    )
    assert all(r["change"] == "put" and r["diff"] for r in drifted.values())
    assert "15 buckets drifted" in flat(drift.stdout)

    restore_job = write_manifest(
        tmp_path / "restore.yaml",
        {
            "action": "restore",
            "source": str(backup),
            "connection": connection(emu),
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )
    before = report_names(tmp_path)
    by_bytes = osspolicy("check", restore_job)

    assert by_bytes.returncode == 3, by_bytes.stdout
    records = report_records(newest_job(tmp_path, before))
    assert {b for b, r in records.items() if r["outcome"] == "drifted"} == set(rich)
    assert len(records) == 200

    assert osspolicy("run", apply_job, "--yes").returncode == 0
    emu.clear_log()
    clean = osspolicy("check", apply_job)
    assert clean.returncode == 0, clean.stdout
    assert "No drift." in clean.stdout
    assert [e for e in emu.request_log if e.method in {"PUT", "DELETE"}] == []

    deny(emu, [names[7]])
    before = report_names(tmp_path)
    unreadable = osspolicy("check", apply_job)
    assert unreadable.returncode == 1, unreadable.stdout
    records = report_records(newest_job(tmp_path, before))
    assert (records[names[7]]["outcome"], records[names[7]]["error_code"]) == (
        "failed",
        "AccessDenied",
    )


def test_check_of_a_delete_or_a_backup_manifest_is_refused_in_one_line(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """`check` takes an apply or a restore manifest: a delete or a backup one exits 2 with
    one line, nothing sent."""
    emu.seed_buckets(bucket_names(3, "nc-"))
    backup = backup_job(emu, tmp_path, prefix="nc-")
    delete = write_manifest(
        tmp_path / "delete.yaml",
        {
            "action": "delete",
            "targets": {"discover": {"prefix": "nc-"}},
            "connection": connection(emu),
        },
    )
    for job in (delete, backup):
        refused = osspolicy("check", job)
        assert_one_line_error(refused)
        assert "check takes an apply or a restore manifest" in refused.stderr
    assert emu.request_log == []
    assert not (tmp_path / "reports").exists()


# -- 5. --json --------------------------------------------------------------------------------

JSON_KEYS = {"job_id", "action", "exit_code", "counts", "report", "backup", "complete"}
#: a plan's also counts the buckets it would give new access (contracts §18)
PLAN_KEYS = JSON_KEYS | {"new_access"}


def assert_json_matches_its_report(run: CliRun, action: str) -> dict[str, Any]:
    """stdout is exactly one JSON object with the documented keys, matching the report
    folder's summary.json; the human summary went to stderr."""
    assert run.stdout.count("\n") == 1, run.stdout
    obj: dict[str, Any] = json.loads(run.stdout)
    assert set(obj) == (PLAN_KEYS if action == "plan" else JSON_KEYS)
    assert obj["action"] == action
    summary = summary_of(Path(obj["report"]))
    if action == "plan":
        assert obj["new_access"] == summary["new_access"]["count"]
    assert obj["job_id"] == summary["job_id"] == Path(obj["report"]).name
    assert obj["exit_code"] == summary["exit_code"] == run.returncode
    assert obj["counts"] == {k: v for k, v in summary["counts"].items() if v}
    assert sum(obj["counts"].values()) == summary["total"] > 0
    assert f"job {obj['job_id']}" in run.stderr
    return obj


def test_json_prints_one_object_that_matches_the_report_for_every_command(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """`--json` on run (backup, apply), plan, check, restore and rollback: one JSON object
    on stdout matching summary.json (counts, exit code), everything human on stderr."""
    names = bucket_names(18, "js-")
    seed_mix(emu, names)
    backup_path = backup_job(emu, tmp_path, prefix="js-")
    apply_job = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix="js-"))

    # once as a real process: nothing else reaches its stdout
    backed_up = run_cli(emu, "run", backup_path, "--json", cwd=tmp_path)
    backup = assert_json_matches_its_report(backed_up, "backup")
    assert (backup["complete"], backup["exit_code"]) == (True, 0)
    assert backup["backup"] == str(tmp_path / "backups" / backup["job_id"])

    plan = assert_json_matches_its_report(osspolicy("plan", apply_job, "--json"), "plan")
    assert (plan["backup"], plan["complete"]) == (None, None)
    assert "planned" in plan["counts"]

    applied = assert_json_matches_its_report(
        osspolicy("run", apply_job, "--json", "--yes"), "apply"
    )
    assert applied["backup"] == str(tmp_path / "backups" / f"{applied['job_id']}-pre")
    assert applied["counts"]["applied"] == plan["counts"]["planned"]

    checked = assert_json_matches_its_report(osspolicy("check", apply_job, "--json"), "check")
    assert (checked["exit_code"], checked["counts"]) == (0, {"compliant": 18})

    restored = assert_json_matches_its_report(
        osspolicy(
            "restore",
            backup["backup"],
            "--region",
            emu.region,
            "--endpoint",
            emu.endpoint,
            "--json",
            "--yes",
        ),
        "restore",
    )
    assert restored["exit_code"] == 0
    assert set(restored["counts"]) <= {"applied", "deleted", "unchanged"}

    rolled = assert_json_matches_its_report(
        osspolicy("rollback", restored["job_id"], "--report-dir", "reports", "--json", "--yes"),
        "rollback",
    )
    assert rolled["exit_code"] == 0
