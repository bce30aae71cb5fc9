"""Random valid policy bytes survive backup → restore → read unchanged, through the
emulator over HTTP (issue 21's property of the whole path, not only of the algebra).

Hypothesis draws policies the service holds as they are (valid, never public: new
buckets have Block Public Access on) and writes each as a user or a console might
(compact, indented, spaced, keys in any order); each example seeds its own buckets,
backs them up with `osspolicy.backup`, overwrites or deletes every policy, restores with
`osspolicy.restore(yes=True)`, and reads every bucket back with a second backup: the
bytes must be the ones seeded, byte for byte.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import osspolicy
from osspolicy.emulator import Emulator
from osspolicy.emulator.state import check_policy

OTHER = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:PutObject"],
            "Resource": ["acs:oss:*:*:elsewhere/*"],
        }
    ],
}


def _written(doc: dict[str, Any], style: int) -> bytes:
    """The document as one of the ways a policy file is written."""
    if style == 0:
        return json.dumps(doc, separators=(",", ":")).encode()
    if style == 1:
        return json.dumps(doc, indent=2, ensure_ascii=False).encode()
    if style == 2:
        return (json.dumps(doc, sort_keys=True) + "\n").encode()
    return json.dumps(dict(reversed(list(doc.items()))), indent="\t").encode()


ACTIONS = st.sampled_from(
    ["oss:GetObject", "oss:PutObject", "oss:ListObjects", "oss:DeleteObject", "oss:Get*"]
)
PATHS = st.text(alphabet="abcdefgh0123456789-_/é", min_size=0, max_size=12)
CONDITIONS = st.none() | st.fixed_dictionaries(
    {
        "IpAddress": st.fixed_dictionaries(
            {"acs:SourceIp": st.sampled_from(["10.0.0.0/8", ["192.168.0.0/16", "10.1.0.0/16"]])}
        )
    }
)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    """A statement the service holds as it is: never public (a named principal, or a
    Deny), its Resource a path of some bucket."""
    statement: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Deny"])),
        "Principal": draw(
            st.lists(
                st.sampled_from(["1234567890123456", "2345678901234567"]),
                min_size=1,
                max_size=2,
                unique=True,
            )
        ),
        "Action": draw(st.lists(ACTIONS, min_size=1, max_size=3, unique=True)),
        "Resource": [
            f"acs:oss:*:*:{draw(st.sampled_from(['logs', 'data', 'web']))}/{draw(PATHS)}*"
        ],
    }
    if (sid := draw(st.none() | st.sampled_from(["read", "write", "ops"]))) is not None:
        statement["Sid"] = sid
    if (condition := draw(CONDITIONS)) is not None:
        statement["Condition"] = condition
    return statement


SERVICE_POLICIES = st.lists(statements(), min_size=1, max_size=4).map(
    lambda found: {"Version": "1", "Statement": found}
)
POLICY_BYTES = st.tuples(SERVICE_POLICIES, st.integers(0, 3)).map(lambda pair: _written(*pair))


def _job(emu: Emulator, folder: Path, names: list[str], **more: Any) -> dict[str, Any]:
    return {
        "targets": {"buckets": names},
        "connection": {"region": emu.region, "endpoint": emu.endpoint},
        "backup_dir": str(folder / "backups"),
        "report_dir": str(folder / "reports"),
        **more,
    }


async def _round_trip(emu: Emulator, folder: Path, bodies: dict[str, bytes]) -> dict[str, bytes]:
    names = sorted(bodies)
    first = await osspolicy.backup(_job(emu, folder, names), credentials=emu.credentials)
    assert first.exit_code == 0
    for index, name in enumerate(names):  # someone changes or removes every policy
        if index % 2:
            emu.state.delete_policy(name)
        else:
            emu.state.put_policy(name, json.dumps(OTHER).encode())
    restore = _job(emu, folder, names, action="restore", source=str(first.backup_folder))
    restored = await osspolicy.restore(restore, yes=True, credentials=emu.credentials)
    assert restored.exit_code == 0
    second = await osspolicy.backup(_job(emu, folder, names), credentials=emu.credentials)
    assert second.backup_folder is not None
    return {n: (second.backup_folder / "policies" / f"{n}.json").read_bytes() for n in names}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bodies=st.lists(POLICY_BYTES, min_size=1, max_size=10))
def test_random_valid_policy_bytes_survive_backup_restore_and_read(
    oss_emulator: Emulator, tmp_path: Path, bodies: list[bytes]
) -> None:
    """What was stored is what a restore puts back, byte for byte, whatever its layout."""
    run = uuid.uuid4().hex[:8]
    seeded = {f"rt-{run}-{i:02d}": body for i, body in enumerate(bodies)}
    for name, body in seeded.items():
        oss_emulator.seed_buckets([name], policy=lambda _bucket, body=body: body)
    folder = tmp_path / run
    read_back = anyio.run(_round_trip, oss_emulator, folder, seeded)
    assert read_back == seeded
    for name, body in seeded.items():
        assert oss_emulator.state.get_policy(name) == body


@pytest.mark.parametrize("style", range(4))
def test_each_layout_is_the_same_document(style: int) -> None:
    """The four layouts are valid JSON of the same document (the generator's own check)."""
    assert json.loads(_written(OTHER, style)) == OTHER


@settings(max_examples=50, deadline=None)
@given(body=POLICY_BYTES)
def test_every_drawn_policy_is_one_the_service_holds(body: bytes) -> None:
    """The emulator's own rules accept each drawn policy, and call it not public."""
    assert check_policy(body) is False
