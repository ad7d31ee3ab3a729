"""``helpdesk staff``: staff members, their roles and API tokens."""

from __future__ import annotations

from datetime import datetime

import click

from helpdesk.exceptions import HelpdeskError


@click.group("staff")
def staff() -> None:
    """Staff members and their API tokens."""


@staff.command("create")
@click.argument("login")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.option("--token", is_flag=True, help="Also issue an API token, printed once on the last line.")
def staff_create(login: str, role: str, token: bool) -> None:
    """Create or update staff member LOGIN (their GitHub login).

    Someone who has not signed in yet is recorded by login; their first GitHub sign-in with that login
    claims the record and ties it to their GitHub account's id.
    """
    from helpdesk.accounts.models import Role
    from helpdesk.accounts.services import AccountService
    from helpdesk.cli.context import cli_session

    with cli_session() as session:
        try:
            person, issued = AccountService(session).create_staff(login, Role(role), with_token=token)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"{person.handle} is {person.role.value} (person {person.id}).", err=issued is not None)
    if issued is not None:
        click.echo("API token (shown once; store it now):", err=True)
        click.echo(issued)


@staff.command("tokens")
@click.argument("login")
def staff_tokens(login: str) -> None:
    """List the API tokens of LOGIN: prefix, created, last used, revoked (times in UTC)."""
    from helpdesk.accounts.services import AccountService
    from helpdesk.cli.context import cli_session

    with cli_session() as session:
        try:
            person, tokens = AccountService(session).tokens_of(login)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        if not tokens:
            click.echo(f"{person.handle} (person {person.id}, {person.role.value}) has no API tokens.")
            return
        rows = [("PREFIX", "CREATED", "LAST USED", "REVOKED")] + [
            (t.prefix, _when(t.created_at), _when(t.last_used_at, "never"), _when(t.revoked_at, "-")) for t in tokens
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for *padded, last in rows:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(padded, widths, strict=True)) + "  " + last)


@staff.command("revoke")
@click.argument("prefix")
def staff_revoke(prefix: str) -> None:
    """Revoke the API token shown with PREFIX by `helpdesk staff tokens`; a prefix two tokens share is refused."""
    from helpdesk.accounts.services import AccountService
    from helpdesk.cli.context import cli_session

    with cli_session() as session:
        try:
            token, revoked = AccountService(session).revoke_token(prefix)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        owner = token.person.handle
        if revoked:
            click.echo(f"Revoked token {token.prefix} of {owner}.")
        else:
            click.echo(f"Token {token.prefix} of {owner} was already revoked ({_when(token.revoked_at)}).")


@staff.command("demote")
@click.argument("login")
def staff_demote(login: str) -> None:
    """Make LOGIN a plain user again: every API token revoked, every web session ended, audited."""
    from helpdesk.accounts.services import AccountService
    from helpdesk.cli.context import cli_session

    with cli_session() as session:
        try:
            person, revoked, ended = AccountService(session).demote(login)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"{person.handle} is user (person {person.id}). API tokens revoked: {len(revoked)}; "
                   f"web sessions ended: {ended}.")


def _when(moment: datetime | None, missing: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else missing
