"""Email notifications through a real local SMTP server: queued by the ticket service through the outbox,
sent once by the worker, with the link back to the ticket and an unsubscribe link that works."""

from __future__ import annotations

import re

from sqlalchemy import select

from helpdesk.accounts.models import Person
from helpdesk.channels.email import read_unsubscribe_token, unsubscribe_token
from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus, Source, Visibility
from tests.conftest import TEST_SECRET, csrf_token_from
from tests.workspace.conftest import requester_with_email, staff, web_ticket


def _email_items(desk):  # type: ignore[no-untyped-def]
    """The email deliveries as they stand, read without holding SQLite's write lock against the worker."""
    with desk.read() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.EMAIL_REPLY.value)
                                    .order_by(OutboxItem.id)))


def test_public_reply_is_emailed_once_with_links(desk, smtp, client) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    dana, sam = requester_with_email(session), staff(session)
    ticket = web_ticket(desk, session, dana)
    service = desk.factory(session).create_ticket_service()
    message = service.reply(sam, ticket.id, "Use the 2.2i/runs/DP0.2 collection.", Visibility.PUBLIC)

    (item,) = _email_items(desk)
    assert (item.ticket_id, item.message_id, item.channel) == (ticket.id, message.id, "email")
    stats = desk.worker().run_once()
    assert stats.delivered == 1, stats.errors
    (mail,) = smtp.messages
    assert mail["To"] == "dana@example.org" and mail["From"] == "DP0 Support <support@help.test>"
    assert mail["Subject"] == f"[DP0 Support #{ticket.id}] Butler cannot find calexp"
    text = mail.get_content()
    assert "Hello Dana Delegate" in text and "2.2i/runs/DP0.2" in text and "sam answered" in text
    assert f"https://help.test/tickets/{ticket.id}" in text
    unsubscribe = re.search(r"https://help\.test(/notifications/unsubscribe/\S+)", text).group(1)  # type: ignore[union-attr]
    assert str(mail["List-Unsubscribe"]).strip() == f"<https://help.test{unsubscribe}>"
    delivered = _email_items(desk)[0]
    assert delivered.status is OutboxStatus.DELIVERED and delivered.remote_id == mail["Message-ID"]
    assert mail["Message-ID"].startswith(f"<outbox-{item.id}.") and mail["Message-ID"].endswith("@help.test>")

    # Running the worker again (or a retry of the same reply) sends nothing more.
    assert desk.worker().run_once().delivered == 0
    assert len(smtp.messages) == 1

    # The unsubscribe link: GET asks, POST with CSRF does it; the next reply is not queued.
    page = client.get(unsubscribe)
    assert page.status_code == 200 and "Stop the emails" in page.get_data(as_text=True)
    assert client.post(unsubscribe, data={}).status_code == 400  # no CSRF token: refused, nothing changes
    done = client.post(unsubscribe, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert done.status_code == 200 and "will not email you" in done.get_data(as_text=True)
    service.reply(sam, ticket.id, "One more thing.", Visibility.PUBLIC)
    assert len(_email_items(desk)) == 1
    session.close()


def test_no_email_for_notes_channels_or_people_without_address(desk, smtp) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    dana, sam = requester_with_email(session), staff(session)
    nomail = requester_with_email(session, "nomail", None)
    service = desk.factory(session).create_ticket_service()
    ticket = web_ticket(desk, session, dana)
    service.reply(sam, ticket.id, "Internal: check the butler registry.", Visibility.INTERNAL)
    service.reply(dana, ticket.id, "Any news?", Visibility.PUBLIC)  # the requester's own message
    service.reply(sam, web_ticket(desk, session, nomail).id, "Answer.", Visibility.PUBLIC)
    slack = service.file(dana, "From Slack", "hello", Source.SLACK, external={"channel": "C1"}).ticket
    service.reply(sam, slack.id, "Answer in the thread.", Visibility.PUBLIC)
    assert _email_items(desk) == []
    session.close()


def test_email_off_without_smtp_settings(make_settings, app, desk) -> None:  # type: ignore[no-untyped-def]
    desk.settings = make_settings()  # no HELPDESK_SMTP_HOST
    session = desk.session()
    dana, sam = requester_with_email(session), staff(session)
    ticket = web_ticket(desk, session, dana)
    desk.factory(session).create_ticket_service().reply(sam, ticket.id, "Answer.", Visibility.PUBLIC)
    assert _email_items(desk) == []
    session.close()


def test_refused_recipient_fails_with_reason_and_server_down_retries(desk, smtp) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    dana, sam = requester_with_email(session), staff(session)
    service = desk.factory(session).create_ticket_service()
    service.reply(sam, web_ticket(desk, session, dana).id, "Answer.", Visibility.PUBLIC)
    smtp.mailbox.refuse = "550 5.1.1 No such user here"
    stats = desk.worker().run_once()
    (item,) = _email_items(desk)
    assert stats.dead == 1 and item.status is OutboxStatus.DEAD and "550" in (item.last_error or "")

    smtp.mailbox.refuse = None
    service.reply(sam, item.ticket_id, "Second answer.", Visibility.PUBLIC)
    smtp.stop()  # the mail server is down: the item waits for another attempt
    stats = desk.worker().run_once()
    pending = [i for i in _email_items(desk) if i.status is OutboxStatus.PENDING]
    assert stats.retried == 1 and len(pending) == 1 and "Could not reach the mail server" in pending[0].last_error
    session.close()


def test_unsubscribe_tokens_are_signed() -> None:
    token = unsubscribe_token(TEST_SECRET, 42)
    assert read_unsubscribe_token(TEST_SECRET, token) == 42
    assert read_unsubscribe_token("another-secret", token) is None
    assert read_unsubscribe_token(TEST_SECRET, "43" + token[2:]) is None
    assert read_unsubscribe_token(TEST_SECRET, "not-a-token") is None


def test_a_forged_unsubscribe_link_is_refused(client, db_session) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/notifications/unsubscribe/1.forged")
    assert response.status_code == 404 and "not valid" in response.get_data(as_text=True)
    assert db_session.scalars(select(Person)).all() == []


def test_the_transport_logs_in_when_configured(make_settings) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from helpdesk.channels.base import PermanentDeliveryError
    from helpdesk.channels.email import EmailTransport, reply_notification
    from tests.support.smtp import SmtpServer

    server = SmtpServer(login=("desk", "s3cret")).start()
    try:
        def transport(password: str) -> EmailTransport:
            return EmailTransport(make_settings(**server.settings(), smtp_user="desk", smtp_password=password))

        note = reply_notification(make_settings(**server.settings()), TEST_SECRET, item_id=1, ticket_id=2,
                                  subject="Q", requester_id=3, requester_name="Dana", to="dana@example.org",
                                  agent="sam", body="Answer")
        assert transport("s3cret").send(note) == note.message_id
        assert [m["Message-ID"] for m in server.messages] == [note.message_id]
        assert server.mailbox.authenticated == [True]
        with pytest.raises(PermanentDeliveryError, match="not configured"):
            EmailTransport(make_settings())
    finally:
        server.stop()
