"""New access (contracts §18): what a planned policy allows that the current one does not.

Examples first, one rule each (never new: a reorder, a narrowing, an added Deny, an added
Condition, a removed Allow; new: a new principal, a widened action or resource, a loosened
or removed Condition, a removed Deny), then the rules in general, on generated policies.
Pure logic: no emulator (the end-to-end tests are in test_insight_e2e.py).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from osspolicy._internal.new_access import NewAccess, describe, new_access

from .test_policy_properties import POLICIES, PROPERTY, document, rewritten

BUCKET = "acs:oss:*:*:app/*"
READ: dict[str, Any] = {
    "Sid": "read",
    "Effect": "Allow",
    "Principal": ["1234567890123456"],
    "Action": ["oss:*"],
    "Resource": [BUCKET],
}
DENY_HTTP: dict[str, Any] = {
    "Sid": "deny-http",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:*"],
    "Resource": [BUCKET],
    "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
}
EVERYTHING: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": [copy.deepcopy(s) for s in statements]}


def read(**fields: Any) -> dict[str, Any]:
    """READ with `fields` over it (None drops a key)."""
    statement = {**READ, **fields}
    return {key: value for key, value in statement.items() if value is not None}


# --- never new ---------------------------------------------------------------------------------


def test_the_same_policy_reordered_grants_nothing_new() -> None:
    """Statements and values in another order, a value as "x" or ["x"]: nothing new."""
    current = policy(read(Action=["oss:GetObject", "oss:PutObject"]), DENY_HTTP)
    planned = policy(
        DENY_HTTP, read(Action=["oss:PutObject", "oss:GetObject"], Principal=READ["Principal"][0])
    )

    assert new_access(current, planned) == []


def test_a_narrowed_action_or_resource_is_not_new() -> None:
    """`oss:*` to `oss:GetObject`, `app/*` to `app/logs/*`: less than before."""
    current = policy(READ)

    assert new_access(current, policy(read(Action=["oss:GetObject"]))) == []
    assert new_access(current, policy(read(Resource=["acs:oss:*:*:app/logs/*"]))) == []


def test_a_narrowed_principal_is_not_new() -> None:
    """From everyone to one account, or from a role's sessions to one session."""
    sessions = "arn:sts::1234567890123456:assumed-role/reader/*"

    assert new_access(policy(read(Principal=["*"])), policy(READ)) == []
    assert (
        new_access(
            policy(read(Principal=[sessions])), policy(read(Principal=[sessions[:-1] + "job-1"]))
        )
        == []
    )


def test_an_added_deny_an_added_condition_or_a_removed_allow_is_not_new() -> None:
    """Each restricts (or keeps) what was allowed."""
    current = policy(READ, read(Sid="write", Action=["oss:PutObject"]))
    pinned = read(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}})

    assert new_access(current, policy(*current["Statement"], DENY_HTTP)) == []
    assert new_access(current, policy(pinned, current["Statement"][1])) == []
    assert new_access(current, policy(READ)) == []


def test_a_stricter_condition_is_not_new() -> None:
    """Fewer ORed values of a positive operator, more of a negated one: stricter."""
    current = policy(
        read(
            Condition={
                "IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                "StringNotEquals": {"acs:SourceVpc": ["vpc-a"]},
            }
        )
    )
    planned = policy(
        read(
            Condition={
                "IpAddress": {"acs:sourceip": ["10.0.0.0/8"]},  # keys: any case
                "StringNotEquals": {"acs:SourceVpc": ["vpc-a", "vpc-b"]},
                "Bool": {"acs:SecureTransport": ["true"]},
            }
        )
    )

    assert new_access(current, planned) == []


def test_what_two_allows_grant_together_split_or_joined_is_not_new() -> None:
    """Each (principal, action, resource) is compared on its own: joining two statements
    of one account into one, or splitting one, grants nothing new."""
    get = read(Action=["oss:GetObject"])
    put = read(Sid="write", Action=["oss:PutObject"])
    both = read(Action=["oss:GetObject", "oss:PutObject"])

    assert new_access(policy(get, put), policy(both)) == []
    assert new_access(policy(both), policy(get, put)) == []


def test_no_policy_planned_keeps_nothing_but_denies() -> None:
    """Deleting a policy of Allows only is not new; deleting one with a Deny is."""
    assert new_access(policy(READ), None) == []
    assert new_access(None, None) == []
    assert [item.kind for item in new_access(policy(READ, DENY_HTTP), None)] == ["deny"]


# --- new ---------------------------------------------------------------------------------------


def test_a_new_allow_of_everything_is_new_and_described() -> None:
    """An Allow of `*` to everyone on `*`, where there was none, is new: one line naming
    the statement, whom, what and where."""
    found = new_access(policy(READ), policy(READ, EVERYTHING))

    assert found == [NewAccess("Statement[1]", "grant", ("everyone",), ("*",), ("*",))]
    assert describe(policy(READ), policy(READ, EVERYTHING)) == [
        "Statement[1]: allows everyone * on *"
    ]


def test_a_new_principal_is_new() -> None:
    """Another account, or everyone, where one account was allowed."""
    other = read(Principal=["1234567890123456", "6543210987654321"])

    assert describe(policy(READ), policy(other)) == [
        f"read: allows 6543210987654321 oss:* on {BUCKET}"
    ]
    assert describe(policy(READ), policy(read(Principal=[]))) == [
        f"read: allows everyone oss:* on {BUCKET}"
    ]


def test_a_widened_action_or_resource_is_new() -> None:
    """`oss:Get*` is more than `oss:GetObject`; `app/*` more than `app/logs/*`; a
    NotAction (everything but) more than any list, `oss:*` too (it may name actions
    outside `oss:`): only `*` holds it."""
    narrow = read(Action=["oss:GetObject"], Resource=["acs:oss:*:*:app/logs/*"])

    assert describe(
        policy(narrow), policy(read(Action=["oss:Get*"], Resource=narrow["Resource"]))
    ) == ["read: allows 1234567890123456 oss:Get* on acs:oss:*:*:app/logs/*"]
    assert describe(policy(narrow), policy(read(Action=narrow["Action"]))) == [
        f"read: allows 1234567890123456 oss:GetObject on {BUCKET}"
    ]
    everything_but = read(Action=None, NotAction=["oss:DeleteObject"])
    assert describe(policy(READ), policy(everything_but)) == [
        f"read: allows 1234567890123456 every action but oss:DeleteObject on {BUCKET}"
    ]
    assert describe(policy(read(Action="*")), policy(everything_but)) == []


def test_actions_compare_without_case_and_resources_with_it() -> None:
    """The service reads actions case-insensitively; resources name objects exactly."""
    assert (
        new_access(policy(read(Action=["oss:getobject"])), policy(read(Action=["OSS:GetObject"])))
        == []
    )
    assert new_access(policy(READ), policy(read(Resource=["acs:oss:*:*:APP/*"]))) != []


def test_a_removed_or_loosened_condition_is_new() -> None:
    """What was allowed only from one network is allowed from anywhere, or from two."""
    pinned = read(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}})
    wider = read(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "0.0.0.0/0"]}})
    if_exists = read(Condition={"IpAddressIfExists": {"acs:SourceIp": ["10.0.0.0/8"]}})

    assert describe(policy(pinned), policy(READ)) == [
        f"read: with a looser Condition, allows 1234567890123456 oss:* on {BUCKET}"
    ]
    assert [item.kind for item in new_access(policy(pinned), policy(wider))] == ["condition"]
    assert [item.kind for item in new_access(policy(pinned), policy(if_exists))] == ["condition"]


def test_a_removed_or_weakened_deny_is_new() -> None:
    """A Deny taken away, narrowed or given a Condition denies less: new access."""
    current = policy(READ, DENY_HTTP)
    narrowed = {**DENY_HTTP, "Action": ["oss:PutObject"]}
    weakened = {
        **DENY_HTTP,
        "Condition": {**DENY_HTTP["Condition"], "IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    }

    assert describe(current, policy(READ)) == [
        f"deny-http: no longer denies everyone oss:* on {BUCKET}"
    ]
    assert [item.kind for item in new_access(current, policy(READ, narrowed))] == ["deny"]
    assert [item.kind for item in new_access(current, policy(READ, weakened))] == ["deny"]
    assert (
        new_access(current, policy(READ, {**DENY_HTTP, "Condition": None} | {"Sid": "all"})) == []
    )


def test_what_cannot_be_read_counts_as_new() -> None:
    """A Principal in the RAM object form grants, as far as this can tell, everyone; a
    current statement of that form covers nothing."""
    ram_form = read(Principal={"RAM": ["acs:ram::1:root"]})

    assert new_access(policy(READ), policy(ram_form)) != []
    assert new_access(policy(ram_form), policy(READ)) != []


def test_a_long_description_names_three_values_and_counts_the_rest() -> None:
    """A statement of many accounts is one short line, not a list of them all."""
    accounts = [f"10000000000000{i:02d}" for i in range(6)]
    (line,) = describe(None, policy(read(Principal=accounts)))

    assert line == f"read: allows {', '.join(accounts[:3])} and 3 more oss:* on {BUCKET}"


# --- in general --------------------------------------------------------------------------------


@PROPERTY
@given(POLICIES, st.data())
def test_a_policy_against_itself_rewritten_is_never_new(doc: dict[str, Any], data: st.DataObject):
    """Statements and values reordered, repeated, `"x"` or `["x"]`: nothing new, either way."""
    other = data.draw(rewritten(doc))

    assert new_access(doc, other) == []
    assert new_access(other, doc) == []


@PROPERTY
@given(POLICIES, st.data())
def test_removing_an_allow_is_never_new(doc: dict[str, Any], data: st.DataObject):
    """Any Allow taken out: less is allowed, never more."""
    allows = [i for i, s in enumerate(doc["Statement"]) if s["Effect"] == "Allow"]
    if not allows:
        return
    gone = data.draw(st.sampled_from(allows))
    rest = [s for i, s in enumerate(doc["Statement"]) if i != gone]

    assert new_access(doc, document(rest) if rest else None) == []


@PROPERTY
@given(POLICIES, st.data())
def test_removing_a_deny_is_new_unless_another_deny_keeps_it(
    doc: dict[str, Any], data: st.DataObject
):
    """A Deny taken out is new access, unless a Deny that stays denies at least as much
    (the same statement written twice, say): then nothing is new."""
    denies = [i for i, s in enumerate(doc["Statement"]) if s["Effect"] == "Deny"]
    if not denies:
        return
    gone = data.draw(st.sampled_from(denies))
    rest = [s for i, s in enumerate(doc["Statement"]) if i != gone]
    planned = document(rest) if rest else None

    found = new_access(doc, planned)
    assert all(item.kind == "deny" for item in found)
    assert new_access(doc, document([*rest, doc["Statement"][gone]])) == []


@PROPERTY
@given(POLICIES | st.none())
def test_adding_an_allow_of_everything_is_new(doc: dict[str, Any] | None):
    """An Allow of `*` to everyone on `*` (no generated policy has one) is always new."""
    statements = [] if doc is None else doc["Statement"]

    found = new_access(doc, document([*statements, EVERYTHING]))

    assert [item.kind for item in found if item.kind != "deny"] == ["grant"]
