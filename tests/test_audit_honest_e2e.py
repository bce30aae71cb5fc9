"""`osspolicy audit` never claims more than it judged (contracts §4, §18), end to end on
the emulator through the real console script: a listing that lies, a backup that misses
9 of its 20 buckets and a Ctrl-C each leave "No findings." unsaid. The headline says how
many buckets were judged and what was not, `-q` prints it, `--json` says `complete:
false` with the reason, and the SARIF log (valid SARIF 2.1.0) names each unread bucket
in `toolExecutionNotifications`, so code scanning cannot read the gap as "fixed". The
pace flags (`--rate-limit`, `--attempts`, `--engine`) override the manifest as for
`run` and `check`."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
import yaml

import osspolicy
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    JobProcess,
    apply_manifest,
    make_emulator,
    read_jsonl,
    run_cli,
    write_manifest,
)

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
PREFIX = "honest-"
BUCKETS = [f"{PREFIX}{i:02d}" for i in range(20)]
DENIED = BUCKETS[11:]  # 9 of the 20: the backup job cannot read them
PARTNER = "2000000000000002"


@dataclass(frozen=True)
class World:
    emu: Emulator
    root: Path
    manifest: Path


def _manifest(emu: Emulator, root: Path, name: str, **more: Any) -> Path:
    return write_manifest(
        root / name,
        {
            "version": 1,
            "action": "backup",
            "targets": {"discover": {"prefix": PREFIX}},
            "connection": {"region": emu.region, "endpoint": emu.endpoint},
            "retry": {"attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.01},
            "backup_dir": str(root / "backups"),
            "report_dir": str(root / "reports"),
            **more,
        },
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """20 buckets listed 2 per page; the first grants a partner (a medium finding and,
    without the HTTPS-only Deny, a low one)."""
    root = tmp_path_factory.mktemp("honest")
    with make_emulator(list_page_size=2) as emu:
        emu.seed_buckets(BUCKETS)
        partner = {
            "Version": "1",
            "Statement": [
                {
                    "Sid": "partner",
                    "Effect": "Allow",
                    "Principal": [PARTNER],
                    "Action": ["oss:GetObject"],
                    "Resource": [f"acs:oss:*:*:{BUCKETS[0]}/*"],
                }
            ],
        }
        emu.seed_buckets([BUCKETS[0]], policy=json.dumps(partner).encode())
        yield World(emu, root, _manifest(emu, root, "audit.yaml"))
        emu.clear_scripted_faults()


def _sarif(root: Path, path: str) -> dict[str, Any]:
    log = json.loads((root / path).read_text(encoding="utf-8"))
    jsonschema.validate(log, SCHEMA)
    return log


def _notes(log: dict[str, Any]) -> list[dict[str, Any]]:
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    return list(invocation["toolExecutionNotifications"])


def test_a_listing_that_lies_is_not_a_clean_bill(world: World) -> None:
    """A NextMarker that does not move after the second page: the 4 buckets listed are
    judged, the rest never known; the headline, `--json` and the SARIF say so, and
    `-q` prints the verdict before the result line (exit 1 throughout)."""
    emu = world.emu
    # the owner id's ListBuckets and two good pages, then every answer lies
    runs = []
    for args in (["audit", world.manifest, "--json"], ["-q", "audit", world.manifest]):
        emu.script_fault("GET", "", "", kind="stuck-marker", skip=3, count=None)
        try:
            runs.append(run_cli(emu, *args, cwd=world.root))
        finally:
            emu.clear_scripted_faults()
    done, quiet = runs
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    assert (found["complete"], found["judged"], found["not_judged_buckets"]) == (False, 4, 0)
    assert found["error"].startswith("the targets could not all be listed: ListBuckets")
    assert "No findings." not in done.stderr
    assert "2 findings in 1 bucket: 0 high, 1 medium, 1 low (of the 4 buckets judged); " in (
        done.stderr
    )
    notes = _notes(_sarif(world.root, found["sarif"]))
    assert [n["descriptor"]["id"] for n in notes] == ["targets-not-listed"]
    assert quiet.returncode == 1
    verdict, result = quiet.stdout.splitlines()
    assert verdict.startswith("2 findings in 1 bucket")
    assert "could not all be listed" in verdict
    assert result.endswith("exit code 1")


def test_a_backup_missing_9_of_its_20_buckets_says_so(world: World) -> None:
    """A backup whose job could not read 9 buckets: its audit judges the 11 it holds and
    names the 9 others in the headline's count, `--json` and one SARIF notification
    each (at `oss://<bucket>`)."""
    emu = world.emu
    for bucket in DENIED:
        emu.script_fault("GET", bucket, "policy", status=403, code="AccessDenied", count=None)
    try:
        keys = yaml.safe_load(world.manifest.read_text())
        backup = anyio.run(lambda: osspolicy.backup(keys, credentials=emu.credentials))
    finally:
        emu.clear_scripted_faults()
    assert backup.backup_folder is not None
    done = run_cli(emu, "audit", backup.backup_folder, "--json", cwd=world.root)
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    assert (found["complete"], found["judged"], found["not_judged_buckets"]) == (False, 11, 9)
    assert found["error"].startswith("9 buckets not judged (could not be read")
    assert "(of the 11 buckets judged); 9 buckets not judged" in done.stderr
    notes = _notes(_sarif(world.root, found["sarif"]))
    named = {
        n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for n in notes
        if n["descriptor"]["id"] == "bucket-not-judged"
    }
    assert named == {f"oss://{bucket}" for bucket in DENIED}
    summary = json.loads((world.root / found["report"] / "summary.json").read_text())
    assert summary["findings"]["coverage"] == {
        "complete": False,
        "judged": 11,
        "not_judged": 9,
        "error": found["error"],
    }


def test_a_complete_audit_still_says_no_findings(world: World, tmp_path: Path) -> None:
    """Everything judged, nothing found: the plain verdict, `complete: true`, and a
    SARIF log whose invocation succeeded with no notification."""
    manifest = _manifest(world.emu, tmp_path, "clean.yaml", targets={"buckets": BUCKETS[1:3]})
    done = run_cli(world.emu, "audit", manifest, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert (found["complete"], found["judged"], found["error"]) == (True, 2, None)
    assert "No findings. (--fail-on high)" in done.stderr
    (invocation,) = _sarif(tmp_path, found["sarif"])["runs"][0]["invocations"]
    assert invocation == {"executionSuccessful": True, "exitCode": 0}


def test_an_audit_stopped_by_ctrl_c_says_what_it_did_not_reach(tmp_path: Path) -> None:
    """SIGINT after a few records: exit 130, and the verdict names the stop."""
    with make_emulator(latency_ms=40) as slow:
        slow.seed_buckets([f"{PREFIX}slow-{i:03d}" for i in range(60)])
        manifest = _manifest(slow, tmp_path, "slow.yaml", concurrency=2)
        job = JobProcess(slow, "audit", manifest, "--json", cwd=tmp_path)
        job.wait_for_records(tmp_path / "reports", 4)
        job.send(signal.SIGINT)
        done = job.finish()
    assert done.returncode == 130, done.stderr
    found = json.loads(done.stdout)
    assert found["complete"] is False
    assert "the audit was stopped (SIGINT)" in found["error"]
    assert "No findings." not in done.stderr
    assert "No findings in the " in done.stderr
    notes = _notes(_sarif(tmp_path, found["sarif"]))
    assert "stopped" in [n["descriptor"]["id"] for n in notes]


def test_the_pace_flags_override_the_manifest(world: World) -> None:
    """`--attempts 1 --engine aio --rate-limit 50`: the report's manifest records them,
    and one 503 is the bucket's failure (no second try)."""
    emu = world.emu
    emu.script_fault("GET", BUCKETS[1], "policy", count=1)
    try:
        done = run_cli(
            emu,
            "audit",
            world.manifest,
            "--attempts",
            "1",
            "--engine",
            "aio",
            "--rate-limit",
            "50",
            "--json",
            cwd=world.root,
        )
    finally:
        emu.clear_scripted_faults()
    assert done.returncode == 1, done.stderr
    report = world.root / json.loads(done.stdout)["report"]
    recorded = yaml.safe_load((report / "manifest.yaml").read_text())
    assert (recorded["engine"], recorded["rate_limit"], recorded["retry"]["attempts"]) == (
        "aio",
        50.0,
        1,
    )
    failed = [r for r in read_jsonl(report / "report.jsonl") if r["outcome"] == "failed"]
    assert [(r["bucket"], r["attempts"]) for r in failed] == [(BUCKETS[1], 1)]


def test_a_pace_flag_on_a_backup_folder_is_refused(world: World, tmp_path: Path) -> None:
    """A backup's audit sends no request: a pace flag there is one line, exit 2."""
    (tmp_path / "folder").mkdir()
    done = run_cli(world.emu, "audit", tmp_path / "folder", "--attempts", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "are for a live audit" in done.stderr


def test_a_snapshot_records_owner_ids_and_a_restore_plan_says_what_it_did_not_judge(
    tmp_path: Path,
) -> None:
    """An apply that listed its buckets records the owner id in its `-pre` snapshot, so
    the snapshot's audit judges the partner grant (`external-principal`); the plan of
    restoring that snapshot lists nothing, knows no owner id, and says in its summary
    and on its console that `external-principal` was not judged."""
    with make_emulator() as emu:
        emu.seed_buckets([f"{PREFIX}snap-0", f"{PREFIX}snap-1"])
        grant = {
            "Version": "1",
            "Statement": [
                {
                    "Sid": "partner",
                    "Effect": "Allow",
                    "Principal": [PARTNER],
                    "Action": ["oss:GetObject"],
                    "Resource": [f"acs:oss:*:*:{PREFIX}snap-0/*"],
                }
            ],
        }
        emu.seed_buckets([f"{PREFIX}snap-0"], policy=json.dumps(grant).encode())
        apply = write_manifest(
            tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix=f"{PREFIX}snap-")
        )
        applied = run_cli(emu, "run", apply, "--yes", "--json", cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        snapshot = tmp_path / json.loads(applied.stdout)["backup"]
        recorded = json.loads((snapshot / "summary.json").read_text())["accounts"]
        assert [a["owner_id"] for a in recorded] == [emu.account_id]
        audit = run_cli(emu, "audit", snapshot, "--json", cwd=tmp_path)
        assert json.loads(audit.stdout)["findings"]["by_rule"]["external-principal"] == 1
        assert json.loads(audit.stdout)["not_judged"] == []
        # put the partner grant back's plan: restore the snapshot, as a plan
        restore = write_manifest(
            tmp_path / "restore.yaml",
            {
                "version": 1,
                "action": "restore",
                "source": str(snapshot),
                "connection": {"region": emu.region, "endpoint": emu.endpoint},
                "report_dir": "reports",
            },
        )
        plan = run_cli(emu, "plan", restore, "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    summary = json.loads(
        (tmp_path / json.loads(plan.stdout)["report"] / "summary.json").read_text()
    )
    (line,) = summary["findings"]["not_judged"]
    assert line.startswith("account default: owner id unknown (no listing of this plan")
    assert "external-principal not judged" in line
    assert f"not judged: {line}" in plan.stderr
