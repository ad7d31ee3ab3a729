"""The ``helpdesk`` command line (also ``python -m helpdesk``).

The root group only gathers commands: those of running the desk are in :mod:`helpdesk.cli.commands`,
the rest live with their domain. Each reaches settings and the database through
:func:`helpdesk.cli.context.cli_context`.
"""

from __future__ import annotations

import click

from helpdesk.accounts.cli import staff
from helpdesk.cli.commands import db, demo, discourse, init, queues, serve, worker
from helpdesk.cli.context import CliContext, cli_context
from helpdesk.cli.escalations import escalations
from helpdesk.programs.cli import programs
from helpdesk.search.cli import kb
from helpdesk.triage.cli import triage

__all__ = ["CliContext", "cli", "cli_context", "main"]


@click.group(help="Run and administer the DP0 Support Desk. Settings come from HELPDESK_* variables.")
@click.version_option(package_name="dp0-helpdesk")
@click.pass_context
def cli(ctx: click.Context) -> None:
    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
    ctx.call_on_close(ctx.obj.close)


for command in (serve, init, db, queues, staff, demo, worker, discourse, kb, programs, triage, escalations):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="helpdesk")
