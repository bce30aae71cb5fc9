"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from . import e2e_helpers

#: the two engines (contracts §1): every end-to-end test that asks for `engine` runs on both
ENGINES = ("threads", "aio")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The `engine:` of the test's jobs; the test runs once per engine."""
    return cast("str", request.param)


@pytest.fixture
def on_each_engine(engine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every manifest `e2e_helpers.write_manifest` writes in the test runs on `engine`
    (for modules whose jobs are all written that way: `pytestmark = usefixtures(...)`)."""
    monkeypatch.setattr(e2e_helpers, "ENGINE_UNDER_TEST", engine)
    return engine


@pytest.fixture(autouse=True)
def user_state_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """`XDG_STATE_HOME` of the test and its subprocesses: a folder of its own, so that a
    one-bucket `put`/`delete` never writes to the machine user's state folder."""
    folder = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder
