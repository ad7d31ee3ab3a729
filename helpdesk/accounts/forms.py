"""Sign-in form: shape checks only."""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from helpdesk.accounts.services import GITHUB_LOGIN
from helpdesk.forms import HelpdeskForm


class DevLoginForm(HelpdeskForm):
    login = StringField(
        "GitHub login",
        validators=[DataRequired(), Length(max=39),
                    Regexp(GITHUB_LOGIN, message="Letters, digits and single hyphens, as on GitHub.")],
    )
    next = HiddenField()
