"""directory: a backup over a Resource Directory against the same buckets in one account.

Issue 22's scale: 200 members x 50 buckets (10,000 buckets), in the production shape
(`_emulator.py`: TLS, a host per bucket, the test CA passed as `connection.ca_file` to
OSS and as `REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE` to the directory's SDK package and the
credentials library's AssumeRole, as a user passes a private CA). Two backups, each in a
fresh process (`job_child.py`: wall, CPU, peak RSS of that job alone), c=64, 50 ms:

1. directory: the emulator plays the directory (a management account with keys and no
   buckets, 200 members with the role and 50 buckets each); the job lists it
   (GetResourceDirectory, ListAccounts), assumes the role in every member (paced at the
   directory's default 20 a second), then lists and backs up each member's buckets;
2. one account: the same 10,000 buckets (a third without a policy, as everywhere here)
   in the emulator's one account, listed and backed up with its own keys.

The table prints both and the ratio directory / one account of wall time, CPU per
bucket and peak RSS, with the AssumeRole calls and the directory calls counted from the
emulator's request log (on for this section), and how long the AssumeRole phase took
(first to last AssumeRole, as the emulator saw them arrive): the pacing alone is
members / 20 seconds, before the first bucket.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._emulator import EmulatorProcess
from ._policies import mixed_policy
from ._report import Table, ratio
from .job_child import ChildResult, run_in_child

__all__ = ("DirectoryResult", "run_directory")

CONCURRENCY = 64
LATENCY_MS = 50.0
ROLE = "osspolicy"
MANAGEMENT_ID = "1000000000000001"
#: the management account's keys, the emulator's only (never a real account's)
MANAGEMENT_KEY = ("LTAI5tBenchDirectoryMgmt", "bench-directory-management-secret")
ONE_ACCOUNT_PREFIX = "one-"
#: the emulator's request log must hold a whole job: every bucket call and the rest
_LOG_LIMIT = 1_000_000


def member_id(number: int) -> str:
    return f"2{number:015d}"


def directory_document(members: int, per_member: int) -> dict[str, Any]:
    """The emulator's directory: the management account in the Root folder, the members
    in one folder below it, each with the role and `per_member` buckets `m<n>-NNNNN`."""
    return {
        "management": MANAGEMENT_ID,
        "folders": [
            {"id": "r-root00", "name": "Root"},
            {"id": "fd-bench00001", "name": "bench", "parent": "r-root00"},
        ],
        "accounts": [
            {
                "id": MANAGEMENT_ID,
                "name": "management",
                "status": "CreateSuccess",
                "folder": "r-root00",
                "access_key_id": MANAGEMENT_KEY[0],
                "access_key_secret": MANAGEMENT_KEY[1],
            },
            *(
                {
                    "id": member_id(number),
                    "name": f"member-{number:03d}",
                    "status": "CreateSuccess",
                    "folder": "fd-bench00001",
                    "roles": [ROLE],
                    "buckets": [f"m{number:03d}-:{per_member}"],
                }
                for number in range(1, members + 1)
            ),
        ],
    }


@dataclass(frozen=True, slots=True)
class Row:
    """One backup: how it ran, and what the emulator saw of it."""

    shape: str
    engine: str
    result: ChildResult
    assume_roles: int
    directory_calls: int
    assume_phase_s: float | None


@dataclass(frozen=True, slots=True)
class DirectoryResult:
    rows: tuple[Row, ...]
    table: Table


def _manifest(emu: EmulatorProcess, engine: str, **job: Any) -> dict[str, Any]:
    return {
        "action": "backup",
        "targets": {"discover": {}},
        "connection": {
            "region": emu.region,
            "endpoint": emu.endpoint,
            "ca_file": str(emu.ca_bundle),
        },
        "concurrency": CONCURRENCY,
        "engine": engine,
        **job,
    }


def _env(emu: EmulatorProcess) -> dict[str, str]:
    """The job process's environment: the emulator's keys and resolver, and its CA for
    the directory's SDK package and the credentials library (`ca_file` is OSS's only)."""
    env = emu.env()
    env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = str(emu.ca_bundle)
    return env


def _row(shape: str, engine: str, emu: EmulatorProcess, result: ChildResult) -> Row:
    seen = emu.actions()
    counts: dict[str | None, int] = seen["counts"]
    assume = seen["assume"]
    return Row(
        shape,
        engine,
        result,
        assume_roles=counts.get("AssumeRole", 0),
        directory_calls=sum(
            n for action, n in counts.items() if action not in {None, "AssumeRole"}
        ),
        assume_phase_s=None if assume is None else assume[1] - assume[0],
    )


def _backup(
    emu: EmulatorProcess, engine: str, folder: Path, buckets: int, **job: Any
) -> ChildResult:
    emu.clear_log()
    result = run_in_child(_manifest(emu, engine, **job), folder, _env(emu))
    if result.exit_code != 0 or result.buckets != buckets:
        raise RuntimeError(f"the backup ({engine}, {job or 'one account'}) failed: {result}")
    return result


def _directory_backup(
    members: int, per_member: int, engine: str, folder: Path, progress: Callable[[str], None]
) -> Row:
    document = directory_document(members, per_member)
    with EmulatorProcess(
        latency_ms=LATENCY_MS, production=True, resource_directory=document, log_limit=_LOG_LIMIT
    ) as emu:
        emu.seed_policies(mixed_policy)
        account = {
            "name": "org",
            "credentials": {"type": "env"},
            "resource_directory": {
                "role": ROLE,
                "endpoint": emu.endpoint,
                "sts_endpoint": emu.endpoint,
            },
        }
        result = _backup(emu, engine, folder, members * per_member, accounts=[account])
        progress(f"directory backup ({engine}): {result.wall_s:.1f} s")
        return _row(f"directory: {members} members x {per_member}", engine, emu, result)


def _one_account_backup(
    buckets: int, engine: str, folder: Path, progress: Callable[[str], None]
) -> Row:
    with EmulatorProcess(latency_ms=LATENCY_MS, production=True, log_limit=_LOG_LIMIT) as emu:
        emu.seed(ONE_ACCOUNT_PREFIX, buckets, mixed_policy)
        result = _backup(emu, engine, folder, buckets)
        progress(f"one-account backup ({engine}): {result.wall_s:.1f} s")
        return _row(f"one account: {buckets:,} buckets", engine, emu, result)


def _ratio_cell(value: float) -> str:
    return f"{value:.2f}x"


def _table(rows: Sequence[Row], members: int, per_member: int) -> Table:
    table = Table(
        f"directory: a backup of {members} members x {per_member} buckets against the same "
        f"{members * per_member:,} buckets in one account; production shape (TLS, a host "
        f"per bucket), c={CONCURRENCY}, {LATENCY_MS:.0f} ms latency, each job in a fresh "
        "process",
        (
            "shape",
            "engine",
            "wall s",
            "buckets/s",
            "CPU ms/bucket",
            "peak RSS MB",
            "AssumeRole",
            "directory calls",
            "AssumeRole phase s",
            "exit",
        ),
    )
    for row in rows:
        run = row.result
        table.add(
            row.shape,
            row.engine,
            f"{run.wall_s:.1f}",
            f"{ratio(run.buckets, run.wall_s):,.0f}",
            f"{ratio(run.cpu_s, run.buckets) * 1000:.2f}",
            f"{run.rss_peak_mb:.1f}",
            f"{row.assume_roles:,}",
            f"{row.directory_calls:,}",
            "-" if row.assume_phase_s is None else f"{row.assume_phase_s:.1f}",
            str(run.exit_code),
        )
    by_engine: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_engine.setdefault(row.engine, {})[row.shape.split(":")[0]] = row
    for engine, pair in by_engine.items():
        directory, one = pair.get("directory"), pair.get("one account")
        if directory is None or one is None:
            continue
        d, o = directory.result, one.result
        table.add(
            "directory / one account",
            engine,
            _ratio_cell(ratio(d.wall_s, o.wall_s)),
            _ratio_cell(ratio(ratio(d.buckets, d.wall_s), ratio(o.buckets, o.wall_s))),
            _ratio_cell(ratio(ratio(d.cpu_s, d.buckets), ratio(o.cpu_s, o.buckets))),
            _ratio_cell(ratio(d.rss_peak_mb, o.rss_peak_mb)),
            "-",
            "-",
            "-",
            "-",
        )
    table.notes.append(
        "AssumeRole and directory calls are counted in the emulator's request log; the "
        "AssumeRole phase is the first to the last AssumeRole's arrival (paced at 20 a "
        f"second by default: {members} members take at least {(members - 1) / 20:.1f} s)."
    )
    return table


def run_directory(
    members: int,
    per_member: int,
    engines: Sequence[str] = ("threads",),
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> DirectoryResult:
    """A backup over a directory of `members` x `per_member` buckets and one of the same
    number of buckets in one account, per engine, each in the production shape."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            folder = Path(tmp) / engine
            (folder / "directory").mkdir(parents=True)
            (folder / "one").mkdir()
            rows.append(
                _directory_backup(members, per_member, engine, folder / "directory", progress)
            )
            rows.append(_one_account_backup(members * per_member, engine, folder / "one", progress))
    return DirectoryResult(tuple(rows), _table(rows, members, per_member))
