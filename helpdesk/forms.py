"""The base of every HTML form: the text policy of :mod:`helpdesk.text`, applied to every field once."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm

from helpdesk.text import has_unstorable

UNSTORABLE_MESSAGE = ("This contains a character that cannot be stored (a NUL character or an unpaired "
                      "surrogate); remove it and send again.")


class HelpdeskForm(FlaskForm):
    """A Flask-WTF form (CSRF included) that refuses unstorable characters in any field, shown on the field.

    A field with errors renders with ``aria-invalid="true"`` and names its errors (``<id>-error``, the
    container of ``_form_errors.html``'s ``field_errors``) in ``aria-describedby``, kept beside any help text.
    """

    class Meta(FlaskForm.Meta):
        def render_field(self, field: Any, render_kw: dict[str, Any]) -> Any:
            if field.errors:
                render_kw = {**render_kw, "aria-invalid": "true"}
                error_id = f"{field.id}-error"
                described = str(render_kw.get("aria-describedby") or render_kw.get("aria_describedby") or "")
                render_kw.pop("aria_describedby", None)
                if error_id not in described.split():
                    render_kw["aria-describedby"] = f"{described} {error_id}".strip()
            return super().render_field(field, render_kw)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and has_unstorable(field.data):
                field.errors = [*field.errors, UNSTORABLE_MESSAGE]
                valid = False
        return valid
