"""Canned replies (macros): staff create them and edit their own; administrators share them and edit shared ones.

Registered on the staff blueprint. The ticket page offers the shared macros and the viewer's own, with the
placeholders of :data:`helpdesk.tickets.workspace.PLACEHOLDERS` filled in.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.exceptions import HelpdeskError
from helpdesk.forms import HelpdeskForm
from helpdesk.staff.routes import bp
from helpdesk.tickets.workspace import MACRO_BODY_MAX, MACRO_TITLE_MAX, PLACEHOLDERS, MacroService
from helpdesk.web import current_user, get_factory, staff_required


class MacroForm(HelpdeskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=MACRO_TITLE_MAX)])
    body = TextAreaField("Text", validators=[DataRequired(), Length(max=MACRO_BODY_MAX)])
    shared = BooleanField("Shared with all staff (administrators)", validators=[Optional()])


def _service() -> MacroService:
    factory = get_factory()
    return MacroService(factory.session, factory.clock)


def _page(form: MacroForm, editing: int | None = None, status: int = 200) -> tuple[str, int]:
    user = current_user()
    service = _service()
    return render_template("staff/macros.html", macros=service.visible(user), form=form, editing=editing,
                           may_edit=service.may_edit, placeholders=PLACEHOLDERS), status


@bp.get("/macros")
@staff_required
def macros() -> tuple[str, int]:
    """The macros the viewer may use, and a form for a new one."""
    return _page(MacroForm(formdata=None))


@bp.get("/macros/<int:macro_id>")
@staff_required
def macro_edit(macro_id: int) -> tuple[str, int]:
    macro = _service().get(current_user(), macro_id)
    return _page(MacroForm(formdata=None, obj=macro), editing=macro.id)


@bp.post("/macros")
@bp.post("/macros/<int:macro_id>")
@staff_required
def macro_save(macro_id: int | None = None) -> Response | tuple[str, int]:
    """Create a macro, or save changes to one (the service checks who may)."""
    form = MacroForm()
    if not form.validate_on_submit():
        return _page(form, editing=macro_id, status=400)
    try:
        macro = _service().save(current_user(), macro_id, form.title.data, form.body.data, bool(form.shared.data))
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        field_name = getattr(exc, "field", None)
        field = getattr(form, field_name, None) if field_name else None
        if field is not None:
            field.errors = [*field.errors, exc.message]
        else:
            flash(exc.message, "error")
        return _page(form, editing=macro_id, status=exc.status_code)
    flash(f"Macro “{macro.title}” saved.", "success")
    return redirect(url_for("staff.macros"))


@bp.post("/macros/<int:macro_id>/delete")
@staff_required
def macro_delete(macro_id: int) -> Response:
    # The CSRF token was checked before this view ran (helpdesk.web.csrf guards every POST).
    try:
        _service().delete(current_user(), macro_id)
    except HelpdeskError as exc:
        if exc.status_code == 404:
            raise
        flash(exc.message, "error")
    else:
        flash("Macro deleted.", "success")
    return redirect(url_for("staff.macros"))
