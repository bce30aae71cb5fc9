"""A directory job's book never calls an account `ok` that the job left unfinished.

A job stopped by a signal (or anything but a threshold that writes `skipped` records)
leaves some accounts with no record at all: their listing had not begun, or had begun
and not ended, or their listed buckets were not all done. Each of those is `skipped`
and missing, with why; an account whose listing ended and whose every listed bucket has
a record stays `ok`. A restore's book (targets from a backup, no listing) is unchanged.
"""

from __future__ import annotations

from osspolicy._internal.account_book import AccountBook
from osspolicy._internal.results import Outcome, Result


def record(account: str, bucket: str) -> Result:
    return Result(
        bucket=bucket,
        region="cn-hangzhou",
        action="backup",
        outcome=Outcome.FETCHED,
        account=account,
    )


def listing_book(*members: str) -> AccountBook:
    book = AccountBook(listed=True)
    for member in members:
        book.member(member, f"name-{member}", "ok")
    book.listing()
    return book


def statuses(book: AccountBook) -> dict[str, tuple[str, str | None]]:
    return {entry["name"]: (entry["status"], entry["error"]) for entry in book.records()}


def test_an_account_whose_listing_ended_and_whose_buckets_all_have_records_is_ok() -> None:
    book = listing_book("2001")
    book.observe(record("2001", "b-1"))
    book.observe(record("2001", "b-2"))
    book.listed("2001", 2)
    assert statuses(book) == {"2001": ("ok", None)}
    assert book.missing() == []


def test_an_account_with_no_buckets_whose_listing_ended_is_ok() -> None:
    book = listing_book("2001")
    book.listed("2001", 0)
    assert statuses(book) == {"2001": ("ok", None)}


def test_an_account_the_job_never_listed_is_skipped_and_missing() -> None:
    book = listing_book("2001", "2002")
    book.observe(record("2001", "b-1"))
    book.listed("2001", 1)
    assert statuses(book)["2002"] == (
        "skipped",
        "the job stopped before its buckets were all listed",
    )
    assert book.missing() == ["2002"]


def test_an_account_whose_listed_buckets_are_not_all_done_is_skipped_and_missing() -> None:
    book = listing_book("2001")
    book.observe(record("2001", "b-1"))
    book.observe(record("2001", "b-2"))
    book.listed("2001", 3)
    assert statuses(book) == {"2001": ("skipped", "the job stopped with 2 of its 3 buckets done")}
    assert book.missing() == ["2001"]


def test_a_restore_book_without_a_listing_keeps_its_accounts_ok() -> None:
    book = AccountBook()
    book.member("2001", "name-2001", "ok")
    book.observe(record("2001", "b-1"))
    assert statuses(book) == {"2001": ("ok", None)}
    assert book.missing() == []
