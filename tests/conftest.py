"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

# The credentials library reads its environment variables once, when it is imported, and
# the job machinery imports it on first use: import it here, before any test changes the
# environment, so that no test's variables stay in it for the tests after
import alibabacloud_credentials.provider  # noqa: F401
import pytest

from . import e2e_helpers

#: the two engines (contracts §1): every end-to-end test that asks for `engine` is made for both
ENGINES = ("threads", "aio")
#: the manifests' default engine
DEFAULT_ENGINE = "threads"
#: which engine variants a run keeps (`OSSPOLICY_TEST_ENGINES`): `subset` (`make test`)
#: runs every test on the default engine and on the aio engine only where the module or
#: the test is marked `both_engines` (a representative subset: the transports, TLS and
#: connection pools, deadlines, stopping, credentials, several accounts, faults); `rest`
#: (`make test-engines`, which `.ci/run` calls after `make test`) runs exactly the aio
#: variants `subset` leaves out; `all` runs both engines everywhere
ENGINE_MODES = ("subset", "rest", "all")


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


def _in_subset(item: pytest.Item) -> bool:
    """Whether `make test` runs the item: no engine parameter, the default engine, or
    marked `both_engines`."""
    callspec = getattr(item, "callspec", None)
    engine = callspec.params.get("engine") if callspec is not None else None
    return engine in (None, DEFAULT_ENGINE) or item.get_closest_marker("both_engines") is not None


def _engine_mode() -> str:
    mode = os.environ.get("OSSPOLICY_TEST_ENGINES", "subset")
    if mode not in ENGINE_MODES:
        raise pytest.UsageError(f"OSSPOLICY_TEST_ENGINES={mode}: expected one of {ENGINE_MODES}")
    return mode


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The engine variants of `OSSPOLICY_TEST_ENGINES` (see `ENGINE_MODES`; the others are
    deselected, and pytest's summary counts them), longest modules first (see
    `_LONGEST_FIRST`); a stable sort keeps each module's own order, so module fixtures are
    set up once per module as before."""
    mode = _engine_mode()
    if mode != "all":
        wanted = mode == "subset"
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (keep if _in_subset(item) == wanted else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    items.sort(key=lambda item: -_LONGEST_FIRST.get(item.path.name, 0))
