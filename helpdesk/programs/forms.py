"""Sign-up and roster forms: shape checks only."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from helpdesk.forms import HelpdeskForm


class SignupForm(HelpdeskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Work e-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)])
    institution = StringField("Institution", validators=[DataRequired(), Length(max=200)])
    data_rights = BooleanField("I hold Rubin Observatory data rights (through my institution or the in-kind programme)")
    program = SelectField("Programme", validators=[DataRequired()])


class DecisionForm(HelpdeskForm):
    action = HiddenField(validators=[DataRequired()])
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])
