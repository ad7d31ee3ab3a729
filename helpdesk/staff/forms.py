"""Staff console forms: shape checks only; the ticket and assignment services enforce the rules."""

from __future__ import annotations

from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.forms import HelpdeskForm
from helpdesk.tickets.forms import UpdateForm


class StaffUpdateForm(UpdateForm):
    """The ticket form of the console; administrators may also override a queue's limit per person."""

    override_limit = BooleanField("Override the queue's limit per person (administrators; audited)",
                                  validators=[Optional()])


class AssignForm(HelpdeskForm):
    """One-click assignment: ``me``, ``auto`` (whoever has room, by HELPDESK_ASSIGNMENT) or a staff login."""

    to = StringField("Assign to", validators=[DataRequired(), Length(max=100)])
    override_limit = BooleanField("Override the limit", validators=[Optional()])


class MemberForm(HelpdeskForm):
    """Add or remove one member of one queue (administrators)."""

    queue = SelectField("Queue", validators=[DataRequired()])
    login = StringField("Staff login", validators=[DataRequired(), Length(max=100)])


class EscalateForm(HelpdeskForm):
    """Escalate the ticket's bug to the engineering tracker: the issue's title and description."""

    summary = StringField("Issue title", validators=[DataRequired(), Length(max=250)])
    description = TextAreaField("Issue description", validators=[DataRequired(), Length(max=20_000)])
