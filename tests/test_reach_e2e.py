"""Many accounts and regions, end to end (issue 13): one emulator, two accounts, three regions.

300 buckets (50 per account and region) on one emulator that serves every region's host
(`oss-{region}.emu.test`, resolved to 127.0.0.1) over HTTPS from its test CA. Account
`alpha` signs with an aliyun CLI profile (a temporary `~/.aliyun/config.json`); account
`beta` is reached through AssumeRole against the emulator's STS, with alpha's profile as
the source. The emulator's tokens live 10 minutes, under the credentials library's
15-minute stale window, so the library fetches a fresh token for every request it signs:
tokens change many times within each job.

Each job runs through the CLI in a subprocess (the credentials library reads HOME at
import): a backup that discovers per account, a merge apply, and a restore whose
manifest has no `accounts:` (it takes them from the backup). The tests then read what
the jobs left (records, index, policies) and the emulator's request log file
(contracts §13), and check every request was signed for its bucket's region, sent to
that region's host, with its owner's key.

The CA reaches the subprocess as `SSL_CERT_FILE` (the OSS SDK's urllib3 and aiohttp
clients) and `REQUESTS_CA_BUNDLE` (the credentials library's `requests`), as a user
passes a private CA; `connection.ca_file` is not used here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from osspolicy.emulator import Emulator
from osspolicy.emulator.accounts import Account

from .e2e_helpers import (
    CliRun,
    expected_merge,
    original_policy,
    osspolicy_command,
    parsed,
    read_jsonl,
    write_baseline,
    write_manifest,
)
from .resolver import subprocess_env

ALPHA = Account("1000000000000001", "LTAI5tReachAlphaKey", "reach-alpha-Secret-6c1e9b73")
BETA = Account("2000000000000002", "LTAI5tReachBetaKey", "reach-beta-Secret-0d4f27aa")
ROLE_ARN = f"acs:ram::{BETA.account_id}:role/osspolicy-reach"
#: manifest account name -> the emulator account that owns its buckets
OWNERS = {"alpha": ALPHA, "beta": BETA}
REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-beijing")
HOME_REGION = REGIONS[0]
PER_ACCOUNT_AND_REGION = 50
BUCKETS = len(OWNERS) * len(REGIONS) * PER_ACCOUNT_AND_REGION
DOMAIN = "emu.test"
#: just over the library's 15-minute stale window: a token is fresh for 0.5-1.5 s (the
#: emulator's expiry is a whole second), so every job, which lasts 3.8 s at least, signs
#: with several, without an AssumeRole per request (which the thread engine makes one at
#: a time: at 600 s every signing fetched a token, 86 s of the suite's time)
STS_DURATION_S = 901.5
#: every request waits this long, so each job lasts several seconds however fast the
#: machine (300 buckets at concurrency 16: at least 19 rounds, 3.8 s; beta's 150 at least
#: 2 s): longer than a token stays fresh (1.5 s at most) and than the aio engine's
#: once-a-second refresh, so each job rightly signs beta's buckets with several tokens
LATENCY_MS = 200.0
PREFIX = "reach-"
SUBPROCESS_TIMEOUT_S = 300.0


def bucket_layout() -> dict[str, tuple[str, str]]:
    """Each bucket's (account name, region): 50 per account and region."""
    return {
        f"{PREFIX}{account}-{region}-{i:03d}": (account, region)
        for account in OWNERS
        for region in REGIONS
        for i in range(PER_ACCOUNT_AND_REGION)
    }


@dataclass
class Job:
    """One finished CLI job: its process, its `--json` answer, and the request log
    lines the emulator wrote while it ran."""

    run: CliRun
    answer: dict[str, Any]
    log: list[dict[str, Any]]

    @property
    def report(self) -> Path:
        return Path(self.answer["report"])

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.report / "report.jsonl")

    def oss_requests(self) -> list[dict[str, Any]]:
        """The OSS requests (not AssumeRole) of the job."""
        return [e for e in self.log if e["action"] is None]

    def assume_roles(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e["action"] == "AssumeRole"]


@dataclass
class Reach:
    """The emulator and everything the three jobs left."""

    emu: Emulator
    folder: Path
    layout: dict[str, tuple[str, str]]
    originals: dict[str, bytes | None]
    jobs: dict[str, Job] = field(default_factory=dict)
    after_apply: dict[str, bytes | None] = field(default_factory=dict)
    after_restore: dict[str, bytes | None] = field(default_factory=dict)

    def host(self, region: str, bucket: str | None = None) -> str:
        """The Host a request of `region` (and `bucket`, virtual-host style) must carry."""
        name = f"oss-{region}.{DOMAIN}:{self.emu.port}"
        return name if bucket is None else f"{bucket}.{name}"


def aliyun_home(folder: Path) -> Path:
    """A HOME whose `~/.aliyun/config.json` holds alpha's AK profile (and nothing of beta)."""
    config = {
        "current": "alpha",
        "profiles": [
            {
                "name": "alpha",
                "mode": "AK",
                "access_key_id": ALPHA.access_key_id,
                "access_key_secret": ALPHA.access_key_secret,
                "region_id": HOME_REGION,
                "output_format": "json",
                "language": "en",
            }
        ],
    }
    home = folder / "home"
    (home / ".aliyun").mkdir(parents=True)
    (home / ".aliyun" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return home


def job_env(emu: Emulator, folder: Path) -> dict[str, str]:
    """The CLI's environment: no OSS or Alibaba Cloud key variables, HOME with alpha's
    profile, test names resolved to loopback, the test CA trusted."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OSS_", "ALIBABA_CLOUD_")) and k != "COLUMNS"
    }
    env = subprocess_env(DOMAIN, base=base)
    ca = str(emu.write_ca(folder / "test-ca.pem"))
    env |= {
        "HOME": str(aliyun_home(folder)),
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
    }
    return env


def accounts(emu: Emulator) -> list[dict[str, Any]]:
    """alpha from its profile; beta through AssumeRole with alpha's profile as source."""
    profile = {"type": "profile", "profile": "alpha"}
    return [
        {"name": "alpha", "credentials": profile},
        {
            "name": "beta",
            "credentials": {
                "type": "ram_role_arn",
                "role_arn": ROLE_ARN,
                "session_name": "osspolicy-reach",
                "source": profile,
                "sts_endpoint": emu.endpoint,
            },
        },
    ]


def manifest(emu: Emulator, engine: str, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "action": action,
        "engine": engine,
        "connection": {
            "region": HOME_REGION,
            "endpoint": f"https://oss-{{region}}.{DOMAIN}:{emu.port}",
        },
        "concurrency": 16,
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }


def run_job(reach: Reach, name: str, manifest_path: Path, env: dict[str, str]) -> Job:
    """`osspolicy run MANIFEST --yes --json` to the end, with the log lines it caused."""
    log_path = reach.folder / "requests.jsonl"
    before = len(read_jsonl(log_path)) if log_path.exists() else 0
    done = subprocess.run(
        osspolicy_command("run", manifest_path, "--yes", "--json"),
        cwd=reach.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    run = CliRun(done.returncode, done.stdout, done.stderr)
    assert run.returncode == 0, (name, run.returncode, run.stdout, run.stderr[-3000:])
    job = Job(run, json.loads(run.stdout), read_jsonl(log_path)[before:])
    reach.jobs[name] = job
    return job


@pytest.fixture(scope="module", params=["threads", "aio"])
def reach(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reach]:
    """Seed 300 buckets and run backup, merge apply and restore through the CLI, once
    per engine."""
    engine: str = request.param
    folder = tmp_path_factory.mktemp(f"reach-{engine}")
    layout = bucket_layout()
    with Emulator(
        accounts=[ALPHA, BETA],
        region=HOME_REGION,
        hostname=f"oss-{{region}}.{DOMAIN}",
        tls=True,
        sts_duration_s=STS_DURATION_S,
        latency_ms=LATENCY_MS,
        request_log_path=folder / "requests.jsonl",
    ) as emu:
        originals = {name: original_policy(name, i) for i, name in enumerate(layout)}
        for account, owner in OWNERS.items():
            for region in REGIONS:
                names = [b for b, where in layout.items() if where == (account, region)]
                emu.seed_buckets(
                    names, policy=originals.get, region=region, account_id=owner.account_id
                )
        reach = Reach(emu, folder, layout, originals)
        env = job_env(emu, folder)
        both = accounts(emu)
        discover = {"discover": {"prefix": PREFIX}}

        backup_yaml = write_manifest(
            folder / "backup.yaml", manifest(emu, engine, "backup", accounts=both, targets=discover)
        )
        backup = run_job(reach, "backup", backup_yaml, env)

        write_baseline(folder)
        apply_yaml = write_manifest(
            folder / "apply.yaml",
            manifest(
                emu,
                engine,
                "apply",
                accounts=both,
                targets=discover,
                policy={"file": "baseline.json", "mode": "merge"},
            ),
        )
        run_job(reach, "apply", apply_yaml, env)
        reach.after_apply = {b: emu.state.get_policy(b) for b in layout}

        restore_yaml = write_manifest(
            folder / "restore.yaml",
            manifest(emu, engine, "restore", source=backup.answer["backup"]),
        )
        run_job(reach, "restore", restore_yaml, env)
        reach.after_restore = {b: emu.state.get_policy(b) for b in layout}
        yield reach


def by_bucket(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {r["bucket"]: r for r in records}
    assert len(found) == len(records), "a bucket was recorded twice"
    return found


def counts(job: Job) -> Mapping[str, int]:
    return Counter(r["outcome"] for r in job.records())


# -- outcomes and what each bucket holds ------------------------------------------------------


def test_each_job_accounts_for_every_bucket_without_a_retry(reach: Reach) -> None:
    """Every job has one success record per bucket, and each call was answered at its first
    try: a record's `attempts` is the number of its bucket's requests in the log, none
    repeated. No bucket failed, or needed a retry, when a token was refreshed."""
    successes = {
        "backup": {"fetched", "no_policy"},
        "apply": {"applied", "unchanged"},
        "restore": {"applied", "deleted", "unchanged"},
    }
    for name, job in reach.jobs.items():
        records = by_bucket(job.records())
        assert set(records) == set(reach.layout), name
        assert {r["outcome"] for r in records.values()} <= successes[name], counts(job)
        calls = Counter(
            (e["bucket"], e["method"], e["subresource"])
            for e in job.oss_requests()
            if e["bucket"] is not None
        )
        assert max(calls.values()) == 1, name
        per_bucket = Counter(bucket for bucket, _, _ in calls)
        assert {b: r["attempts"] for b, r in records.items()} == per_bucket, name


def test_the_backup_holds_every_policys_bytes_and_the_missing_ones(reach: Reach) -> None:
    """The backup's files are each bucket's bytes exactly; a bucket without a policy has
    no file and `had_policy: false`; the summary is complete and names both accounts."""
    folder = Path(reach.jobs["backup"].answer["backup"])
    index = by_bucket(read_jsonl(folder / "index.jsonl"))
    assert set(index) == set(reach.layout)
    for bucket, original in reach.originals.items():
        path = folder / "policies" / f"{bucket}.json"
        assert index[bucket]["had_policy"] is (original is not None), bucket
        assert (path.read_bytes() if path.exists() else None) == original, bucket
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["complete"] is True
    assert [a["name"] for a in summary["accounts"]] == ["alpha", "beta"]


def test_the_merge_reaches_every_bucket_of_both_accounts_and_all_regions(reach: Reach) -> None:
    """After the apply every bucket holds its own policy with the baseline merged in."""
    wrong = [
        bucket
        for bucket, original in reach.originals.items()
        if parsed(reach.after_apply[bucket]) != expected_merge(original, bucket)
    ]
    assert wrong == []


def test_the_restore_gives_every_bucket_back_its_bytes(reach: Reach) -> None:
    """After the restore every bucket holds its original bytes again, or no policy."""
    wrong = [b for b, body in reach.originals.items() if reach.after_restore[b] != body]
    assert wrong == []
    assert counts(reach.jobs["restore"])["deleted"] == sum(
        body is None for body in reach.originals.values()
    )


def test_every_record_and_index_line_names_the_buckets_account_and_region(reach: Reach) -> None:
    """`account` and `region` of every record (three jobs) and every index line are the
    bucket's owner and region."""
    backup = Path(reach.jobs["backup"].answer["backup"])
    lines = {
        **{f"{name}:{r['bucket']}": r for name, job in reach.jobs.items() for r in job.records()},
        **{f"index:{r['bucket']}": r for r in read_jsonl(backup / "index.jsonl")},
    }
    assert len(lines) == 4 * BUCKETS
    wrong = {
        key: (line["account"], line["region"])
        for key, line in lines.items()
        if (line["account"], line["region"]) != reach.layout[line["bucket"]]
    }
    assert wrong == {}


def test_the_restore_manifest_has_no_accounts_and_still_signs_as_each_owner(reach: Reach) -> None:
    """The restore ran without `accounts:` (the backup's summary named them), and each of
    its writes was signed by the key of the account owning the bucket."""
    restore = reach.jobs["restore"]
    effective = (restore.report / "manifest.yaml").read_text(encoding="utf-8")
    assert "accounts:" not in (reach.folder / "restore.yaml").read_text(encoding="utf-8")
    assert "role_arn" not in effective
    writes = [e for e in restore.oss_requests() if e["method"] in {"PUT", "DELETE"}]
    changed = sum(counts(restore)[o] for o in ("applied", "deleted"))
    assert len(writes) == changed > 0
    owners = Counter(
        (reach.layout[e["bucket"]][0], reach.emu.account_of_key(e["access_key_id"])) for e in writes
    )
    assert set(owners) == {("alpha", ALPHA.account_id), ("beta", BETA.account_id)}


# -- the request log -------------------------------------------------------------------------


def test_every_request_is_signed_for_and_sent_to_its_buckets_region(reach: Reach) -> None:
    """Every bucket request's V4 scope is the bucket's region and its Host that region's
    bucket host; ListBuckets is signed for and sent to the connection's region."""
    wrong = []
    for name, job in reach.jobs.items():
        for entry in job.oss_requests():
            bucket = entry["bucket"]
            region = HOME_REGION if bucket is None else reach.layout[bucket][1]
            want = (region, reach.host(region, bucket))
            if (entry["scope_region"], entry["host"]) != want:
                wrong.append((name, entry))
    assert wrong == []
    regions = Counter(e["scope_region"] for j in reach.jobs.values() for e in j.oss_requests())
    assert set(regions) == set(REGIONS)


def test_every_request_carries_its_owners_key(reach: Reach) -> None:
    """alpha's buckets are signed with alpha's own key, beta's with STS temporary keys of
    beta's account; ListBuckets once per account in each discovering job; beta's own
    permanent key is never used."""
    for name, job in reach.jobs.items():
        listings = Counter()
        for entry in job.oss_requests():
            key = entry["access_key_id"]
            if entry["bucket"] is None:
                listings[reach.emu.account_of_key(key)] += 1
                continue
            account = reach.layout[entry["bucket"]][0]
            if account == "alpha":
                assert key == ALPHA.access_key_id, (name, entry)
            else:
                assert key.startswith("STS."), (name, entry)
                assert reach.emu.account_of_key(key) == BETA.account_id, (name, entry)
        discovers = name in {"backup", "apply"}
        assert listings == (
            Counter({ALPHA.account_id: 1, BETA.account_id: 1}) if discovers else Counter()
        ), name
    assert all(e["access_key_id"] != BETA.access_key_id for j in reach.jobs.values() for e in j.log)


def test_beta_is_reached_by_assume_role_with_fresh_tokens_during_each_job(reach: Reach) -> None:
    """Each job calls AssumeRole more than once, always signed by alpha's profile key and
    answered 200, and its requests to beta's buckets use more than one temporary key."""
    for name, job in reach.jobs.items():
        calls = job.assume_roles()
        assert len(calls) > 1, name
        assert {(e["access_key_id"], e["status"]) for e in calls} == {(ALPHA.access_key_id, 200)}, (
            name
        )
        temporary = {
            e["access_key_id"]
            for e in job.oss_requests()
            if e["bucket"] is not None and reach.layout[e["bucket"]][0] == "beta"
        }
        assert len(temporary) > 1, name


def test_no_request_was_refused(reach: Reach) -> None:
    """No 400 or 403 in the whole log; the only 404s are reads of buckets without a policy."""
    statuses = Counter(e["status"] for j in reach.jobs.values() for e in j.log)
    assert set(statuses) <= {200, 204, 404}, statuses
    not_found = [e for j in reach.jobs.values() for e in j.log if e["status"] == 404]
    assert all(e["method"] == "GET" and e["subresource"] == "policy" for e in not_found), not_found[
        :3
    ]


def test_no_secret_in_any_output_file_or_log(reach: Reach) -> None:
    """Neither account's secret is in the CLI's output, the job folders or the request log."""
    secrets = (ALPHA.access_key_secret, BETA.access_key_secret)
    texts = [j.run.stdout + j.run.stderr for j in reach.jobs.values()]
    for root in ("reports", "backups"):
        texts += [
            p.read_text(encoding="utf-8", errors="replace")
            for p in (reach.folder / root).rglob("*")
            if p.is_file()
        ]
    texts.append((reach.folder / "requests.jsonl").read_text(encoding="utf-8"))
    assert [s for s in secrets for text in texts if s in text] == []
