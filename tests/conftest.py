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


#: the modules that take longest (seconds on one core here, `--durations`), run first so
#: that two workers end together: with `--dist loadfile` a long module handed out last
#: leaves the other worker idle (longest-first scheduling; the order of the rest is kept)
_LONGEST_FIRST = {
    "test_reach_e2e.py": 60,
    "test_docs.py": 60,
    "test_restore_e2e.py": 35,
    "test_connections_e2e.py": 32,
    "test_resume_e2e.py": 30,
    "test_directory_e2e.py": 20,
    "test_secrets_e2e.py": 15,
    "test_cli_desk.py": 15,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (see `_LONGEST_FIRST`); a stable sort keeps each module's
    own order, so module fixtures are set up once per module as before."""
    items.sort(key=lambda item: -_LONGEST_FIRST.get(item.path.name, 0))
