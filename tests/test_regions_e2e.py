"""Region ids through the real console script (contracts §15 "Regions", §10): a typo is a
one-line validation error with "did you mean", sending nothing; a region newer than the
known list works with an explicit endpoint, with a warning."""

from __future__ import annotations

from pathlib import Path

from osspolicy.emulator import Emulator

from .e2e_helpers import assert_one_line_error, run_cli, write_manifest


def _job(tmp_path: Path, connection: dict[str, str]) -> Path:
    return write_manifest(
        tmp_path / "job.yaml",
        {"action": "backup", "connection": connection, "targets": {"buckets": ["app-logs"]}},
    )


def test_validate_refuses_a_region_typo_with_did_you_mean(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`validate` of `cn-hanzhou` exits 2 with one line "did you mean cn-hangzhou?"."""
    job = _job(tmp_path, {"region": "cn-hanzhou"})
    done = run_cli(oss_emulator, "validate", job, cwd=tmp_path)
    assert_one_line_error(done)
    assert "did you mean cn-hangzhou?" in done.stderr


def test_run_with_a_region_typo_sends_nothing(tmp_path: Path, oss_emulator: Emulator) -> None:
    """`run` with a region typo (`--region cn-hanzhou`) sends no request and leaves no folder."""
    oss_emulator.seed_buckets(["app-logs"])
    job = _job(tmp_path, {"region": "cn-hangzhou"})
    done = run_cli(oss_emulator, "run", "--yes", "--region", "cn-hanzhou", job, cwd=tmp_path)
    assert_one_line_error(done)
    assert "did you mean cn-hangzhou?" in done.stderr
    assert oss_emulator.request_log == []
    assert not (tmp_path / "backups").exists()


def test_a_new_region_with_an_explicit_endpoint_validates_with_a_warning(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """An id not on the list is accepted with an explicit endpoint, one warning on stderr."""
    job = _job(tmp_path, {"region": "xx-newplace-1", "endpoint": oss_emulator.endpoint})
    done = run_cli(oss_emulator, "validate", job, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "valid backup job" in " ".join(done.stdout.split())  # wrapping: not ours
    stderr = " ".join(done.stderr.split())  # unwrapped: wrapping is the CLI output work's
    assert stderr.count("osspolicy: warning:") == 1
    assert "'xx-newplace-1' is not an OSS region this release knows" in stderr
