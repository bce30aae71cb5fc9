"""No self-lockout (contracts §11): a baseline denying everyone the bucket's policy calls is
refused before any request, unless the manifest says `allow_lockout: true`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.baseline import load_baseline
from osspolicy._internal.errors import PolicyDocumentError
from osspolicy._internal.manifest import PolicySpec
from osspolicy._internal.policy_inspect import lockout_statements
from osspolicy.emulator import Emulator

RESOURCE = ["acs:oss:*:*:${bucket}", "acs:oss:*:*:${bucket}/*"]


def deny(**fields: Any) -> dict[str, Any]:
    """A Deny to everyone of oss:* on the bucket and its objects, with `fields` over it."""
    statement = {
        "Sid": "lock",
        "Effect": "Deny",
        "Principal": ["*"],
        "Action": ["oss:*"],
        "Resource": RESOURCE,
        **fields,
    }
    return {key: value for key, value in statement.items() if value is not None}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


@pytest.mark.parametrize(
    "statement",
    [
        deny(),
        deny(Action="*"),
        deny(Action=["oss:PutBucketPolicy"]),
        deny(Action="oss:DeleteBucketPolicy"),
        deny(Action=["oss:GetObject", "oss:GetBucketPolicy"]),
        deny(Action=["oss:*BucketPolicy"]),
        deny(Action=["oss:Put*"]),
        deny(Action=["OSS:putbucketpolicy"]),
        deny(Action=["oss:?etBucketPolicy"]),
        deny(Principal="*"),
        deny(Principal=[]),
        deny(Principal=["1234567890", "*"]),
        deny(Action=None, NotAction=["oss:GetObject"]),
        deny(Action=None, NotAction=["oss:PutBucketPolicy", "oss:DeleteBucketPolicy"]),
        deny(Condition={}),
        deny(Resource="*"),
        deny(Resource=None, NotResource=["acs:oss:*:*:${bucket}/private/*"]),
    ],
    ids=[
        "oss-star",
        "star",
        "put",
        "delete-string",
        "get-in-a-list",
        "star-bucketpolicy",
        "put-star",
        "other-case",
        "question-mark",
        "principal-string",
        "principal-empty-list",
        "principal-star-among-uids",
        "notaction-of-another",
        "notaction-leaves-get",
        "empty-condition",
        "resource-star",
        "notresource",
    ],
)
def test_a_deny_of_the_policy_calls_to_everyone_is_a_lockout(statement: dict[str, Any]) -> None:
    """Deny, Principal everyone, no Condition, and an Action (or what NotAction leaves)
    covering Put/Delete/GetBucketPolicy, through wildcards and in any case: a lockout."""
    assert lockout_statements(policy(statement)) == ["lock"]


@pytest.mark.parametrize(
    "statement",
    [
        deny(Effect="Allow"),
        deny(Condition={"Bool": {"acs:SecureTransport": ["false"]}}),
        deny(Principal=["1234567890"]),
        deny(Principal="1234567890"),
        deny(Action=["oss:GetObject", "oss:PutObject"]),
        deny(Action=["oss:Get*Object*", "oss:PutBucketPolicyX"]),
        deny(Action=["ecs:*"]),
        deny(
            Action=None,
            NotAction=["oss:PutBucketPolicy", "oss:DeleteBucketPolicy", "oss:GetBucketPolicy"],
        ),
        deny(Action=None, NotAction=["oss:*BucketPolicy"]),
        deny(Resource=["acs:oss:*:*:${bucket}/*"]),
    ],
    ids=[
        "allow",
        "with-a-condition",
        "named-principal",
        "named-principal-string",
        "object-actions",
        "near-misses",
        "another-service",
        "notaction-of-all-three",
        "notaction-wildcard",
        "objects-only",
    ],
)
def test_a_statement_that_leaves_the_policy_calls_open_is_not_a_lockout(
    statement: dict[str, Any],
) -> None:
    """An Allow, a Condition, a named Principal, other actions or only objects: the
    bucket's policy can still be changed, so it is not a lockout."""
    assert lockout_statements(policy(statement)) == []


def test_statements_are_named_by_sid_or_by_index() -> None:
    """Each lockout is named by its Sid, or `Statement[i]` when it has none, in order."""
    doc = policy(deny(Effect="Allow"), deny(Sid=None), deny(Sid="second"))
    assert lockout_statements(doc) == ["Statement[1]", "second"]
    assert lockout_statements(None) == []


def test_load_baseline_refuses_a_lockout_naming_the_sid_and_the_way_out() -> None:
    """One line quoting the statement's Sid and naming `allow_lockout: true`."""
    spec = PolicySpec(document=policy(deny(Sid="deny-all")))
    with pytest.raises(PolicyDocumentError) as info:
        load_baseline(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("policy.document: statement 'deny-all' denies everyone")
    assert "allow_lockout: true" in message


def test_allow_lockout_lets_the_baseline_through() -> None:
    """With allow_lockout the same baseline loads (the user said it is meant)."""
    spec = PolicySpec(document=policy(deny(Sid="deny-all")))
    assert load_baseline(spec, allow_lockout=True).document == spec.document


def test_a_conditional_deny_to_everyone_loads() -> None:
    """The usual deny-insecure-transport baseline is not a lockout."""
    doc = policy(deny(Condition={"Bool": {"acs:SecureTransport": ["false"]}}))
    assert load_baseline(PolicySpec(document=doc)).document == doc


# -- through the CLI ----------------------------------------------------------------------------


def write_job(tmp_path: Path, emulator: Emulator, *, extra: str = "") -> Path:
    (tmp_path / "baseline.json").write_text(json.dumps(policy(deny(Sid="deny-everything"))))
    job = tmp_path / "apply.yaml"
    job.write_text(
        "action: apply\ntargets:\n  buckets: [locked-1, locked-2]\n"
        f"connection:\n  region: {emulator.region}\n  endpoint: {emulator.endpoint}\n"
        f"policy:\n  file: baseline.json\n{extra}"
    )
    return job


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osspolicy", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["run", "--yes"]])
def test_validate_plan_and_run_refuse_a_lockout_before_any_request(
    tmp_path: Path, oss_emulator: Emulator, command: list[str]
) -> None:
    """validate, plan and run exit 2 with one line naming the file, the Sid and
    allow_lockout, and send no request."""
    oss_emulator.seed_buckets(["locked-1", "locked-2"])
    done = cli(command[0], str(write_job(tmp_path, oss_emulator)), *command[1:])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "baseline.json" in lines[0]
    assert "'deny-everything'" in lines[0]
    assert "allow_lockout: true" in lines[0]
    assert oss_emulator.request_log == []


def test_validate_accepts_a_lockout_with_allow_lockout(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """With `allow_lockout: true` in the manifest, validate passes (exit 0)."""
    done = cli("validate", str(write_job(tmp_path, oss_emulator, extra="allow_lockout: true\n")))
    assert done.returncode == 0, done.stderr


def test_plan_and_run_accept_a_lockout_with_allow_lockout(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """With `allow_lockout: true`, plan shows the lockout (exit 0, nothing written) and
    run writes it to every target (exit 0)."""
    oss_emulator.seed_buckets(["locked-1", "locked-2"])
    job = str(write_job(tmp_path, oss_emulator, extra="allow_lockout: true\n"))

    planned = cli("plan", job)
    assert planned.returncode == 0, planned.stderr
    assert "2 buckets would change: 2 create" in planned.stdout
    assert oss_emulator.state.get_policy("locked-1") is None

    done = cli("run", job, "--yes")
    assert done.returncode == 0, done.stderr
    for bucket in ("locked-1", "locked-2"):
        body = oss_emulator.state.get_policy(bucket)
        assert body is not None
        assert [s["Sid"] for s in json.loads(body)["Statement"]] == ["deny-everything"]
