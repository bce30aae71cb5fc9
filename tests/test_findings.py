"""The findings of a policy (contracts §18): each rule with what it reports and what it
must not, including the traps a shallow reading falls into (a Condition on
acs:SecureTransport does not make a public grant private, 0.0.0.0/0 pins nothing,
`["*"]` is `"*"`, a Deny is never public, every value of acs:SecureTransport is read)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from osspolicy._internal.baseline import Baseline
from osspolicy._internal.findings import RULES, Finding, Owners, account_of, at_or_above, find
from osspolicy._internal.plan_findings import baseline_findings
from osspolicy._internal.render_findings import baseline_lines

BUCKET = "app-logs"
OWNER = "1000000000000001"
PARTNER = "2000000000000002"
OWNERS = Owners({"default": OWNER})
#: the Deny that makes a policy HTTPS-only (so the other rules' examples stay alone)
HTTPS_ONLY: dict[str, Any] = {
    "Sid": "https-only",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:*"],
    "Resource": [f"acs:oss:*:*:{BUCKET}", f"acs:oss:*:*:{BUCKET}/*"],
    "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
}


def stmt(**keys: Any) -> dict[str, Any]:
    """An Allow of oss:GetObject on the bucket's objects to the owner, with `keys` changed."""
    return {
        "Effect": "Allow",
        "Principal": [OWNER],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{BUCKET}/*"],
        **keys,
    }


def rules_of(*statements: dict[str, Any], owners: Owners = OWNERS, https: bool = True) -> set[str]:
    """The rules the policy of `statements` (plus the HTTPS-only Deny) breaks."""
    doc = {"Version": "1", "Statement": [*statements, *([HTTPS_ONLY] if https else [])]}
    return {f.rule for f in find(doc, bucket=BUCKET, account="default", owners=owners)}


def test_a_clean_policy_has_no_finding():
    """An owner's own read and the HTTPS-only Deny: nothing to report."""
    assert rules_of(stmt()) == set()


def test_a_bucket_without_policy_has_no_finding():
    """No policy, no findings (ACLs are not read): not even no-https-only."""
    assert find(None, bucket=BUCKET, account="default", owners=OWNERS) == []


@pytest.mark.parametrize("principal", ["*", ["*"], [], ["*", PARTNER]])
def test_public_read_whatever_the_spelling_of_everyone(principal: object):
    """`"*"`, `["*"]`, `[]` and a list holding `*` are all everyone."""
    assert "public-read" in rules_of(stmt(Principal=principal))


@pytest.mark.parametrize(
    ("action", "rules"),
    [
        ("oss:GetObject", {"public-read"}),
        (["oss:getobject"], {"public-read"}),
        ("oss:Get*", {"public-read"}),
        ("oss:PutObject", {"public-write"}),
        (["oss:*Object"], {"public-read", "public-write"}),
        ("oss:*", {"public-read", "public-write", "wildcard-action"}),
        ("*", {"public-read", "public-write", "wildcard-action"}),
        (["oss:ListObjects"], set()),
    ],
)
def test_public_read_and_write_follow_the_actions(action: object, rules: set[str]):
    """Read is oss:GetObject, write oss:PutObject, matched as the service does (wildcards,
    any case); `oss:*` and `*` are both; a public grant of neither is neither."""
    assert rules_of(stmt(Principal="*", Action=action)) == rules


def test_a_public_allow_by_notaction_is_read_and_write():
    """An Allow to everyone of every action but a few covers reads and writes."""
    doc_rules = rules_of({**stmt(Principal="*"), "NotAction": ["oss:DeleteObject"]})
    assert {"public-read", "public-write", "wildcard-action"} <= doc_rules


@pytest.mark.parametrize(
    "condition",
    [
        {"Bool": {"acs:SecureTransport": "true"}},
        {"IpAddress": {"acs:SourceIp": ["0.0.0.0/0"]}},
        {"IpAddress": {"acs:SourceIp": ["10.0.0.0/4"]}},
        {"StringNotEquals": {"acs:SourceVpc": ["vpc-1"]}},
        {"StringEquals": {"acs:SourceVpc": ["vpc-*"]}},
    ],
)
def test_conditions_that_do_not_make_a_public_grant_private(condition: dict[str, Any]):
    """HTTPS only, the whole internet, a network wider than /8, a negated operator or a
    wildcard VPC pin nothing: the grant stays public."""
    assert "public-read" in rules_of(stmt(Principal="*", Condition=condition))


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"acs:SourceVpc": ["vpc-1"]}},
        {"IpAddress": {"acs:SourceIp": ["192.168.0.0/16"]}},
        {"StringEquals": {"acs:AccessId": "LTAI5tExample"}},
    ],
)
def test_conditions_that_pin_a_grant_to_everyone(condition: dict[str, Any]):
    """A fixed VPC, a narrow network or a named AccessKey is not public."""
    assert "public-read" not in rules_of(stmt(Principal="*", Condition=condition))


def test_a_deny_is_never_public():
    """A Deny to everyone of oss:GetObject denies; it grants nothing."""
    assert rules_of(stmt(Effect="Deny", Principal="*")) == set()


def test_owner_lockout_on_a_live_policy():
    """A Deny to everyone, no Condition, of the policy calls (through oss:*) is a lockout;
    with a Condition it is not (§11's rule)."""
    lock = stmt(Effect="Deny", Principal="*", Action="oss:*", Resource="acs:oss:*:*:app-logs")
    assert "owner-lockout" in rules_of(lock)
    guarded = {**lock, "Condition": {"StringEquals": {"acs:SourceVpc": ["vpc-1"]}}}
    assert "owner-lockout" not in rules_of(guarded)


@pytest.mark.parametrize(
    "principal",
    [PARTNER, f"acs:ram::{PARTNER}:role/reader", f"arn:sts::{PARTNER}:assumed-role/r/s"],
)
def test_external_principal_names_another_account(principal: str):
    """A UID, a role or an assumed role of an account that is not the job's."""
    assert rules_of(stmt(Principal=[principal])) == {"external-principal"}


@pytest.mark.parametrize(
    "principal", [OWNER, f"acs:ram::{OWNER}:role/reader", f"arn:sts::{OWNER}:assumed-role/r/s"]
)
def test_the_jobs_own_accounts_are_not_external(principal: str):
    """The owner, its roles and assumed roles are inside."""
    assert rules_of(stmt(Principal=principal)) == set()


def test_any_of_the_jobs_accounts_is_known():
    """Known accounts are every account's owner id (and a directory's other members)."""
    owners = Owners({"a": OWNER, "b": PARTNER}, members=frozenset({"3000000000000003"}))
    assert rules_of(stmt(Principal=[PARTNER, "3000000000000003"]), owners=owners) == set()


def test_an_external_principal_in_a_deny_is_no_grant():
    """Denying another account something grants it nothing."""
    assert rules_of(stmt(Effect="Deny", Principal=[PARTNER])) == set()


def test_without_every_owner_id_external_principal_is_not_judged():
    """An account whose owner id is not known (an older backup) might be anyone's."""
    owners = Owners({"default": OWNER, "old": None})
    assert rules_of(stmt(Principal=[PARTNER]), owners=owners) == set()
    assert owners.unknown == ["old"]


def test_wildcard_action_to_anyone_but_the_owner():
    """oss:* to another principal is reported; to the owner (or a role of it) it is not."""
    assert "wildcard-action" in rules_of(stmt(Principal=[PARTNER], Action="OSS:*"))
    assert rules_of(stmt(Action="oss:*")) == set()
    assert rules_of(stmt(Principal=f"acs:ram::{OWNER}:role/admin", Action="*")) == set()


def test_wildcard_action_without_the_owner_id_judges_only_everyone():
    """Whose a UID is cannot be told without the owner id; everyone can."""
    owners = Owners({"default": None})
    assert rules_of(stmt(Principal=[PARTNER], Action="oss:*"), owners=owners) == set()
    assert "wildcard-action" in rules_of(stmt(Principal="*", Action="oss:*"), owners=owners)


def test_a_narrow_wildcard_is_not_a_wildcard_action():
    """oss:Get* is a family of actions, not every action."""
    assert rules_of(stmt(Principal=[PARTNER], Action="oss:Get*")) == {"external-principal"}


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", " 0.0.0.0/0"])
def test_ip_any(network: str):
    """A SourceIp of the whole internet (IPv4 or IPv6) restricts nothing."""
    condition = {"IpAddress": {"acs:SourceIp": ["192.168.0.0/16", network]}}
    assert "ip-any" in rules_of(stmt(Condition=condition))


def test_a_real_network_is_not_ip_any():
    """Every value is read: none of these is /0."""
    condition = {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "::1/128", "not-an-ip"]}}
    assert rules_of(stmt(Condition=condition)) == set()


def test_foreign_resource():
    """A Resource naming another bucket; its own bucket and wildcards matching it are not."""
    assert "foreign-resource" in rules_of(stmt(Resource=["acs:oss:*:*:other-bucket/*"]))
    assert rules_of(stmt(Resource=["acs:oss:*:*:app-*/*", "acs:oss:*:*:app-logs"])) == set()


def test_foreign_resource_is_not_judged_for_a_template():
    """A baseline before rendering has no bucket to compare with."""
    doc = {"Version": "1", "Statement": [stmt(Resource="acs:oss:*:*:other/*"), HTTPS_ONLY]}
    assert find(doc, bucket=None, account="default", owners=OWNERS) == []


def test_no_https_only_is_one_low_finding_of_the_policy():
    """A policy without the Deny: one finding about the whole policy (no statement)."""
    doc = {"Version": "1", "Statement": [stmt()]}
    (finding,) = find(doc, bucket=BUCKET, account="default", owners=OWNERS)
    assert (finding.rule, finding.severity, finding.statement) == ("no-https-only", "low", None)


@pytest.mark.parametrize(
    "values", ["false", False, ["false"], ["FALSE"], ["true", "false"], [True, False]]
)
def test_https_only_reads_every_value_of_secure_transport(values: object):
    """`"false"`, `false`, `["false"]`: each spelling, in any position, denies HTTP."""
    deny = {**HTTPS_ONLY, "Condition": {"Bool": {"acs:SecureTransport": values}}}
    assert rules_of(stmt(), deny, https=False) == set()


@pytest.mark.parametrize(
    "deny",
    [
        {**HTTPS_ONLY, "Condition": {"Bool": {"acs:SecureTransport": ["true"]}}},
        {**HTTPS_ONLY, "Effect": "Allow", "Principal": [OWNER]},
        {**HTTPS_ONLY, "Principal": [PARTNER]},
        {**HTTPS_ONLY, "Action": ["oss:PutObject"]},
        {
            **HTTPS_ONLY,
            "Condition": {"Bool": {"acs:SecureTransport": "false"}}
            | {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}},
        },
        {**HTTPS_ONLY, "Condition": {"BoolNot": {"acs:SecureTransport": "false"}}},
    ],
)
def test_what_is_not_an_https_only_deny(deny: dict[str, Any]):
    """Denying HTTPS, an Allow, one principal, writes only, plain HTTP from some networks
    only, or a negated operator: plain HTTP is still answered."""
    assert "no-https-only" in rules_of(stmt(), deny, https=False)


def test_findings_name_the_statement_by_sid_else_index():
    """Sid when there is one, `Statement[i]` otherwise; in statement order."""
    doc = {"Version": "1", "Statement": [stmt(Principal="*"), stmt(Sid="open", Principal="*")]}
    found = find(doc, bucket=BUCKET, account="default", owners=OWNERS)
    assert [(f.rule, f.statement) for f in found] == [
        ("public-read", "Statement[0]"),
        ("public-read", "open"),
        ("no-https-only", None),
    ]
    assert found[0].message.startswith("statement Statement[0]: allows everyone oss:GetObject")


def fingerprints(*statements: dict[str, Any]) -> list[str]:
    """The fingerprints of the findings of a policy of `statements`, in order."""
    doc = {"Version": "1", "Statement": list(statements)}
    return [f.fingerprint for f in find(doc, bucket=BUCKET, account="default", owners=OWNERS)]


def test_two_statements_of_one_sid_get_two_fingerprints_that_a_reorder_keeps():
    """A Sid the policy repeats is two alerts, not one: every finding's fingerprint is
    unique, the same in every run, and the same when the statements are reordered; a
    Sid used once keeps the fingerprint it had (rule, bucket and Sid alone)."""
    first = stmt(Sid="open", Principal="*")
    second = stmt(Sid="open", Principal="*", Action="oss:PutObject")
    twice = stmt(Sid="dup", Principal=[PARTNER])  # the same statement, written twice
    alone = stmt(Sid="alone", Principal="*")

    found = find(
        {"Statement": [first, second, twice, twice, alone]},
        bucket=BUCKET, account="default", owners=OWNERS,
    )  # fmt: skip
    reordered = find(
        {"Statement": [alone, twice, second, twice, first]},
        bucket=BUCKET, account="default", owners=OWNERS,
    )  # fmt: skip

    prints = [f.fingerprint for f in found]
    assert len(set(prints)) == len(prints) == 6
    assert {(f.rule, f.message, f.fingerprint) for f in found} == {
        (f.rule, f.message, f.fingerprint) for f in reordered
    }
    assert fingerprints(first, second) == fingerprints(first, second)  # every run alike
    (alone_read,) = [f for f in found if f.statement == "alone"]
    key = json.dumps(["public-read", BUCKET, "sid:alone"]).encode()
    assert alone_read.fingerprint == hashlib.sha256(key).hexdigest()[:32]


def test_wildcard_action_names_the_wildcard_the_policy_wrote():
    """`"*"` is described as `*`, `oss:*` as `oss:*`: the message quotes the policy."""

    def wildcard(action: object) -> Finding:
        doc = {"Statement": [stmt(Principal=[PARTNER], Action=action)]}
        found = find(doc, bucket=BUCKET, account="default", owners=OWNERS)
        (only,) = [f for f in found if f.rule == "wildcard-action"]
        return only

    star, oss_star = wildcard("*"), wildcard(["oss:*", "OSS:*"])
    assert star.message == f"statement Statement[0]: allows every action (*) to {PARTNER}"
    assert oss_star.message.endswith(f"allows every action (oss:*, OSS:*) to {PARTNER}")


def test_every_rule_has_a_severity_explanation_and_reference():
    """The contract's severities, a one-line title and an OSS documentation page each."""
    severities = {rule.id: rule.severity for rule in RULES}
    assert severities == {
        "public-read": "high",
        "public-write": "high",
        "owner-lockout": "high",
        "external-principal": "medium",
        "wildcard-action": "medium",
        "ip-any": "medium",
        "foreign-resource": "medium",
        "no-https-only": "low",
    }
    for rule in RULES:
        assert rule.title
        assert "\n" not in rule.title
        assert rule.explanation
        assert rule.reference.startswith("https://www.alibabacloud.com/help/en/")


def test_a_finding_reads_back_from_its_record():
    """`findings.jsonl` lines give the same findings back."""
    (finding,) = find({"Statement": stmt()}, bucket=BUCKET, account="a", owners=OWNERS)
    assert Finding.from_record(finding.to_record()) == finding


def test_account_of_and_severity_order():
    """A UID is its own account, a RAM user's other id names none; high > medium > low."""
    assert (account_of("123"), account_of("acs:ram::9:role/x"), account_of("user@x")) == (
        "123",
        "9",
        None,
    )
    assert [at_or_above(s, "medium") for s in ("high", "medium", "low")] == [True, True, False]


def _baseline(mode: str) -> Baseline:
    document = {
        "Version": "1",
        "Statement": [
            stmt(Sid="open", Principal="*", Resource="acs:oss:*:*:${bucket}/*"),
            stmt(Sid="mine", Principal="${account_id}", Action="oss:*"),
            stmt(Sid="elsewhere", Resource="acs:oss:*:*:other-bucket/*"),
        ],
    }
    return Baseline(document, "baseline.json", "merge" if mode == "merge" else "replace")


@pytest.mark.parametrize(("mode", "low"), [("merge", []), ("replace", ["no-https-only"])])
def test_a_baseline_is_judged_as_written(mode: str, low: list[str]):
    """`validate` judges the baseline before rendering: its own account's placeholder is
    nobody else, other buckets and accounts wait for plan and audit; in merge mode the
    bucket's own statements may hold the HTTPS-only Deny."""
    found = baseline_findings(_baseline(mode))
    assert [(f.rule, f.statement) for f in found] == [("public-read", "open")] + [
        (rule, None) for rule in low
    ]
    lines = baseline_lines(found)
    assert lines[0].startswith(f"baseline: {len(found)} finding")
    assert lines[1] == (
        "  high   baseline  public-read: statement open: allows everyone oss:GetObject, not "
        "pinned by a condition"
    )
