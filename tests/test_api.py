"""The Python API (contracts §16), end to end against the emulator: one async function
per job, the gate in the library, results as an async iterator, credentials as objects,
read-only jobs with no folder. docs/api.md's examples run in test_api_docs.py; these are
the edges a caller meets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import osspolicy
from osspolicy.emulator import Emulator

BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "api-deny-insecure",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:${bucket}", "acs:oss:*:*:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}
NAMES = [f"api-{i}" for i in range(4)]


def _keys(emu: Emulator, folder: Path, **more: Any) -> dict[str, Any]:
    return {
        "targets": {"buckets": NAMES},
        "connection": {"region": emu.region, "endpoint": emu.endpoint},
        "backup_dir": str(folder / "backups"),
        "report_dir": str(folder / "reports"),
        **more,
    }


def _apply_keys(emu: Emulator, folder: Path) -> dict[str, Any]:
    (folder / "baseline.json").write_text(json.dumps(BASELINE))
    return _keys(emu, folder, policy={"file": str(folder / "baseline.json")})


def _writes(emu: Emulator) -> list[str]:
    return [e.method for e in emu.request_log if e.method in {"PUT", "DELETE"}]


@pytest.fixture
def emu(oss_emulator: Emulator) -> Emulator:
    oss_emulator.seed_buckets(NAMES)
    return oss_emulator


@pytest.mark.asyncio
async def test_a_writing_job_with_neither_confirm_nor_yes_sends_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    """The library has the CLI's gate: no `confirm`, no `yes` → ConfigError, no request."""
    emu.clear_log()
    with pytest.raises(osspolicy.ConfigError, match="nothing confirmed it"):
        await osspolicy.apply(_apply_keys(emu, tmp_path), credentials=emu.credentials)
    assert len(emu.request_log) == 0


@pytest.mark.asyncio
async def test_an_async_confirm_sees_the_plan_and_a_no_writes_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    """`confirm` may be async; it is shown the plan's counts and run; a no raises
    NotConfirmed naming the plan, and no PUT was sent."""
    shown: list[osspolicy.PlanToConfirm] = []

    async def no(plan: osspolicy.PlanToConfirm) -> bool:
        shown.append(plan)
        return False

    with pytest.raises(osspolicy.NotConfirmed, match="nothing written"):
        await osspolicy.apply(_apply_keys(emu, tmp_path), confirm=no, credentials=emu.credentials)
    (plan,) = shown
    assert plan.count == len(NAMES)
    assert plan.changes["create"] == len(NAMES)
    assert plan.run is not None
    assert plan.run.action == "plan"
    assert _writes(emu) == []


@pytest.mark.asyncio
async def test_a_yes_writes_exactly_the_plan_it_was_shown(emu: Emulator, tmp_path: Path) -> None:
    """A bucket changed between the plan and the write is a `conflict`, not written."""
    keys = _apply_keys(emu, tmp_path)

    def yes_but_meanwhile(plan: osspolicy.PlanToConfirm) -> bool:
        other = {"Effect": "Deny", "Principal": ["*"], "Action": ["oss:GetObject"]}
        other["Resource"] = ["acs:oss:*:*:api-0/*"]
        emu.state.put_policy("api-0", json.dumps({"Version": "1", "Statement": [other]}).encode())
        return True

    run = await osspolicy.apply(keys, confirm=yes_but_meanwhile, credentials=emu.credentials)
    assert run.action == "apply"
    outcomes = {r["bucket"]: r["outcome"] for r in run.records()}
    assert outcomes == {
        "api-0": "conflict",
        "api-1": "applied",
        "api-2": "applied",
        "api-3": "applied",
    }


@pytest.mark.asyncio
async def test_nothing_to_write_returns_the_plan(emu: Emulator, tmp_path: Path) -> None:
    """Once applied, a second apply's plan changes nothing: its run is returned, and
    `confirm` is not asked."""
    keys = _apply_keys(emu, tmp_path)
    await osspolicy.apply(keys, yes=True, credentials=emu.credentials)
    asked: list[object] = []
    run = await osspolicy.apply(keys, confirm=asked.append, credentials=emu.credentials)
    assert (run.action, run.exit_code, asked) == ("plan", 0, [])


@pytest.mark.asyncio
async def test_read_only_jobs_with_no_report_folder_write_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    """`plan` and `check` with `report_dir=None`: records in `run.results`, no file."""
    keys = _apply_keys(emu, tmp_path)
    planned = await osspolicy.plan(keys, report_dir=None, credentials=emu.credentials)
    checked = await osspolicy.check(keys, report_dir=None, credentials=emu.credentials)
    assert {r.outcome for r in planned.results} == {osspolicy.Outcome.PLANNED}
    assert checked.exit_code == 3  # drifted: nothing applied yet
    assert (planned.report_folder, checked.report_folder) == (None, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]  # noqa: ASYNC240


@pytest.mark.asyncio
async def test_a_backup_needs_its_folder(emu: Emulator, tmp_path: Path) -> None:
    """A backup's result is a folder: `report_dir=None` is not offered (a TypeError)
    and a manifest of another action is refused, naming the function to call."""
    with pytest.raises(osspolicy.ConfigError, match=r"call osspolicy\.apply\(\)"):
        await osspolicy.backup(
            osspolicy.parse_manifest(
                {"action": "apply", **_apply_keys(emu, tmp_path)}, source="t", base=tmp_path
            )
        )


@pytest.mark.asyncio
async def test_credentials_are_objects_and_a_wrong_name_is_refused(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`credentials=AccessKey` signs every account (the environment has none); one
    named for an account the job lacks is a ConfigError, nothing sent."""
    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    run = await osspolicy.backup(_keys(emu, tmp_path), credentials=emu.credentials)
    assert run.exit_code == 0
    assert "secret" not in repr(emu.credentials).lower().replace("access_key_secret", "")
    emu.clear_log()
    with pytest.raises(osspolicy.ConfigError, match="account prod, which the job does not have"):
        await osspolicy.backup(_keys(emu, tmp_path), credentials={"prod": emu.credentials})
    assert len(emu.request_log) == 0


@pytest.mark.asyncio
async def test_stream_yields_every_record_and_then_the_run(emu: Emulator, tmp_path: Path) -> None:
    """Every record once, in finishing order, the same records as the job's report;
    `progress` counted them; then `run`."""
    told: list[osspolicy.JobProgress] = []
    async with osspolicy.stream(
        osspolicy.backup, _keys(emu, tmp_path), credentials=emu.credentials, progress=told.append
    ) as results:
        streamed = [result async for result in results]
    assert sorted(r.bucket for r in streamed) == NAMES
    assert [r.to_record() for r in streamed] == results.run.records()  # report.jsonl's
    assert results.run.exit_code == 0
    assert [p.finished for p in told] == [0, 1, 2, 3, 4]
    assert told[0].total == len(NAMES)


@pytest.mark.asyncio
async def test_a_stream_left_early_cancels_the_job(emu: Emulator, tmp_path: Path) -> None:
    """Leaving the block after one record cancels the job; `run` says it never ended."""
    async with osspolicy.stream(
        osspolicy.backup, _keys(emu, tmp_path), credentials=emu.credentials, buffer=1
    ) as results:
        async for _ in results:
            break
    with pytest.raises(RuntimeError, match="has not finished"):
        _ = results.run


@pytest.mark.asyncio
async def test_a_jobs_error_reaches_the_reader_after_the_records(tmp_path: Path) -> None:
    """A job that fails before any record (a ConfigError) raises it from the iteration."""
    keys = {"targets": {"buckets": ["x-1"]}, "connection": {"region": "cn-hanzhou"}}
    seen: list[osspolicy.Result] = []

    async def read_all() -> None:
        async with osspolicy.stream(osspolicy.backup, keys) as results:
            seen.extend([result async for result in results])

    with pytest.raises(osspolicy.ManifestError, match="did you mean cn-hangzhou"):
        await read_all()
    assert seen == []


@pytest.mark.asyncio
async def test_validate_checks_without_a_request(tmp_path: Path) -> None:
    """`validate` reads the baseline and refuses a lockout, sending nothing."""
    locked = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": ["*"],
                "Action": ["oss:*"],
                "Resource": ["acs:oss:*:*:${bucket}"],
            }
        ],
    }
    (tmp_path / "lock.json").write_text(json.dumps(locked))
    keys = {
        "action": "apply",
        "targets": {"buckets": ["x-1"]},
        "connection": {"region": "cn-hangzhou"},
        "policy": {"file": str(tmp_path / "lock.json")},
    }
    with pytest.raises(osspolicy.PolicyDocumentError):
        await osspolicy.validate(keys)


@pytest.mark.asyncio
async def test_credentials_of_the_wrong_shape_are_refused_without_echoing_them(
    emu: Emulator, tmp_path: Path
) -> None:
    """A tuple (or a mapping to strings) may hold a secret: refused, never quoted."""
    secret = "TOPSECRET-42-never-shown"
    for wrong in (("LTAI-x", secret), {"default": secret}):
        with pytest.raises(osspolicy.ConfigError) as caught:
            await osspolicy.backup(_keys(emu, tmp_path), credentials=wrong)  # type: ignore[arg-type]
        assert secret not in str(caught.value)
        assert "takes an AccessKey" in str(caught.value)


@pytest.mark.asyncio
async def test_confirm_and_yes_together_are_refused(emu: Emulator, tmp_path: Path) -> None:
    """yes=True would write without asking the confirm given with it: ask which."""
    emu.clear_log()
    with pytest.raises(osspolicy.ConfigError, match="not both"):
        await osspolicy.apply(
            _apply_keys(emu, tmp_path),
            confirm=lambda plan: False,
            yes=True,
            credentials=emu.credentials,
        )
    assert len(emu.request_log) == 0


@pytest.mark.asyncio
async def test_a_stream_of_a_confirmed_apply_yields_the_applys_records_only(
    emu: Emulator, tmp_path: Path
) -> None:
    """The plan made for `confirm` is shown to it, not streamed: one record per bucket."""
    async with osspolicy.stream(
        osspolicy.apply,
        _apply_keys(emu, tmp_path),
        confirm=lambda plan: True,
        credentials=emu.credentials,
    ) as results:
        streamed = [(r.action, r.outcome.value) async for r in results]
    assert streamed == [("apply", "applied")] * len(NAMES)


@pytest.mark.asyncio
async def test_a_manifest_file_path_is_a_manifest(emu: Emulator, tmp_path: Path) -> None:
    """`backup("jobs/x.yaml")` reads the file as the command does."""
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps({"action": "backup", **_keys(emu, tmp_path)}))
    run = await osspolicy.backup(str(job), credentials=emu.credentials)
    assert run.exit_code == 0


@pytest.mark.asyncio
async def test_an_async_progress_and_a_folderless_backup_are_refused(
    emu: Emulator, tmp_path: Path
) -> None:
    """progress= is called, not awaited: an async one would see nothing, so it is a
    ConfigError; a backup's result is its folder: report_dir=None is refused."""

    async def progress(_: osspolicy.JobProgress) -> None:
        return None

    with pytest.raises(osspolicy.ConfigError, match="progress= is called, not awaited"):
        await osspolicy.backup(_keys(emu, tmp_path), credentials=emu.credentials, progress=progress)
    assert not (tmp_path / "reports").exists()  # refused before the job began
    with pytest.raises(osspolicy.ConfigError, match="cannot run without a report folder"):
        await osspolicy.backup(_keys(emu, tmp_path), report_dir=None, credentials=emu.credentials)  # type: ignore[arg-type]
