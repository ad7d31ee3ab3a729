"""Ticket forms: shape checks only; the service enforces the rules."""

from __future__ import annotations

from flask_wtf.file import MultipleFileField
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.forms import HelpdeskForm
from helpdesk.tickets.models import Priority, Status, Visibility
from helpdesk.tickets.services import BODY_MAX, SUBJECT_MAX


class TicketForm(HelpdeskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=SUBJECT_MAX)])
    body = TextAreaField("Your question", validators=[DataRequired(), Length(max=BODY_MAX)])
    page = HiddenField(validators=[Optional(), Length(max=500)])
    #: Checked by the ticket service (helpdesk.tickets.attachments), not here: one set of rules for every entry.
    attachments = MultipleFileField("Attach files (optional)")


class ReplyForm(HelpdeskForm):
    body = TextAreaField("Reply", validators=[DataRequired(), Length(max=BODY_MAX)])
    visibility = RadioField(
        "Visibility",
        choices=[SelectChoice(Visibility.PUBLIC.value, "Public reply (sent to the requester)"),
                 SelectChoice(Visibility.INTERNAL.value, "Internal note (staff only)")],
        default=Visibility.PUBLIC.value,
    )


class UpdateForm(HelpdeskForm):
    queue = SelectField("Queue", validators=[Optional()])
    status = SelectField("Status", choices=[SelectChoice(s.value, s.value.replace("_", " ")) for s in Status])
    priority = SelectField("Priority", choices=[SelectChoice(p.value) for p in Priority])
    assignee = SelectField("Assignee", validators=[Optional()])


class SortForm(HelpdeskForm):
    """The triage view's one question: which queue (a slug; the service checks it exists)."""

    queue = StringField("Queue", validators=[DataRequired(), Length(max=64)])
