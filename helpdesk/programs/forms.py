"""Sign-up, decision and programme forms: shape checks only."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from helpdesk.forms import HelpdeskForm
from helpdesk.programs.models import SelectionMode
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, SEATS_MAX, SEED_MAX


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SignupForm(HelpdeskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Work e-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)])
    institution = StringField("Institution", validators=[DataRequired(), Length(max=200)])
    data_rights = BooleanField("I hold Rubin Observatory data rights (through my institution or the in-kind programme)")
    program = SelectField("Programme", validators=[DataRequired()])
    #: Only for lottery programmes with groups; validated against the programme by the service.
    group = SelectField("Group (for the weighted draw)", validators=[Optional()], validate_choice=False)


class DecisionForm(HelpdeskForm):
    action = HiddenField(validators=[DataRequired()])
    note = TextAreaField("Reason", validators=[Optional(), Length(max=2000)])
    checks = MultiCheckboxField("Data-rights checklist",
                                choices=[SelectChoice(k, label) for k, label in DATA_RIGHTS_CHECKS])
    pool = SelectField("Reserved pool", validators=[Optional()], validate_choice=False)
    #: A decline is shown to a confirmation page first; the page sends this back set.
    confirm = HiddenField()


class BulkDecisionForm(HelpdeskForm):
    ids = SelectMultipleField("Applications", coerce=int, validate_choice=False)
    checked = BooleanField("I have checked every item of the data-rights checklist for each selected application")


class ProgrammeForm(HelpdeskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    cap = IntegerField("Cap (seats in all, held or active)", validators=[DataRequired(message="Give the cap."),
                                                                         NumberRange(0, SEATS_MAX)])
    selection = SelectField("Selection", choices=[SelectChoice(SelectionMode.FCFS.value, "First come, first served"),
                                                  SelectChoice(SelectionMode.LOTTERY.value,
                                                               "Weighted lottery, drawn by staff")])
    opens_at = DateTimeLocalField("Applications open (UTC; empty: already open)", validators=[Optional()],
                                  format="%Y-%m-%dT%H:%M")
    closes_at = DateTimeLocalField("Applications close (UTC; empty: no closing time)", validators=[Optional()],
                                   format="%Y-%m-%dT%H:%M")
    groups = TextAreaField("Lottery groups, one per line: key = weight (the first is the default)",
                           validators=[Optional(), Length(max=4000)])
    pools = TextAreaField("Reserved pools, one per line: slug | name | seats",
                          validators=[Optional(), Length(max=4000)])


class DrawForm(HelpdeskForm):
    seed = IntegerField("Seed (empty: a random one, recorded)", validators=[Optional(), NumberRange(0, SEED_MAX)])
