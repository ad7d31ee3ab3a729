"""``helpdesk programs``: load the delegate programmes and look at their seats."""

from __future__ import annotations

from pathlib import Path

import click

from helpdesk.exceptions import HelpdeskError


@click.group("programs")
def programs() -> None:
    """Delegate programmes: seat caps and the waitlist."""


@programs.command("load")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A programs.yaml; default: the shipped DP0 programme.")
def programs_load(path: Path | None) -> None:
    """Create the programmes that do not exist yet (caps of existing ones are left alone)."""
    from helpdesk.cli.context import cli_context
    from helpdesk.programs.services import ProgramService, load_program_config

    try:
        configs = load_program_config(path)
    except HelpdeskError as exc:
        raise click.ClickException(exc.message) from exc
    with cli_context().session() as session:
        created, kept = ProgramService(session).sync(configs)
    click.echo(f"{len(configs)} programmes: {created} created, {kept} already there.")


@programs.command("show")
@click.argument("slug", default="dp0")
def programs_show(slug: str) -> None:
    """Print a programme's cap and how many are active, pending and waiting."""
    from helpdesk.cli.context import cli_context
    from helpdesk.programs.services import ProgramService

    with cli_context().session() as session:
        try:
            counts = ProgramService(session).counts(slug)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(" ".join(f"{key}={value}" for key, value in counts.to_dict().items()))
