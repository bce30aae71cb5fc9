"""The `osspolicy` command: the typer app, the program's own options, and `main`.

No logic lives here, nor in the `cli_*` modules it registers the commands from:
`cli_batch` (run, plan, check, validate, restore, rollback), `cli_audit` (audit),
`cli_diff` (diff), `cli_bucket` (get, put, delete, status), `cli_history` (jobs, show)
and `cli_tools` (demo, schema, roles); they parse arguments, call the library, and
render with rich (`cli_summary`, `cli_progress`).
Errors are one line on stderr, no traceback (`--debug` shows it); exit codes are those
of `exitcodes.py` (contracts §4). Typer never prints locals (an access key could be
among them).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, NoReturn

import typer

from . import cli_audit, cli_batch, cli_bucket, cli_diff, cli_history, cli_tools
from .cli_console import GlobalOptions, fail, out
from .errors import ConfigError, OssPolicyError
from .exitcodes import EXIT_FAILURES, EXIT_OK, EXIT_USAGE

__all__ = (
    "app",
    "main",
)

app = typer.Typer(
    name="osspolicy",
    help="Back up, mass-apply and restore Alibaba Cloud OSS bucket policies.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

# the commands, in the order `--help` lists them (`emulator` is added last, by `main`)
app.command("run")(cli_batch.run)
app.command("plan")(cli_batch.plan)
app.command("check")(cli_batch.check)
app.command("audit")(cli_audit.audit)
app.command("validate")(cli_batch.validate)
app.command("restore")(cli_batch.restore)
app.command("rollback")(cli_batch.rollback)
app.command("diff")(cli_diff.diff)
app.command("get")(cli_bucket.get)
app.command("put")(cli_bucket.put)
app.command("delete")(cli_bucket.delete)
app.command("status")(cli_bucket.status)
app.command("demo")(cli_tools.demo)
app.command("jobs")(cli_history.jobs)
app.command("show")(cli_history.show)
app.command("schema")(cli_tools.schema)
app.command("roles")(cli_tools.roles)

#: options of the whole program, accepted before or after the subcommand
_GLOBAL_FLAGS = {
    "--debug": ("debug", True),
    "-q": ("verbosity", -1),
    "--quiet": ("verbosity", -1),
    "-v": ("verbosity", 1),
    "--verbose": ("verbosity", 1),
}


#: what `--resume` alone means (the newest unfinished job of the manifest)
RESUME_LATEST = "latest"


def _version() -> str:
    from importlib.metadata import version

    return f"osspolicy {version('osspolicy')}"


def _print_version(value: bool) -> None:
    if value:
        out.print(_version(), markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only the result line and errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="List every failure and skip.")
    ] = False,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Options accepted anywhere on the line (`main` lifts them to the front)."""
    GlobalOptions.debug = GlobalOptions.debug or debug
    if quiet or verbose:
        GlobalOptions.verbosity = -1 if quiet else 1


def _global_options(args: list[str]) -> list[str]:
    """Lift the program's own options to the front, wherever they were given, and take
    `--stats SECONDS` (the interval of status lines without a terminal)."""
    front: list[str] = []
    rest: list[str] = []
    pending_stats = False
    for arg in args:
        if pending_stats:
            GlobalOptions.stats_interval = _seconds(arg)
            pending_stats = False
        elif arg in _GLOBAL_FLAGS:
            name, value = _GLOBAL_FLAGS[arg]
            setattr(GlobalOptions, name, value)
            front.append(arg)
        elif arg == "--stats":
            pending_stats = True
        elif arg.startswith("--stats="):
            GlobalOptions.stats_interval = _seconds(arg.removeprefix("--stats="))
        else:
            rest.append(arg)
    if pending_stats:
        raise ConfigError("--stats needs a number of seconds", hint="e.g. --stats 10")
    return front + rest


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            f"--stats {text!r} is not a number of seconds", hint="e.g. --stats 10, 0 for none"
        ) from None


def _resume_value(args: list[str]) -> list[str]:
    """`--resume` takes an optional job id: alone, it means the newest unfinished job."""
    fixed: list[str] = []
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        if arg == "--resume" and (following is None or following.startswith("-")):
            fixed.append(f"--resume={RESUME_LATEST}")
        else:
            fixed.append(arg)
    return fixed


def _unexpected(exc: Exception) -> int:
    """Typer's (vendored click's) usage errors carry exit_code 2 and format_message();
    anything else is a bug: one line, the traceback only with --debug. An ExceptionGroup
    (a task group's) is never printed as one: its first error is (contracts §14)."""
    if isinstance(exc, ExceptionGroup):
        first: Exception = exc
        while isinstance(first, ExceptionGroup) and first.exceptions:
            first = first.exceptions[0]
        if isinstance(first, ConfigError):
            return fail(str(first), EXIT_USAGE)
        if isinstance(first, OssPolicyError):
            return fail(str(first), EXIT_FAILURES)
        exc = first
    exit_code = getattr(exc, "exit_code", None)
    format_message = getattr(exc, "format_message", None)
    if isinstance(exit_code, int) and callable(format_message):
        ctx = getattr(exc, "ctx", None)
        name = getattr(ctx, "command_path", None)
        hint = f" (see '{name} --help')" if name else ""
        return fail(f"{format_message()}{hint}", exit_code)
    return fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug)", EXIT_FAILURES)


def _app_for(args: list[str]) -> typer.Typer:
    """The app for `args`: `osspolicy emulator` is registered only when no other command
    is named (the emulator itself, help, a completion, a typo whose suggestion should name
    it too), so a job's start loads no emulator module."""
    named = next((arg for arg in args if not arg.startswith("-")), None)
    if named in {info.name for info in app.registered_commands}:
        return app
    return _with_emulator()


def _with_emulator() -> typer.Typer:
    """The app with `osspolicy emulator`, whose options come from the emulator's own
    command module (registered here, not at import: `--version` loads no emulator)."""
    if not any(info.name == "emulator" for info in app.registered_commands):
        from ..emulator.command import emulator

        app.command("emulator", help="Run the OSS-compatible emulator until SIGINT/SIGTERM.")(
            emulator
        )
    return app


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line per error, documented exit codes."""
    given = list(sys.argv[1:] if argv is None else argv)
    GlobalOptions.as_json = "--json" in given
    if "--version" in given and all(arg.startswith("-") for arg in given):
        # before the commands are built: nothing else to load
        out.print(_version(), markup=False)
        _exit(EXIT_OK)
    try:
        args = _global_options(_resume_value(given))
        command = typer.main.get_command(_app_for(args))
        code: Any = command.main(args=args, prog_name="osspolicy", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = fail("cancelled", 130)
    except ConfigError as exc:
        code = fail(str(exc), EXIT_USAGE)
    except OssPolicyError as exc:
        code = fail(str(exc), EXIT_FAILURES)
    except Exception as exc:
        code = _unexpected(exc)
    _exit(code if isinstance(code, int) else EXIT_OK)


#: how long the exit waits for worker threads still in a call a stop abandoned
_ABANDONED_THREADS_S = 1.0


def _exit(code: int) -> NoReturn:
    """Exit with `code`. A worker thread still blocked in a call the job abandoned
    (contracts §14) would keep the interpreter alive: every file is flushed by now, so
    after a short wait for it the process leaves without joining it."""
    stopping = sys.modules.get("osspolicy._internal.stopping")  # no job ran without it
    if stopping is not None and not stopping.join_abandoned_threads(_ABANDONED_THREADS_S):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
