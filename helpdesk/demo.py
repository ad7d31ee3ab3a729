"""A small, clearly marked demo data set for trying the console."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from helpdesk.accounts.models import Identity, Person, Provider, Role
from helpdesk.accounts.services import DEV_PREFIX
from helpdesk.factory import Factory
from helpdesk.tickets.models import Source, Visibility
from helpdesk.tickets.queues import load_queue_config, sync_queues
from helpdesk.tickets.services import DeliveryKey

DEMO_TAG = "[demo]"

# (queue slug or None for unsorted, source, subject, body)
DEMO_TICKETS: list[tuple[str | None, Source, str, str]] = [
    (None, Source.WEB, "Invitation link says it expired",
     "I was accepted as a delegate but the invitation link to the Science Platform says it has expired."),
    ("catalogs", Source.SLACK, "TAP query on dp02_dc2_catalogs.Object times out",
     "A cone search of 1 degree around RA 62, Dec -37 on Object with `coord_ra`, `coord_dec` never returns."),
    ("butler", Source.DISCOURSE, "Which collection holds the calexp images?",
     "butler.get('calexp', ...) fails with a missing collection; which collection should I use for DP0.2?"),
    ("science-platform", Source.WEB, "Notebook server will not start",
     "Spawning a large server stays on 'pending' for ten minutes and then fails."),
    ("pipelines", Source.API, "Extendedness looks wrong for bright stars",
     "Bright stars in the Object table have refExtendedness 1. Is that expected for DC2?"),
    ("general", Source.WEB, "How should I cite DP0 in a paper?",
     "Is there a citation or acknowledgement text for work that uses DP0.2?"),
]


def _demo_person(factory: Factory, login: str, role: Role) -> Person:
    session = factory.session
    existing = factory.create_account_service().find_by_login(login)
    if existing is not None:
        return existing
    # A dev: key, which no GitHub sign-in can claim: registering "demo-staff" on GitHub gains nothing.
    person = Person(display_name=f"{login} {DEMO_TAG}", role=role, is_demo=True)
    person.identities.append(Identity(provider=Provider.GITHUB, external_id=DEV_PREFIX + login, username=login))
    session.add(person)
    session.commit()
    return person


def load_demo(
    factory: Factory, progress: Callable[[list[Any], str], AbstractContextManager[Any]] | None = None
) -> int:
    """Load the demo people and tickets; running it again adds nothing (each ticket has a delivery key).

    Tickets and replies go through the ticket service like every other write.
    """
    session = factory.session
    sync_queues(session, load_queue_config())
    requester = _demo_person(factory, "demo-delegate", Role.USER)
    staff = _demo_person(factory, "demo-staff", Role.STAFF)
    service = factory.create_ticket_service()
    items = list(enumerate(DEMO_TICKETS))
    context = progress(items, "Loading demo tickets") if progress else nullcontext(items)
    with context as bar:
        for index, (queue, source, subject, body) in bar:
            filed = service.file(
                requester, f"{DEMO_TAG} {subject}", body, source, queue_slug=queue,
                delivery=DeliveryKey.of("demo", f"ticket-{index}"),
            )
            if filed.created and source in (Source.WEB, Source.API):
                service.reply(staff, filed.ticket.id, "Thanks, we are looking into it.", Visibility.PUBLIC)
    return len(DEMO_TICKETS)
