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


@programs.command("draw")
@click.argument("slug")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="The seed; default: a random one. Either way it is printed and kept in the audit trail.")
def programs_draw(slug: str, seed: int | None) -> None:
    """Run a lottery programme's weighted draw (once): the first drawn take the open seats, the rest wait."""
    from helpdesk.cli.context import cli_context
    from helpdesk.programs.services import ProgramService

    with cli_context().session() as session:
        try:
            result = ProgramService(session).draw(None, slug, seed)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"seed={result.seed} entries={len(result.order)} seats={len(result.selected)} "
               f"waitlisted={len(result.order) - len(result.selected)}")


@programs.command("replay")
@click.argument("slug")
def programs_replay(slug: str) -> None:
    """Draw again from the inputs the audit trail kept, and check that the same order comes out."""
    from helpdesk.cli.context import cli_context
    from helpdesk.programs.services import ProgramService, replay_draw

    with cli_context().session() as session:
        try:
            event = ProgramService(session).draw_event(slug)
            if event is None:
                raise click.ClickException(f"{slug} has no draw in the audit trail.")
            order = replay_draw(event.data)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        recorded = event.data.get("order")
    click.echo(f"seed={event.data['seed']} entries={len(order)} order={' '.join(map(str, order))}")
    if order != recorded:
        raise click.ClickException("The replayed order differs from the recorded one: the record was altered.")
    click.echo("The replay gives the recorded order.")
