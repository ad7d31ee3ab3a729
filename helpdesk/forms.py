"""The base of every HTML form: the text policy of :mod:`helpdesk.text`, applied to every field once."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm

from helpdesk.text import has_unstorable

UNSTORABLE_MESSAGE = ("This contains a character that cannot be stored (a NUL character or an unpaired "
                      "surrogate); remove it and send again.")


class HelpdeskForm(FlaskForm):
    """A Flask-WTF form (CSRF included) that refuses unstorable characters in any field, shown on the field."""

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and has_unstorable(field.data):
                field.errors = [*field.errors, UNSTORABLE_MESSAGE]
                valid = False
        return valid
