"""ListBuckets pages on request: smaller pages (`list_page_size`) and answers that lie
(`list_fault`, `--list-fault SHAPE[:AFTER]`), as the real SDK reads them."""

from __future__ import annotations

import signal

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator
from osspolicy.emulator.faults import parse_list_fault
from tests.emulator.conftest import AK, SK, make_client
from tests.emulator.test_cli import _client, _start

NAMES = [f"page-{i:02d}" for i in range(8)]


def _emulator(**options: object) -> Emulator:
    emu = Emulator(access_key_id=AK, access_key_secret=SK, **options)  # type: ignore[arg-type]
    emu.seed_buckets(NAMES)
    return emu


def _page(client: oss.Client, marker: str = "") -> oss.ListBucketsResult:
    """One page, asked for 1,000 buckets as osspolicy asks."""
    return client.list_buckets(oss.ListBucketsRequest(marker=marker, max_keys=1000))


def _names(result: oss.ListBucketsResult) -> list[str]:
    return [str(b.name) for b in result.buckets or ()]


def test_list_page_size_caps_each_page_whatever_max_keys_asks() -> None:
    """With `list_page_size=3`, 8 buckets asked 1,000 at a time come in pages of 3, 3
    and 2, each truncated page's NextMarker its last name."""
    with _emulator(list_page_size=3) as emu:
        client = make_client(emu)
        first = _page(client)
        second = _page(client, first.next_marker or "")
        last = _page(client, second.next_marker or "")
    assert [_names(first), _names(second), _names(last)] == [NAMES[:3], NAMES[3:6], NAMES[6:]]
    assert (first.next_marker, second.next_marker, last.is_truncated) == (
        NAMES[2],
        NAMES[5],
        False,
    )


def test_an_empty_fault_answers_200_with_no_body() -> None:
    """`list_fault="empty"`: ListBuckets answers 200 with an empty body, logged as such."""
    with _emulator(list_fault="empty") as emu:
        result = _page(make_client(emu))
        log = emu.request_log
    assert (result.status_code, result.headers.get("Content-Length")) == (200, "0")
    assert [(e.status, e.fault) for e in log] == [(200, "empty")]


def test_a_no_next_marker_fault_is_truncated_without_a_marker() -> None:
    """`no-next-marker`: the page says IsTruncated true and gives no NextMarker."""
    with _emulator(list_page_size=3, list_fault="no-next-marker") as emu:
        result = _page(make_client(emu))
    assert (_names(result), result.is_truncated, result.next_marker) == (NAMES[:3], True, None)


def test_a_stuck_marker_fault_after_one_answer_repeats_the_marker_sent() -> None:
    """`stuck-marker:1`: the first answer is true; from the second on, NextMarker is the
    marker that was sent, so a client that believes it asks for the same page forever."""
    with _emulator(list_page_size=3, list_fault="stuck-marker:1") as emu:
        client = make_client(emu)
        first = _page(client)
        second = _page(client, first.next_marker or "")
        third = _page(client, second.next_marker or "")
    assert (first.next_marker, second.next_marker, third.next_marker) == (NAMES[2],) * 3
    assert _names(second) == _names(third) == NAMES[3:6]


def test_an_overlap_fault_repeats_each_pages_last_name_on_the_next() -> None:
    """`overlap`: NextMarker is the name before the page's last, so the next page starts
    with that last name again; the marker still advances."""
    with _emulator(list_page_size=3, list_fault="overlap") as emu:
        client = make_client(emu)
        first = _page(client)
        second = _page(client, first.next_marker or "")
    assert (_names(first), first.next_marker) == (NAMES[:3], NAMES[1])
    assert _names(second) == NAMES[2:5]


def test_a_listing_shape_is_for_list_buckets_only() -> None:
    """Scripting a listing shape on a bucket's request is a ValueError."""
    with pytest.raises(ValueError, match="ListBuckets"):
        Emulator(access_key_id=AK, access_key_secret=SK).script_fault(
            "GET", "a-bucket", "policy", kind="empty"
        )


def test_a_list_fault_spec_names_a_shape_and_a_count() -> None:
    """`SHAPE[:AFTER]` parses to the shape and AFTER (0 when left out); an unknown shape
    or a non-number AFTER is a ValueError naming the shapes."""
    assert parse_list_fault("overlap") == ("overlap", 0)
    assert parse_list_fault("empty:2") == ("empty", 2)
    with pytest.raises(ValueError, match="stuck-marker"):
        parse_list_fault("stale")
    with pytest.raises(ValueError, match="AFTER"):
        parse_list_fault("empty:x")


def test_the_command_takes_list_page_size_and_list_fault() -> None:
    """`osspolicy emulator --list-page-size 2 --list-fault stuck-marker:1`: pages of two,
    and the second answer's NextMarker is the marker sent."""
    running = _start(
        "--access-key-id", AK, "--access-key-secret", SK, "--seed-buckets", "cli-:5",
        "--list-page-size", "2", "--list-fault", "stuck-marker:1",
    )  # fmt: skip
    try:
        client = _client(running.endpoint, AK, SK)
        first = _page(client)
        second = _page(client, first.next_marker or "")
    finally:
        code, _ = running.stop(signal.SIGTERM)
    assert (_names(first), first.next_marker) == (["cli-00000", "cli-00001"], "cli-00001")
    assert (_names(second), second.next_marker, code) == (
        ["cli-00002", "cli-00003"],
        "cli-00001",
        0,
    )
