"""`feeds export`: write fixture feeds of the five vendors, their ground truth and a feeds.yml that loads them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .destinations import DestinationError, parse_destination
from .world import QUIRKS, VENDORS

console = Console(stderr=True)
out = Console()

_QUIRK_HELP = "; ".join(f"{name}: {text}" for name, text in QUIRKS.items())


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def export_command(
    to: Annotated[
        str, typer.Option("--to", help="file:///folder, s3://bucket/prefix or sftp://user@host:port/path")
    ],
    vendors: Annotated[
        list[str] | None,
        typer.Option(
            "--vendors",
            help=f"Vendors to write (comma-separated or repeated; default all: {', '.join(VENDORS)}).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed and arguments: byte-identical files.")] = 1,
    contacts: Annotated[int, typer.Option(help="People in the world, shared by all vendors.")] = 1_000,
    events: Annotated[
        int, typer.Option(help="Distinct events in the whole world (all five vendors' shares).")
    ] = 20_000,
    start: Annotated[
        str, typer.Option(help="First day (UTC), YYYY-MM-DD. Sailthru rows get event_id from 2024-03-20.")
    ] = "2024-03-18",
    days: Annotated[int, typer.Option(help="Number of days.")] = 4,
    quirks: Annotated[
        str | None,
        typer.Option(help=f"Only these quirks, comma-separated (default: all). Quirks: {_QUIRK_HELP}."),
    ] = None,
    without: Annotated[
        str | None,
        typer.Option("--without", help="All quirks except these, comma-separated, e.g. --without crlf,bom."),
    ] = None,
    no_quirks: Annotated[bool, typer.Option("--no-quirks", help="Clean feeds: no quirk at all.")] = False,
    leanplum_gzip: Annotated[bool, typer.Option(help="gzip Leanplum's JSON files (.json.gz).")] = True,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a previous export in the same local folder.")
    ] = False,
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3 endpoint (e.g. a local moto server); default $AWS_ENDPOINT_URL.")
    ] = None,
    known_hosts: Annotated[
        str | None, typer.Option(help="SFTP: known_hosts file with the server's host key.")
    ] = None,
    key_file: Annotated[str | None, typer.Option(help="SFTP: private key file.")] = None,
    password_env: Annotated[
        str | None, typer.Option(help="SFTP: name of the environment variable holding the password.")
    ] = None,
) -> None:
    """Write fixture feeds exactly as each vendor writes them, the ground truth (`truth/`) and a `feeds.yml`.

    Quirks of real feeds are on by default; switch them with --quirks (only these), --without (all but these)
    or --no-quirks. Exit codes: 0 written, 2 bad arguments or destination.
    """
    from .run import export

    chosen_vendors = _split(vendors) or list(VENDORS)
    if no_quirks:
        chosen_quirks: list[str] = []
    elif quirks is not None:
        chosen_quirks = _split([quirks])
    else:
        chosen_quirks = list(QUIRKS)
    chosen_quirks = [q for q in chosen_quirks if q not in set(_split([without] if without else []))]
    unknown = [q for q in _split([quirks or "", without or ""]) if q not in QUIRKS]
    if unknown:
        console.print(
            f"[bold red]error:[/] unknown quirk(s) {', '.join(unknown)}; known: {', '.join(QUIRKS)}"
        )
        raise typer.Exit(2)
    try:
        dest = parse_destination(to, endpoint_url, known_hosts, key_file, password_env)
        result = export(
            dest,
            chosen_vendors,
            seed,
            contacts,
            events,
            start,
            days,
            chosen_quirks,
            overwrite=overwrite,
            leanplum_gzip=leanplum_gzip,
            progress=lambda msg: console.print(msg, highlight=False),
        )
    except (DestinationError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out.print(
        f"wrote {result.files:,} files, {result.rows:,} rows ({result.events:,} distinct events) to {result.destination}"
        f" in {result.seconds:.1f}s ({result.events_per_second:,.0f} rows/s); truth in truth/, config in feeds.yml",
        highlight=False,
    )
