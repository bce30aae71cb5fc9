"""The job manifest: defaults, overrides, and one-sentence errors naming file, key and fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from osspolicy._internal.errors import ManifestError, PolicyDocumentError
from osspolicy._internal.manifest import Manifest, load_manifest, manifest_yaml, parse_manifest
from osspolicy._internal.resume_hash import differing_keys, manifest_sha256, outcome_fields

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


def test_timeouts_default_to_a_call_of_120_s_and_a_stop_grace_of_5_s(tmp_path: Path) -> None:
    """Without `timeouts:` one attempt may last 120 s and a stop waits 5 s (contracts §1)."""
    manifest = load_manifest(write(tmp_path, BACKUP))
    assert (manifest.timeouts.call_s, manifest.timeouts.stop_grace_s) == (120, 5)


@pytest.mark.parametrize("key", ["call_s", "stop_grace_s"])
@pytest.mark.parametrize("value", [0, -1])
def test_a_timeout_must_be_a_positive_number(tmp_path: Path, key: str, value: int) -> None:
    """`timeouts.call_s` and `timeouts.stop_grace_s` of zero or less are one line naming
    the key path, before any request."""
    message = error_for(tmp_path, BACKUP + f"timeouts:\n  {key}: {value}\n")
    assert f"timeouts.{key}" in message
    assert "greater than 0" in message


def test_relative_paths_resolve_from_the_manifest_folder(tmp_path: Path) -> None:
    """buckets_file and report_dir are read relative to the manifest, not the cwd."""
    (tmp_path / "jobs").mkdir()
    text = BACKUP.replace("buckets: [app-logs, app-data]", "buckets_file: names.txt")
    manifest = load_manifest(write(tmp_path / "jobs", text + "report_dir: ../out\n"))
    assert manifest.targets.buckets_file == tmp_path / "jobs" / "names.txt"
    assert Path(manifest.report_dir).resolve() == (tmp_path / "out").resolve()


def test_cli_overrides_win_and_leave_the_resume_hash_alone(tmp_path: Path) -> None:
    """--endpoint/--concurrency override the file and the effective manifest records them,
    but they decide no outcome, so the resume hash stays the same (contracts §5)."""
    path = write(tmp_path, BACKUP)
    plain = load_manifest(path)
    overridden = load_manifest(path, {"endpoint": "http://127.0.0.1:1", "concurrency": 64})
    assert overridden.connection.endpoint == "http://127.0.0.1:1"
    assert overridden.concurrency == 64
    assert manifest_sha256(plain) == manifest_sha256(overridden)
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


# -- safety keys (contracts §1, §11) ----------------------------------------------------------

APPLY = """\
action: apply
targets:
  buckets: [app-logs, app-data]
connection:
  region: cn-hangzhou
  endpoint: http://127.0.0.1:9000
policy:
  file: baseline.json
"""
BASELINE_DOC: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-http",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}


def apply_job(tmp_path: Path, extra: str = "") -> Manifest:
    """An apply manifest (plus `extra` top-level YAML) whose baseline file exists."""
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE_DOC))
    return load_manifest(write(tmp_path, APPLY + extra))


def test_the_safety_keys_default_to_off(tmp_path: Path) -> None:
    """allow_lockout, canary, max_failures and max_failure_rate default to false / 0 (none)."""
    manifest = apply_job(tmp_path)
    assert manifest.allow_lockout is False
    assert manifest.canary == 0
    assert manifest.max_failures == 0
    assert manifest.max_failure_rate == 0


def test_the_safety_keys_are_read(tmp_path: Path) -> None:
    """An apply job takes allow_lockout, a canary and both failure thresholds."""
    extra = "allow_lockout: true\ncanary: 5\nmax_failures: 3\nmax_failure_rate: 1\n"
    manifest = apply_job(tmp_path, extra)
    assert (manifest.allow_lockout, manifest.canary, manifest.max_failures) == (True, 5, 3)
    assert manifest.max_failure_rate == 1.0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("canary: -1\n", "canary: is -1; write 0 (none) or a number of targets"),
        ("max_failures: -2\n", "max_failures: is -2; write 0 (none) or a number of targets"),
        ("max_failure_rate: 1.5\n", "max_failure_rate: is 1.5; write a fraction in (0, 1]"),
        ("max_failure_rate: -0.1\n", "max_failure_rate: is -0.1; write a fraction in (0, 1]"),
        ("max_failure_rate: .nan\n", "max_failure_rate: is nan; write a fraction in (0, 1]"),
        ("canary: 2.5\n", "canary"),
        ("max_failures: true\n", "max_failures: is true; write a number"),
        ("max_failure_rate: true\n", "max_failure_rate: is true; write a number"),
    ],
    ids=[
        "canary",
        "max_failures",
        "rate-over-1",
        "rate-negative",
        "rate-nan",
        "canary-float",
        "a-yaml-true-is-no-count",
        "a-yaml-true-is-no-rate",
    ],
)
def test_a_bad_safety_value_names_its_key_and_the_fix(
    tmp_path: Path, extra: str, expected: str
) -> None:
    """A negative count, or a rate outside [0, 1], is one line naming the key and the fix."""
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE_DOC))
    message = error_for(tmp_path, APPLY + extra)
    assert expected in message
    assert "job.yaml" in message


def test_a_backup_refuses_a_canary(tmp_path: Path) -> None:
    """canary is for writing jobs only: a backup with one is refused in one line."""
    message = error_for(tmp_path, BACKUP + "canary: 3\n")
    assert "canary: only a writing job (apply, delete, restore) takes a canary, not backup" in (
        message
    )


def test_a_backup_takes_failure_thresholds_and_an_explicit_zero_canary(tmp_path: Path) -> None:
    """Thresholds apply to any job; canary: 0 is the default, so a backup may say it."""
    extra = "canary: 0\nmax_failures: 10\nmax_failure_rate: 0.5\n"
    manifest = load_manifest(write(tmp_path, BACKUP + extra))
    assert (manifest.canary, manifest.max_failures, manifest.max_failure_rate) == (0, 10, 0.5)


@pytest.mark.parametrize("action", ["delete", "restore"])
def test_delete_and_restore_take_a_canary(tmp_path: Path, action: str) -> None:
    """delete and restore write, so they take a canary as apply does."""
    text = BACKUP.replace("action: backup", f"action: {action}") + "canary: 1\n"
    if action == "restore":
        text += "source: backups/job\n"
    assert load_manifest(write(tmp_path, text)).canary == 1


def test_allow_lockout_is_for_apply_only(tmp_path: Path) -> None:
    """allow_lockout: true on a job that puts no baseline is refused in one line."""
    message = error_for(tmp_path, BACKUP + "allow_lockout: true\n")
    assert "allow_lockout: only an apply job takes allow_lockout, not backup" in message


# -- the resume hash (contracts §5) -----------------------------------------------------------


def edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Manifest:
    """The apply manifest after `edit` changed its parsed YAML."""
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE_DOC))
    data = yaml.safe_load(APPLY)
    edit(data)
    return parse_manifest(data, source="job.yaml", base=tmp_path)


def set_key(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets the dotted key `path` (making mappings on the way)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data.setdefault(key, {})
        data[last] = value

    return edit


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("concurrency", 3),
        ("engine", "aio"),
        ("rate_limit", 50),
        ("retry.attempts", 2),
        ("retry.max_delay_s", 1),
        ("connection.connect_timeout_s", 1),
        ("connection.read_timeout_s", 2),
        ("timeouts.call_s", 3),
        ("timeouts.stop_grace_s", 1),
        ("connection.endpoint", "http://127.0.0.1:1"),
        ("canary", 4),
        ("max_failures", 2),
        ("max_failure_rate", 0.3),
        ("backup_dir", "elsewhere"),
        ("report_dir", "elsewhere"),
    ],
)
def test_pace_and_safety_settings_do_not_change_the_hash(
    tmp_path: Path, key: str, value: Any
) -> None:
    """Concurrency, engine, pace, retry, timeouts, canary and thresholds may differ on
    resume: the hash does not cover them."""
    plain = edited(tmp_path, lambda _: None)
    changed = edited(tmp_path, set_key(key, value))
    assert manifest_sha256(changed) == manifest_sha256(plain)
    assert differing_keys(outcome_fields(plain), outcome_fields(changed)) == []


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("action", "delete", ["action", "policy"]),
        ("targets.buckets", ["app-logs"], ["targets.buckets"]),
        ("policy.mode", "replace", ["policy.mode"]),
        ("policy.remove_sids", ["old"], ["policy.remove_sids"]),
        ("policy.vars", {"team": "logs"}, ["policy.vars"]),
        ("allow_public", True, ["allow_public"]),
        ("allow_lockout", True, ["allow_lockout"]),
    ],
)
def test_each_outcome_key_changes_the_hash_and_is_named(
    tmp_path: Path, key: str, value: Any, named: list[str]
) -> None:
    """Action, targets, mode, remove_sids, vars, allow_public and allow_lockout decide the
    outcome: changing one changes the hash, and `differing_keys` names it."""

    def edit(data: dict[str, Any]) -> None:
        set_key(key, value)(data)
        if key == "action":
            del data["policy"]

    plain = edited(tmp_path, lambda _: None)
    changed = edited(tmp_path, edit)
    assert manifest_sha256(changed) != manifest_sha256(plain)
    assert differing_keys(outcome_fields(plain), outcome_fields(changed)) == named


def test_a_restore_source_changes_the_hash(tmp_path: Path) -> None:
    """Restoring from another backup folder is another job."""
    text = BACKUP.replace("action: backup", "action: restore")
    one = load_manifest(write(tmp_path, text + "source: backups/one\n"))
    two = load_manifest(write(tmp_path, text + "source: backups/two\n"))
    assert manifest_sha256(one) != manifest_sha256(two)
    assert differing_keys(outcome_fields(one), outcome_fields(two)) == ["source"]


def test_a_default_given_explicitly_is_left_out(tmp_path: Path) -> None:
    """Writing a default (mode merge, empty lists, false flags) hashes like leaving it out,
    so a newer version that adds keys with defaults still resumes."""
    plain = edited(tmp_path, lambda _: None)
    explicit = edited(
        tmp_path,
        lambda data: data.update(
            allow_public=False,
            allow_lockout=False,
            policy={**data["policy"], "mode": "merge", "remove_sids": [], "vars": {}},
        ),
    )
    assert manifest_sha256(explicit) == manifest_sha256(plain)
    assert set(outcome_fields(plain)) == {"action", "targets", "policy"}
    assert set(outcome_fields(plain)["policy"]) == {"document"}


def test_discover_defaults_are_left_out_too(tmp_path: Path) -> None:
    """Nested defaults count as absent: `discover: {prefix: ""}` is `discover: {}`."""
    text = BACKUP.replace("  buckets: [app-logs, app-data]", "  discover: {}")
    plain = load_manifest(write(tmp_path, text))
    explicit = load_manifest(write(tmp_path, text.replace("{}", '{prefix: "", exclude: []}')))
    assert manifest_sha256(plain) == manifest_sha256(explicit)
    assert outcome_fields(plain)["targets"] == {"discover": {}}


def test_the_baseline_is_hashed_by_content_not_by_path(tmp_path: Path) -> None:
    """The same baseline at another path, or inline, hashes the same; an edited file
    changes the hash and is named as policy.document."""
    plain = edited(tmp_path, lambda _: None)
    (tmp_path / "moved.yaml").write_text(yaml.safe_dump(BASELINE_DOC))
    moved = edited(tmp_path, set_key("policy.file", "moved.yaml"))
    inline = edited(tmp_path, lambda data: data.update(policy={"document": BASELINE_DOC}))
    assert manifest_sha256(moved) == manifest_sha256(plain) == manifest_sha256(inline)
    before = outcome_fields(plain)
    (tmp_path / "moved.yaml").write_text(yaml.safe_dump({**BASELINE_DOC, "Statement": []}))
    assert manifest_sha256(moved) != manifest_sha256(plain)
    assert differing_keys(before, outcome_fields(moved)) == ["policy.document.Statement"]


def test_a_loaded_document_is_hashed_instead_of_reading_the_file(tmp_path: Path) -> None:
    """`manifest_sha256(manifest, document)` hashes the document the job loaded, the same
    as reading the file when it is that file's content."""
    manifest = edited(tmp_path, lambda _: None)
    read = manifest_sha256(manifest)
    assert manifest_sha256(manifest, BASELINE_DOC) == read
    assert manifest_sha256(manifest, {**BASELINE_DOC, "Statement": []}) != read
    (tmp_path / "baseline.json").unlink()
    assert manifest_sha256(manifest, BASELINE_DOC) == read  # given: the file is not read
    with pytest.raises(PolicyDocumentError, match="no such file"):
        manifest_sha256(manifest)


def test_accounts_are_hashed(tmp_path: Path) -> None:
    """`accounts` is an outcome key: another set of accounts is another job."""
    data = {**yaml.safe_load(BACKUP), "targets": {"discover": {}}}
    one = Manifest.model_validate({**data, "accounts": [{"name": "prod"}]})
    two = Manifest.model_validate({**data, "accounts": [{"name": "prod"}, {"name": "dev"}]})
    none = Manifest.model_validate(data)
    assert differing_keys(outcome_fields(one), outcome_fields(two)) == ["accounts"]
    assert "accounts" not in outcome_fields(none)


def test_differing_keys_follows_mappings_and_compares_lists_whole() -> None:
    """Dotted paths of the values that differ, a key on one side only included, sorted."""
    old = {"a": 1, "p": {"mode": "replace", "vars": {"x": "1"}}, "t": {"buckets": ["a", "b"]}}
    new = {"p": {"vars": {"x": "2"}}, "t": {"buckets": ["b", "a"]}, "z": False}
    assert differing_keys(old, new) == ["a", "p.mode", "p.vars.x", "t.buckets", "z"]
    assert differing_keys(old, old) == []
