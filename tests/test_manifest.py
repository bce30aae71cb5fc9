"""The job manifest: defaults, overrides, and one-sentence errors naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from osspolicy.errors import ManifestError
from osspolicy.manifest import load_manifest, manifest_sha256, manifest_yaml

BACKUP = """\
version: 1
action: backup
targets:
  buckets: [app-logs, app-data]
connection:
  region: cn-hangzhou
  endpoint: http://127.0.0.1:9000
"""


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ManifestError) as info:
        load_manifest(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message  # one line, always
    return message


def test_a_minimal_backup_manifest_gets_the_contract_defaults(tmp_path: Path) -> None:
    """Unset keys take contracts §1 defaults; relative dirs resolve from the manifest."""
    manifest = load_manifest(write(tmp_path, BACKUP))
    assert manifest.concurrency == 16
    assert manifest.retry.attempts == 10
    assert manifest.retry.base_delay_s == 0.2
    assert manifest.retry.max_delay_s == 10
    assert manifest.connection.connect_timeout_s == 5
    assert manifest.connection.read_timeout_s == 20
    assert manifest.engine == "threads"
    assert manifest.backup_dir == tmp_path / "backups"
    assert manifest.report_dir == tmp_path / "reports"


def test_relative_paths_resolve_from_the_manifest_folder(tmp_path: Path) -> None:
    """buckets_file and report_dir are read relative to the manifest, not the cwd."""
    (tmp_path / "jobs").mkdir()
    text = BACKUP.replace("buckets: [app-logs, app-data]", "buckets_file: names.txt")
    manifest = load_manifest(write(tmp_path / "jobs", text + "report_dir: ../out\n"))
    assert manifest.targets.buckets_file == tmp_path / "jobs" / "names.txt"
    assert Path(manifest.report_dir).resolve() == (tmp_path / "out").resolve()


def test_cli_overrides_win_and_change_the_hash(tmp_path: Path) -> None:
    """--endpoint/--region/--concurrency override the file; the effective manifest is
    what is recorded and hashed."""
    path = write(tmp_path, BACKUP)
    plain = load_manifest(path)
    overridden = load_manifest(path, {"endpoint": "http://127.0.0.1:1", "concurrency": 64})
    assert overridden.connection.endpoint == "http://127.0.0.1:1"
    assert overridden.concurrency == 64
    assert manifest_sha256(plain) != manifest_sha256(overridden)
    assert "concurrency: 64" in manifest_yaml(overridden)


def test_the_hash_is_stable(tmp_path: Path) -> None:
    """Loading the same manifest twice gives the same sha256 (resume relies on it)."""
    path = write(tmp_path, BACKUP)
    assert manifest_sha256(load_manifest(path)) == manifest_sha256(load_manifest(path))


def test_an_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """A misspelt key is reported as unknown, with the key it probably meant."""
    message = error_for(tmp_path, BACKUP.replace("action:", "actoin:"))
    assert "actoin: unknown key; did you mean action?" in message
    assert "job.yaml" in message


def test_an_unknown_nested_key_names_its_path(tmp_path: Path) -> None:
    """Unknown keys are rejected at every level, named by their full key path."""
    message = error_for(tmp_path, BACKUP.replace("  region: cn", "  regoin: x\n  region: cn"))
    assert "connection.regoin: unknown key; did you mean region?" in message


def test_a_bad_list_item_names_its_index(tmp_path: Path) -> None:
    """An invalid bucket name is a validation error naming targets.buckets[i]."""
    message = error_for(tmp_path, BACKUP.replace("app-data", "App_Data"))
    assert "targets.buckets" in message
    assert "not a valid OSS bucket name" in message


def test_a_missing_required_key_says_to_add_it(tmp_path: Path) -> None:
    """connection.region is required."""
    message = error_for(tmp_path, BACKUP.replace("  region: cn-hangzhou\n", ""))
    assert "connection.region: required key is missing; add it" in message


def test_a_wrong_action_lists_the_allowed_ones(tmp_path: Path) -> None:
    """An unknown action names the four that exist."""
    message = error_for(tmp_path, BACKUP.replace("action: backup", "action: backpu"))
    assert "action" in message
    assert "'backup'" in message
    assert "'restore'" in message


def test_exactly_one_kind_of_target(tmp_path: Path) -> None:
    """buckets and discover together are refused."""
    text = BACKUP.replace("  buckets: [app-logs, app-data]", "  buckets: [a-1]\n  discover: {}")
    assert "exactly one of buckets, buckets_file or discover" in error_for(tmp_path, text)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error gives the line and column."""
    message = error_for(tmp_path, BACKUP + "targets: [unclosed\n")
    assert "not valid YAML at line" in message


def test_a_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    """A manifest path that does not exist is one clear line."""
    with pytest.raises(ManifestError, match="no such file"):
        load_manifest(tmp_path / "nope.yaml")


def test_an_endpoint_must_be_an_http_url(tmp_path: Path) -> None:
    """connection.endpoint must be an http(s) URL or a bare host (https assumed)."""
    message = error_for(tmp_path, BACKUP.replace("http://127.0.0.1:9000", "ftp://127.0.0.1"))
    assert "connection.endpoint" in message
    assert "http(s) URL" in message


def test_apply_needs_a_policy(tmp_path: Path) -> None:
    """An apply job without a policy section is refused before any request."""
    message = error_for(tmp_path, BACKUP.replace("action: backup", "action: apply"))
    assert "policy" in message


def test_credentials_are_not_a_manifest_key(tmp_path: Path) -> None:
    """Credentials never appear in a manifest: an access key key is unknown."""
    message = error_for(tmp_path, BACKUP + "access_key_secret: x\n")
    assert "access_key_secret: unknown key" in message
