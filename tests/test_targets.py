"""Targets: a buckets file checked at the door, and listings that fail part-way."""

from __future__ import annotations

from pathlib import Path

import pytest

from osspolicy.errors import ManifestError
from osspolicy.manifest import Targets
from osspolicy.targets import check_targets


def test_a_buckets_file_that_is_not_utf8_is_refused_at_the_door(tmp_path: Path) -> None:
    """A buckets file with bytes that are not UTF-8 is a ManifestError (exit 2, one line
    naming the file), not an unexpected crash."""
    names = tmp_path / "names.txt"
    names.write_bytes(b"good-bucket\n\xff\xfe-not-a-name\n")
    with pytest.raises(ManifestError, match=r"names\.txt is not UTF-8 text") as excinfo:
        check_targets(Targets(buckets_file=names), source="job.yaml")
    assert "targets.buckets_file" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
