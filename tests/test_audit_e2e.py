"""`osspolicy audit` end to end (contracts §18): a corpus of crafted policies, one per rule
plus clean ones, seeded into one emulator, audited live (the real SDK reading every
bucket) and from a backup of the same buckets (no request): exactly the expected
(bucket, rule) pairs both ways, the same fingerprints, and SARIF that the official SARIF
2.1.0 schema accepts. Then the exit codes: an unread bucket, an incomplete backup, an
older backup without owner ids, `--fail-on`; and a plan that shows what it would put."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest

import osspolicy
from osspolicy.emulator import Emulator

from .e2e_helpers import make_emulator, read_jsonl, run_cli

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
PREFIX = "audit-"
PARTNER = "2000000000000002"


def _https_only(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "https-only",
        "Effect": "Deny",
        "Principal": ["*"],
        "Action": ["oss:*"],
        "Resource": [f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"],
        "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
    }


def _grant(bucket: str, principal: str | list[str], **keys: Any) -> dict[str, Any]:
    return {
        "Sid": "grant",
        "Effect": "Allow",
        "Principal": principal if isinstance(principal, list) else [principal],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/*"],
        **keys,
    }


def corpus(owner: str) -> dict[str, tuple[dict[str, Any] | None, set[str]]]:
    """Each bucket's policy (None: none) and the rules it must break, no more."""
    pin_vpc = {"StringEquals": {"acs:SourceVpc": ["vpc-audit"]}}
    cases: dict[str, tuple[list[dict[str, Any]] | None, set[str]]] = {
        "clean": ([_grant("{b}", owner)], set()),
        "nopolicy": (None, set()),
        "pubread": (  # a Condition on HTTPS does not make it private
            [
                _grant(
                    "{b}", "*", Principal="*", Condition={"Bool": {"acs:SecureTransport": "true"}}
                )
            ],
            {"public-read"},
        ),
        "pubwrite": ([_grant("{b}", ["*"], Action="oss:PutObject")], {"public-write"}),
        "lockout": (
            [_grant("{b}", owner), {**_https_only("{b}"), "Sid": "lock", "Condition": {}}],
            {"owner-lockout"},
        ),
        "external": ([_grant("{b}", PARTNER)], {"external-principal"}),
        "wildcard": ([_grant("{b}", "*", Action="oss:*", Condition=pin_vpc)], {"wildcard-action"}),
        "ipany": (
            [_grant("{b}", owner, Condition={"IpAddress": {"acs:SourceIp": "0.0.0.0/0"}})],
            {"ip-any"},
        ),
        "foreign": (
            [_grant("{b}", owner, Resource="acs:oss:*:*:someone-elses/*")],
            {"foreign-resource"},
        ),
    }
    found: dict[str, tuple[dict[str, Any] | None, set[str]]] = {}
    for name, (statements, rules) in cases.items():
        bucket = f"{PREFIX}{name}"
        if statements is None:
            found[bucket] = (None, rules)
            continue
        rendered = json.loads(json.dumps(statements).replace("{b}", bucket))
        rendered.append(_https_only(bucket))
        found[bucket] = ({"Version": "1", "Statement": rendered}, rules)
    no_https = f"{PREFIX}nohttps"
    found[no_https] = ({"Version": "1", "Statement": [_grant(no_https, owner)]}, {"no-https-only"})
    return found


@dataclass(frozen=True)
class Audited:
    emu: Emulator
    root: Path
    expected: set[tuple[str, str]]
    live: osspolicy.AuditRun
    backup_folder: Path
    from_backup: osspolicy.AuditRun


def _keys(emu: Emulator, root: Path, **more: Any) -> dict[str, Any]:
    return {
        "targets": {"discover": {"prefix": PREFIX}},
        "connection": {"region": emu.region, "endpoint": emu.endpoint},
        "backup_dir": str(root / "backups"),
        "report_dir": str(root / "reports"),
        **more,
    }


def pairs(run: osspolicy.AuditRun) -> set[tuple[str, str]]:
    return {(f.bucket, f.rule) for f in run.all_findings()}


def sarif_of(run: osspolicy.AuditRun) -> dict[str, Any]:
    assert run.sarif is not None
    return json.loads(run.sarif.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """The corpus, audited live, backed up, and audited from the backup."""
    root = tmp_path_factory.mktemp("audit")
    with make_emulator() as emu:
        cases = corpus(emu.account_id)
        for bucket, (doc, _rules) in cases.items():
            body = None if doc is None else json.dumps(doc).encode()
            emu.seed_buckets([bucket], policy=body)
        expected = {(bucket, rule) for bucket, (_doc, rules) in cases.items() for rule in rules}
        keys = _keys(emu, root)

        async def run_all() -> tuple[osspolicy.AuditRun, Path, osspolicy.AuditRun]:
            live = await osspolicy.audit(keys, credentials=emu.credentials)
            backup = await osspolicy.backup(keys, credentials=emu.credentials)
            assert backup.backup_folder is not None
            folder = backup.backup_folder
            return live, folder, await osspolicy.audit(folder, report_dir=root / "reports")

        live, folder, from_backup = anyio.run(run_all)
        yield Audited(emu, root, expected, live, folder, from_backup)


def test_a_live_audit_reports_exactly_the_expected_pairs(audited: Audited) -> None:
    """Every rule on its bucket, nothing on the clean ones; a high finding: exit 3."""
    assert pairs(audited.live) == audited.expected
    assert audited.live.exit_code == 3
    counts = audited.live.counts
    assert counts["by_severity"] == {"high": 3, "medium": 4, "low": 1}
    assert counts["buckets"] == len({bucket for bucket, _rule in audited.expected})


def test_the_audit_of_a_backup_agrees_without_a_request(audited: Audited) -> None:
    """The backup's files give the same pairs and fingerprints, with no request sent."""
    emu = audited.emu
    emu.clear_log()
    run = anyio.run(lambda: osspolicy.audit(audited.backup_folder, report_dir=None))
    assert emu.request_log == []
    assert pairs(run) == pairs(audited.from_backup) == audited.expected
    fingerprints = {(f.bucket, f.rule, f.fingerprint) for f in audited.live.all_findings()}
    assert {(f.bucket, f.rule, f.fingerprint) for f in run.findings} == fingerprints
    assert run.exit_code == 3


def test_a_backup_records_each_accounts_owner_id(audited: Audited) -> None:
    """summary.json's accounts name the owner id the audit judges principals by."""
    summary = json.loads((audited.backup_folder / "summary.json").read_text())
    assert [a["owner_id"] for a in summary["accounts"]] == [audited.emu.account_id]


@pytest.mark.parametrize("which", ["live", "from_backup"])
def test_the_sarif_is_valid_and_points_at_each_bucket(audited: Audited, which: str) -> None:
    """SARIF 2.1.0 as the official schema says; one result per finding, its rule among
    the driver's (with help and a level), located at `oss://<bucket>` or the backup's
    `policies/<bucket>.json`, with a fingerprint."""
    run: osspolicy.AuditRun = getattr(audited, which)
    log = sarif_of(run)
    jsonschema.validate(log, SCHEMA)
    (sarif_run,) = log["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {rule for _bucket, rule in audited.expected}
    assert all(r["helpUri"] and r["help"]["text"] and r["defaultConfiguration"] for r in rules)
    results = sarif_run["results"]
    assert len(results) == len(audited.expected)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    buckets = {bucket for bucket, _rule in audited.expected}
    if which == "live":
        assert uris == {f"oss://{b}" for b in buckets}
    else:
        assert uris == {f"policies/{b}.json" for b in buckets}
        base = sarif_run["originalUriBaseIds"]["BACKUP"]["uri"]
        assert all((Path(base.removeprefix("file://")) / u).is_file() for u in uris)
    assert all(r["partialFingerprints"]["osspolicyFinding/v1"] for r in results)


def test_findings_jsonl_and_the_records(audited: Audited) -> None:
    """One line per finding; each bucket's record says which rules it broke."""
    folder = audited.live.report_folder
    assert folder is not None
    lines = read_jsonl(folder / "findings.jsonl")
    assert {(line["bucket"], line["rule"]) for line in lines} == audited.expected
    assert all(line["reference"].startswith("https://www.alibabacloud.com/") for line in lines)
    notes = {r["bucket"]: r["note"] for r in read_jsonl(folder / "report.jsonl")}
    assert notes[f"{PREFIX}pubread"] == "findings: public-read"
    assert notes[f"{PREFIX}clean"] is None


def test_an_unread_bucket_fails_the_audit_whatever_its_findings(audited: Audited) -> None:
    """A bucket denied to the auditor: `failed`, exit 1 (not 3); the others judged."""
    emu, denied = audited.emu, f"{PREFIX}clean"
    emu.script_fault("GET", denied, "policy", status=403, code="AccessDenied", count=None)
    try:
        keys = _keys(emu, audited.root)
        run = anyio.run(lambda: osspolicy.audit(keys, credentials=emu.credentials, report_dir=None))
    finally:
        emu.clear_scripted_faults()
    assert run.exit_code == 1
    failed = [r for r in run.records() if r["outcome"] == "failed"]
    assert [(r["bucket"], r["error_code"]) for r in failed] == [(denied, "AccessDenied")]
    assert pairs(run) == audited.expected


def _copy(folder: Path, to: Path) -> Path:
    return Path(shutil.copytree(folder, to))


def test_an_incomplete_backups_missing_buckets_count_as_unread(
    audited: Audited, tmp_path: Path
) -> None:
    """The buckets its backup job could not read are `failed` here too: exit 1; the
    buckets it holds are judged."""
    folder = _copy(audited.backup_folder, tmp_path / "incomplete")
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(complete=False, missing=1)
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "missing.txt").write_text(f"{PREFIX}gone\n")
    run = anyio.run(lambda: osspolicy.audit(folder, report_dir=None))
    assert run.exit_code == 1
    failed = {r["bucket"]: r["error_code"] for r in run.records() if r["outcome"] == "failed"}
    assert failed == {f"{PREFIX}gone": "NotInBackup"}
    assert pairs(run) == audited.expected


def test_an_older_backup_without_owner_ids_judges_what_it_can(
    audited: Audited, tmp_path: Path
) -> None:
    """No owner id recorded: external-principal is not judged (and the run says so);
    every other rule still is."""
    folder = _copy(audited.backup_folder, tmp_path / "older")
    summary = json.loads((folder / "summary.json").read_text())
    summary["accounts"] = [
        {k: v for k, v in a.items() if k != "owner_id"} for a in summary["accounts"]
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    run = anyio.run(lambda: osspolicy.audit(folder, report_dir=None))
    assert pairs(run) == {p for p in audited.expected if p[1] != "external-principal"}
    (note,) = run.to_json()["not_judged"]
    assert note.startswith("account default: owner id unknown (the backup records no owner")
    assert "external-principal not judged" in note


@pytest.mark.parametrize(
    ("fail_on", "buckets", "exit_code"),
    [
        ("high", ["clean", "external", "nohttps"], 0),
        ("medium", ["clean", "external", "nohttps"], 3),
        ("medium", ["clean", "nohttps"], 0),
        ("low", ["clean", "nohttps"], 3),
        ("low", ["clean", "nopolicy"], 0),
    ],
)
def test_fail_on_sets_the_threshold_of_exit_3(
    audited: Audited, fail_on: str, buckets: list[str], exit_code: int
) -> None:
    """Exit 3 only for a finding at or above --fail-on; a bucket without policy has none."""
    emu = audited.emu
    keys = _keys(emu, audited.root, targets={"buckets": [f"{PREFIX}{b}" for b in buckets]})

    async def run() -> osspolicy.AuditRun:
        return await osspolicy.audit(
            keys,
            fail_on=fail_on,  # type: ignore[arg-type]
            credentials=emu.credentials,
            report_dir=None,
        )

    assert anyio.run(run).exit_code == exit_code


def test_the_command_audits_a_backup_with_json_and_sarif(audited: Audited) -> None:
    """`osspolicy audit BACKUP_DIR --json`: exit 3, counts by rule and severity on
    stdout, the table and the high findings on stderr, the SARIF valid."""
    done = run_cli(
        audited.emu,
        "audit",
        audited.backup_folder,
        "--report-dir",
        "reports",
        "--json",
        cwd=audited.root,
    )
    assert done.returncode == 3, done.stderr
    found = json.loads(done.stdout)
    assert found["findings"]["by_rule"] == {
        "public-read": 1,
        "public-write": 1,
        "owner-lockout": 1,
        "external-principal": 1,
        "wildcard-action": 1,
        "ip-any": 1,
        "foreign-resource": 1,
        "no-https-only": 1,
    }
    assert found["findings"]["by_severity"] == {"high": 3, "medium": 4, "low": 1}
    assert f"high   {PREFIX}pubread  public-read: statement grant" in done.stderr
    jsonschema.validate(json.loads((audited.root / found["sarif"]).read_text()), SCHEMA)


def test_the_command_refuses_what_is_neither_manifest_nor_backup(audited: Audited) -> None:
    """A path that is not there: one line naming it, exit 2, nothing sent."""
    audited.emu.clear_log()
    done = run_cli(audited.emu, "audit", "no-such-thing", cwd=audited.root)
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "no-such-thing: no such manifest file or backup folder" in done.stderr
    assert audited.emu.request_log == []


def test_a_plan_counts_what_the_policies_it_would_put_grant(audited: Audited) -> None:
    """The plan of a public baseline: its summary's findings count the high ones."""
    root, emu = audited.root, audited.emu
    public = {
        "Version": "1",
        "Statement": [_grant("${bucket}", "*", Sid="open")],
    }
    (root / "public.json").write_text(json.dumps(public))
    keys = _keys(
        emu,
        root,
        targets={"buckets": [f"{PREFIX}clean", f"{PREFIX}nopolicy"]},
        policy={"file": str(root / "public.json"), "mode": "replace"},
        allow_public=True,
    )
    run = anyio.run(lambda: osspolicy.plan(keys, credentials=emu.credentials, report_dir=None))
    found = run.summary.extra["findings"]
    assert found["by_rule"] == {"public-read": 2, "no-https-only": 2}
    assert {h["bucket"] for h in found["high"]} == {f"{PREFIX}clean", f"{PREFIX}nopolicy"}


def test_a_severity_that_is_not_one_is_refused(audited: Audited) -> None:
    """fail_on must be high, medium or low: ConfigError before anything is read."""
    with pytest.raises(osspolicy.ConfigError, match="fail_on='critical' is not a severity"):
        anyio.run(
            lambda: osspolicy.audit(
                audited.backup_folder,
                fail_on="critical",  # type: ignore[arg-type]
                report_dir=None,
            )
        )
