"""`osspolicy emulator`: run the OSS emulator in the foreground.

The first line on stdout is the endpoint URL (flushed), so a script can start it and
read where to connect. It serves until SIGINT or SIGTERM and then exits 0. Other
information goes to stderr; the secret is never printed.

`src/osspolicy/cli.py` registers `emulator` as a command; `python -m
osspolicy.emulator.command` runs it on its own.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID
from osspolicy.emulator.server import Emulator
from osspolicy.emulator.state import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    OssError,
    validate_bucket_name,
)

__all__ = ("build_app", "emulator", "main", "parse_seed_spec")


def parse_seed_spec(spec: str) -> tuple[str, int]:
    """`PREFIX:N` -> (PREFIX, N); buckets are f"{PREFIX}{i:05d}" for i in range(N)."""
    prefix, sep, count = spec.rpartition(":")
    if not sep or not count.isdigit():
        raise ValueError(f"expected PREFIX:N (e.g. bench-:1000), got {spec!r}")
    n = int(count)
    if n:
        try:
            validate_bucket_name(f"{prefix}{n - 1:05d}")
            validate_bucket_name(f"{prefix}00000")
        except OssError:
            raise ValueError(
                f"{prefix!r} does not make valid bucket names (lowercase letters, digits, "
                "hyphens; not starting with a hyphen; at most 63 characters with the number)"
            ) from None
    return prefix, n


def _check_rate(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"must be within [0, 1], got {value}")
    return value


def _check_seed(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_seed_spec(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _check_non_negative(value: float) -> float:
    if value < 0:
        raise typer.BadParameter(f"must not be negative, got {value}")
    return value


def _check_port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"must be within 0-65535, got {value}")
    return value


def _check_max_buckets(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise typer.BadParameter(f"must not be negative, got {value}")
    return value


def emulator(  # noqa: PLR0917 - a CLI command: typer passes options by name
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port; 0 picks a free one.", callback=_check_port)
    ] = 0,
    region: Annotated[
        str, typer.Option(help="Region of V1-created and seeded buckets.")
    ] = DEFAULT_REGION,
    account_id: Annotated[
        str, typer.Option(help="The account (owner) UID the emulator plays.")
    ] = DEFAULT_ACCOUNT_ID,
    access_key_id: Annotated[
        str | None,
        typer.Option(help="Access key id to accept (default: $OSS_ACCESS_KEY_ID, else demo)."),
    ] = None,
    access_key_secret: Annotated[
        str | None,
        typer.Option(help="Its secret (default: $OSS_ACCESS_KEY_SECRET, else the demo one)."),
    ] = None,
    latency_ms: Annotated[
        float, typer.Option(help="Added latency per request, ms.", callback=_check_non_negative)
    ] = 0.0,
    fault_rate: Annotated[
        float,
        typer.Option(help="Share of requests failing (500, 503, reset).", callback=_check_rate),
    ] = 0.0,
    fault_after_rate: Annotated[
        float,
        typer.Option(
            help="Share of requests applied, then the response lost.", callback=_check_rate
        ),
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault decisions.")] = 0,
    seed_buckets: Annotated[
        str | None,
        typer.Option(
            metavar="PREFIX:N",
            help="Create N buckets named PREFIX00000, PREFIX00001, ... (no policy).",
            callback=_check_seed,
        ),
    ] = None,
    max_buckets: Annotated[
        int | None,
        typer.Option(
            help="Bucket quota (TooManyBuckets); none by default.", callback=_check_max_buckets
        ),
    ] = None,
) -> None:
    """Run the OSS-compatible emulator; the first stdout line is its endpoint URL."""
    if (access_key_id is None) != (access_key_secret is None):
        raise typer.BadParameter(
            "give both --access-key-id and --access-key-secret, or neither",
            param_hint="--access-key-id / --access-key-secret",
        )
    emu = Emulator(
        port=port,
        region=region,
        account_id=account_id,
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_after_rate=fault_after_rate,
        fault_seed=fault_seed,
        max_buckets=max_buckets,
        host=host,
    )
    if seed_buckets is not None:
        prefix, count = parse_seed_spec(seed_buckets)
        emu.seed_buckets(f"{prefix}{i:05d}" for i in range(count))

    def ready(endpoint: str) -> None:
        print(endpoint, flush=True)  # noqa: T201 - the endpoint line is the command's output
        demo = " (the demo key pair)" if emu.access_key_id == DEMO_ACCESS_KEY_ID else ""
        print(  # noqa: T201 - status on stderr, never the secret
            f"OSS emulator listening on {endpoint}: region {emu.region}, account "
            f"{emu.account_id}, access key id {emu.access_key_id}{demo}, "
            f"{len(emu.state)} buckets. Stop with Ctrl-C or SIGTERM.",
            file=sys.stderr,
            flush=True,
        )

    try:
        emu.serve_forever(ready)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)  # noqa: T201
        raise typer.Exit(1) from None


def build_app() -> typer.Typer:
    """A one-command typer app around `emulator` (never printing locals: keys)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(emulator)
    return app


def main() -> None:
    """Run `emulator` as a stand-alone command (`python -m osspolicy.emulator.command`)."""
    build_app()()


if __name__ == "__main__":
    main()
