"""Commands that run the desk: serve, first start, migrations, queues, the worker, forum sync, demo data."""

from __future__ import annotations

from pathlib import Path

import click

from helpdesk.cli.context import cli_context, progress_bar
from helpdesk.config import UnsafeSettingsError
from helpdesk.exceptions import HelpdeskError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the helpdesk with Flask's development server (production uses gunicorn)."""
    from helpdesk import create_app

    try:
        app = create_app(cli_context().settings)
    except UnsafeSettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = app.extensions["helpdesk"].settings
    click.echo(f"DP0 Support Desk ({settings.env}, sign-in: {settings.auth}) on http://{host}:{port}/")
    click.echo(f"Documentation: http://{host}:{port}/docs/   Staff console: http://{host}:{port}/staff/")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.command()
@click.option("--kb-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("kb"), show_default=True,
              help="Knowledge-base articles to index.")
def init(kb_dir: Path) -> None:
    """First start: migrate, load the shipped queues and programme if absent, build the search index.

    Safe to repeat. The index covers the built documentation too when HELPDESK_DOCS_DIR holds it
    (``make docs``); run ``helpdesk kb index`` again after building the documentation.
    """
    context = cli_context()
    _upgrade(context, "head")
    _load_defaults(context)
    from helpdesk.search.documents import iter_built_docs, iter_kb
    from helpdesk.search.services import SearchService

    settings = context.settings
    documents = list(iter_kb(kb_dir)) if kb_dir.is_dir() else []
    has_docs = (settings.docs_dir / "docs").is_dir()
    if has_docs:
        documents += list(iter_built_docs(settings.docs_dir))
    with click.progressbar(length=len(documents), label="Indexing", file=click.get_text_stream("stderr")) as bar:
        count = SearchService(settings.index_dir).rebuild(documents, progress=lambda _doc: bar.update(1))
    click.echo(f"Search index: {count} pages in {settings.index_dir}"
               + ("." if has_docs else " (knowledge base only: build the documentation, then `helpdesk kb index`)."))
    click.echo("Ready. Next: `helpdesk staff create LOGIN --role admin`, then `helpdesk serve`.")


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--no-defaults", is_flag=True, help="Do not load the shipped queues and programme when absent.")
def db_upgrade(revision: str, no_defaults: bool) -> None:
    """Apply Alembic migrations up to REVISION, analyse the tables, then load the shipped defaults that are absent.

    A fresh database gets the default tier-two queues and the DP0 programme, so that the desk works at
    once; queues and programmes that exist are left as they are. The planner statistics are refreshed
    (ANALYZE) so that new indexes are used at once.
    """
    context = cli_context()
    _upgrade(context, revision)
    if not no_defaults and revision == "head":
        _load_defaults(context)


def _upgrade(context, revision: str) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from helpdesk.cli.context import ensure_sqlite_dir
    from helpdesk.migrations import alembic_config

    settings = context.settings
    ensure_sqlite_dir(settings.database_url)
    command.upgrade(alembic_config(settings.database_url), revision)
    click.echo(f"Database at {_redacted(settings.database_url)} is at revision {revision}.")
    _analyze(context)


def _analyze(context) -> None:  # type: ignore[no-untyped-def]
    """Fresh planner statistics, so new indexes and extended statistics are used at once (helpdesk.maintenance)."""
    from helpdesk.maintenance import analyze_all

    tables = analyze_all(context.engine)
    click.echo(f"Planner statistics refreshed ({len(tables)} tables).")


def _load_defaults(context) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from helpdesk.programs.services import ProgramService, load_program_config
    from helpdesk.tickets.models import Queue
    from helpdesk.tickets.queues import load_queue_config, sync_queues

    with context.session() as session:
        if session.scalar(select(Queue.id).limit(1)) is None:
            configs = load_queue_config(context.settings.queues_file)
            created, _ = sync_queues(session, configs)
            click.echo(f"Loaded {created} default queues (helpdesk queues load to change them).")
        created, _kept = ProgramService(session).sync(load_program_config())
        if created:
            click.echo(f"Created {created} delegate programme(s) (helpdesk programs show dp0).")


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations have drifted apart."""
    from alembic import command
    from alembic.util import AutogenerateDiffsDetected

    from helpdesk.migrations import alembic_config

    try:
        command.check(alembic_config(cli_context().settings.database_url))
    except AutogenerateDiffsDetected as exc:
        raise click.ClickException(f"Models and migrations differ; write a migration.\n{exc}") from exc
    click.echo("Models and migrations agree.")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    from helpdesk.migrations import alembic_config

    command.revision(alembic_config(cli_context().settings.database_url), message=message, autogenerate=True)


@click.group()
def queues() -> None:
    """The tier-two queues."""


@queues.command("load")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A queues.yaml; default: HELPDESK_QUEUES_FILE or the shipped queues.")
def queues_load(path: Path | None) -> None:
    """Create or update the queues from queues.yaml (safe to repeat)."""
    from helpdesk.tickets.queues import load_queue_config, sync_queues

    context = cli_context()
    try:
        configs = load_queue_config(path or context.settings.queues_file)
    except HelpdeskError as exc:
        raise click.ClickException(exc.message) from exc
    with context.session() as session:
        created, updated = sync_queues(session, configs)
    click.echo(f"{len(configs)} queues: {created} created, {updated} updated.")


@queues.command("members")
@click.argument("queue", required=False)
def queues_members(queue: str | None) -> None:
    """List who works each queue (or QUEUE), with their open tickets in it and the room left."""
    from sqlalchemy import select

    from helpdesk.tickets.assignment import AssignmentService
    from helpdesk.tickets.models import Queue

    with cli_context().session() as session:
        service = AssignmentService(session)
        slugs = [queue] if queue else list(session.scalars(select(Queue.slug).order_by(Queue.position, Queue.id)))
        for slug in slugs:
            try:
                members = service.members(slug)
            except HelpdeskError as exc:
                raise click.ClickException(exc.message) from exc
            listed = ", ".join(f"{m.person.handle} ({m.assigned}/{m.limit})" for m in members) or "nobody"
            click.echo(f"{slug}: {listed}")


@queues.command("add-member")
@click.argument("queue")
@click.argument("login")
def queues_add_member(queue: str, login: str) -> None:
    """Make staff member LOGIN work QUEUE: assignment may then give them its tickets (audited)."""
    from helpdesk.tickets.assignment import AssignmentService

    with cli_context().session() as session:
        try:
            added = AssignmentService(session).add_member(None, queue, login)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"{login} {'now works' if added else 'already worked'} {queue}.")


@queues.command("remove-member")
@click.argument("queue")
@click.argument("login")
def queues_remove_member(queue: str, login: str) -> None:
    """Take LOGIN out of QUEUE; the tickets they hold stay theirs (audited)."""
    from helpdesk.tickets.assignment import AssignmentService

    with cli_context().session() as session:
        try:
            AssignmentService(session).remove_member(None, queue, login)
        except HelpdeskError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"{login} no longer works {queue}.")


@queues.command("sla-sweep")
def queues_sla_sweep() -> None:
    """Warn once about every ticket whose first response is due soon or overdue (the worker does it too)."""
    from helpdesk.tickets.sla_warnings import SlaService

    context = cli_context()
    with context.session() as session:
        warnings = SlaService.from_settings(session, context.settings).sweep()
    for warning in warnings:
        click.echo(f"#{warning.ticket_id} {warning.queue}: {warning.clock.text}")
    click.echo(f"{len(warnings)} new first-response warnings.")


@click.group()
def demo() -> None:
    """Demonstration data."""


@demo.command("load")
def demo_load() -> None:
    """Load a small demo data set: people and tickets marked [demo]."""
    from helpdesk.demo import load_demo

    with cli_context().factory() as factory:
        items = load_demo(factory, progress=progress_bar)
    click.echo(f"Loaded {items} demo tickets. Demo staff: demo-staff (sign in with the dev form).")


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def worker(once: bool) -> None:
    """Deliver the outbox: replies and acknowledgements to Slack and the forum, with retries."""
    from helpdesk.logging import configure_logging
    from helpdesk.worker import run_worker

    settings = cli_context().settings
    configure_logging(settings.log_level, settings.log_format)
    stats = run_worker(settings, once=once)
    if stats is not None:
        click.echo(f"Outbox: {stats}.")


@click.group()
def discourse() -> None:
    """The Community Forum."""


@discourse.command("sync")
def discourse_sync() -> None:
    """File forum posts that the webhooks missed, each exactly once."""
    from helpdesk.channels.base import DeliveryError
    from helpdesk.channels.discourse import sync_missed_posts

    context = cli_context()
    with context.factory() as factory:
        try:
            channel = factory.create_channel("discourse")
            tickets = factory.create_ticket_service()
            result = sync_missed_posts(channel, tickets.receive, context.settings.discourse_sync_pages)
        except (HelpdeskError, DeliveryError) as exc:
            raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    click.echo(f"Forum sync: {result}.")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
