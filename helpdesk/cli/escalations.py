"""``helpdesk escalations``: follow the engineering tracker's state of escalated tickets."""

from __future__ import annotations

import click

from helpdesk.cli.context import cli_context


@click.group("escalations")
def escalations() -> None:
    """Tickets escalated to the engineering tracker (Jira or GitHub)."""


@escalations.command("sync")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Escalations to check in this run, least recently checked first.")
def escalations_sync(limit: int) -> None:
    """Read each open escalation's state from its tracker; tell the requester once it is resolved or closed.

    Run it every few minutes (a cron job or systemd timer). Exits 1 when some issues could not be read.
    """
    context = cli_context()
    with context.factory() as factory:
        result = factory.create_escalation_service().sync(limit=limit)
    click.echo(f"Escalations: {result}.")
    if result.failed:
        raise SystemExit(1)
