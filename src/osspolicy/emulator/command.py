"""`osspolicy emulator`: run the OSS emulator in the foreground.

The first line on stdout is the endpoint URL (flushed), so a script can start it and
read where to connect. It serves until SIGINT or SIGTERM and then exits 0. Other
information goes to stderr; no secret is ever printed.

    osspolicy emulator --account 1111111111111111:AK1:SECRET1 \
        --account 2222222222222222:AK2:SECRET2 \
        --seed-buckets app-:3 --seed-buckets other-:2:cn-shanghai:2222222222222222 \
        --hostname 'oss-{region}.emu.test' --tls --ca-file ca.pem --request-log requests.jsonl

A Resource Directory: `--resource-directory rd.yaml` plays its members as accounts (the
management account first) and answers the directory's listings on the same endpoint
(`directory.py` has the file's keys); a bad file is one line on stderr, exit 2.

Slow answers, to see a client's deadlines at work: `--hang GET:policy` reads every
GetBucketPolicy and never answers it; `--trickle GET:policy --trickle-bytes-per-s 1`
answers it one byte a second. A spec is `METHOD[:SUBRESOURCE]`: `*` is any method, no
`:` any sub-resource, an empty one none (`GET:` is ListBuckets and object GETs).

`src/osspolicy/cli.py` registers `emulator` as a command; `python -m
osspolicy.emulator.command` runs it on its own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from osspolicy.emulator.accounts import Account, SeedSpec, parse_account_spec, parse_seed_spec
from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID
from osspolicy.emulator.directory import DirectoryFileError, ResourceDirectory, load_directory
from osspolicy.emulator.faults import LIST_SHAPES, parse_list_fault
from osspolicy.emulator.hosts import validate_hostname
from osspolicy.emulator.state import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from osspolicy.emulator.sts import DEFAULT_STS_DURATION_S

if TYPE_CHECKING:
    from osspolicy.emulator.server import Emulator

__all__ = ("build_app", "emulator", "main", "parse_request_spec", "parse_seed_spec")


def _check_rate(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"must be within [0, 1], got {value}")
    return value


def _check_seeds(values: list[str] | None) -> list[str] | None:
    for value in values or ():
        try:
            parse_seed_spec(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return values


def _check_accounts(values: list[str] | None) -> list[str] | None:
    for value in values or ():
        try:
            parse_account_spec(value)
        except ValueError as exc:  # never echo the spec: it holds a secret
            raise typer.BadParameter(str(exc)) from None
    return values


def _check_hostname(value: str | None) -> str | None:
    if value is not None:
        try:
            validate_hostname(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _check_list_fault(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_list_fault(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _check_page_size(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 1000:
        raise typer.BadParameter(f"must be within 1-1000, got {value}")
    return value


def parse_request_spec(spec: str) -> tuple[str, str | None]:
    """`METHOD[:SUBRESOURCE]` as (method, sub-resource or None for any)."""
    method, colon, subresource = spec.partition(":")
    method = method.strip().upper()
    if method != "*" and not method.isalpha():
        raise ValueError(
            f"{spec!r} is not METHOD[:SUBRESOURCE] (e.g. GET:policy, or * for any method)"
        )
    return method, subresource.strip() if colon else None


def _check_specs(values: list[str] | None) -> list[str] | None:
    for value in values or ():
        try:
            parse_request_spec(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return values


def _check_positive(value: float) -> float:
    if value <= 0:
        raise typer.BadParameter(f"must be positive, got {value}")
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
        str | None,
        typer.Option(help=f"The account (owner) UID it plays [default: {DEFAULT_ACCOUNT_ID}]."),
    ] = None,
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
        list[str] | None,
        typer.Option(
            metavar="PREFIX:N[:REGION[:ACCOUNT_ID]]",
            help="Create N buckets PREFIX00000, PREFIX00001, ... (no policy) of that region "
            "and account; repeatable.",
            callback=_check_seeds,
        ),
    ] = None,
    max_buckets: Annotated[
        int | None,
        typer.Option(
            help="Bucket quota per account (TooManyBuckets); none by default.",
            callback=_check_max_buckets,
        ),
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ACCOUNT_ID:ACCESS_KEY_ID:ACCESS_KEY_SECRET",
            help="An account it plays, with its key pair; repeatable, the first owns seeded "
            "buckets. Not with --account-id/--access-key-id/--access-key-secret.",
            callback=_check_accounts,
        ),
    ] = None,
    hostname: Annotated[
        str | None,
        typer.Option(
            help="Name of the endpoint (two labels or more, e.g. emu.test or "
            "oss-{region}.emu.test); <bucket>.NAME is that bucket [default: the address].",
            callback=_check_hostname,
        ),
    ] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve HTTPS with a certificate from a test CA.")
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="With --tls: write the test CA's PEM there."),
    ] = None,
    sts_duration_s: Annotated[
        float,
        typer.Option(help="Lifetime of STS temporary keys, s.", callback=_check_positive),
    ] = DEFAULT_STS_DURATION_S,
    request_log: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Append each request's log entry there (JSON lines)."),
    ] = None,
    list_page_size: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="At most N buckets per ListBuckets page, whatever max-keys asks.",
            callback=_check_page_size,
        ),
    ] = None,
    clock_offset: Annotated[
        float,
        typer.Option(
            metavar="S",
            help="Run the emulator's clock S seconds ahead of this machine's (negative: "
            "behind): a request signed more than 15 minutes off gets RequestTimeTooSkewed.",
        ),
    ] = 0.0,
    list_fault: Annotated[
        str | None,
        typer.Option(
            metavar="SHAPE[:AFTER]",
            help="Every ListBuckets answer after the first AFTER [0] lies: "
            f"{', '.join(LIST_SHAPES)} (an empty 200 body; truncated without NextMarker; "
            "NextMarker = the marker sent; NextMarker one name early, so pages overlap).",
            callback=_check_list_fault,
        ),
    ] = None,
    hang: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METHOD[:SUBRESOURCE]",
            help="Read matching requests and never answer them (e.g. GET:policy; * is any "
            "method); repeatable.",
            callback=_check_specs,
        ),
    ] = None,
    trickle: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METHOD[:SUBRESOURCE]",
            help="Send the response body of matching requests at --trickle-bytes-per-s; "
            "repeatable.",
            callback=_check_specs,
        ),
    ] = None,
    trickle_bytes_per_s: Annotated[
        float,
        typer.Option(help="How fast --trickle sends a body, bytes/s.", callback=_check_positive),
    ] = 1.0,
    resource_directory: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Play the Resource Directory of this YAML file (folders, accounts, "
            "management): its members as accounts, its listings on this endpoint.",
        ),
    ] = None,
) -> None:
    """Run the OSS-compatible emulator; the first stdout line is its endpoint URL."""
    if (access_key_id is None) != (access_key_secret is None):
        raise typer.BadParameter(
            "give both --access-key-id and --access-key-secret, or neither",
            param_hint="--access-key-id / --access-key-secret",
        )
    if account and (account_id, access_key_id) != (None, None):
        raise typer.BadParameter(
            "give --account, or --account-id/--access-key-id/--access-key-secret, not both",
            param_hint="--account",
        )
    if ca_file is not None and not tls:
        raise typer.BadParameter(
            "--ca-file writes the CA of --tls: add --tls", param_hint="--ca-file"
        )
    accounts = [parse_account_spec(spec) for spec in account or ()]
    seeds = [parse_seed_spec(spec) for spec in seed_buckets or ()]
    directory = None if resource_directory is None else _load_directory(resource_directory)
    _check_seed_accounts(seeds, accounts, account_id, directory)
    from osspolicy.emulator.server import Emulator  # noqa: PLC0415 - aiohttp only to serve

    try:
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
            accounts=accounts or None,
            hostname=hostname,
            tls=tls,
            sts_duration_s=sts_duration_s,
            request_log_path=request_log,
            list_page_size=list_page_size,
            list_fault=list_fault,
            clock_offset_s=clock_offset,
            resource_directory=directory,
        )
    except DirectoryFileError as exc:
        _fail(str(exc))
    for seed in seeds:
        emu.seed_buckets(seed.names(), region=seed.region, account_id=seed.account_id)
    _script_slow_answers(emu, hang or [], trickle or [], trickle_bytes_per_s)
    if ca_file is not None:
        emu.write_ca(ca_file)

    def ready(endpoint: str) -> None:
        print(endpoint, flush=True)  # noqa: T201 - the endpoint line is the command's output
        print(_status(emu, endpoint, ca_file), file=sys.stderr, flush=True)  # noqa: T201

    try:
        emu.serve_forever(ready)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)  # noqa: T201
        raise typer.Exit(1) from None


#: the accounts the status line names one by one with a directory (a directory may be large)
_SHOWN_ACCOUNTS = 5


def _script_slow_answers(
    emu: Emulator, hang: list[str], trickle: list[str], bytes_per_s: float
) -> None:
    """`--hang` and `--trickle`: every matching request, from the start."""
    for spec in hang:
        method, subresource = parse_request_spec(spec)
        emu.script_fault(method, None, subresource, kind="hang", count=None)
    for spec in trickle:
        method, subresource = parse_request_spec(spec)
        emu.script_fault(
            method, None, subresource, kind="trickle", count=None, bytes_per_s=bytes_per_s
        )


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: a bad input the user fixes (no usage box, no traceback)."""
    print(f"error: {message}", file=sys.stderr)  # noqa: T201 - the command's one error line
    raise typer.Exit(2)


def _load_directory(path: Path) -> ResourceDirectory:
    try:
        return load_directory(path)
    except DirectoryFileError as exc:
        _fail(str(exc))


def _check_seed_accounts(
    seeds: list[SeedSpec],
    accounts: list[Account],
    account_id: str | None,
    directory: ResourceDirectory | None = None,
) -> None:
    known = {a.account_id for a in accounts}
    if not known and (directory is None or account_id is not None):
        known = {account_id or DEFAULT_ACCOUNT_ID}
    if directory is not None:
        known |= {m.account_id for m in directory.members}
    for seed in seeds:
        if seed.account_id is not None and seed.account_id not in known:
            raise typer.BadParameter(
                f"account {seed.account_id} of {seed.prefix}:{seed.count} is not one of the "
                f"emulator's accounts ({', '.join(sorted(known))}): add it with --account",
                param_hint="--seed-buckets",
            )


def _status(emu: Emulator, endpoint: str, ca_file: Path | None) -> str:
    """The stderr line once listening: accounts and key ids, never a secret."""
    demo = " (the demo key pair)" if emu.access_key_id == DEMO_ACCESS_KEY_ID else ""
    directory = emu.resource_directory
    shown = emu.accounts if directory is None else emu.accounts[:_SHOWN_ACCOUNTS]
    accounts = "; ".join(f"account {a.account_id}, access key id {a.access_key_id}" for a in shown)
    extras = ""
    if directory is not None:
        extras += (
            f", resource directory {directory.directory_id} of {len(directory.members)} "
            f"accounts in {len(directory.folders)} folders (management {directory.management})"
        )
    if emu.hostname is not None:
        extras += f", hostname {emu.hostname}"
    if ca_file is not None:
        extras += f", test CA in {ca_file}"
    return (
        f"OSS emulator listening on {endpoint} (STS AssumeRole on the same endpoint): region "
        f"{emu.region}, {accounts}{demo}{extras}, {len(emu.state)} buckets. "
        "Stop with Ctrl-C or SIGTERM."
    )


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
